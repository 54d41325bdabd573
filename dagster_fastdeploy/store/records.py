"""Deployment records: `deployments/<deployment>/<location>.json`, an append-only history of
location versions. The current version is the last entry."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

from dagster_fastdeploy.errors import InvalidNameError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def is_valid_name(name: str) -> bool:
    """A deployment or location name check_name accepts (for filtering store listings)."""
    return _NAME.fullmatch(name) is not None and ".." not in name


def check_name(kind: str, name: str) -> str:
    """Deployment and location names become store keys: refuse anything that could escape."""
    if not _NAME.fullmatch(name) or ".." in name:
        raise InvalidNameError(
            f"invalid {kind} name {name!r}: use letters, digits, '_', '-' and '.', starting with a "
            "letter or digit (no '/', no '..', at most 100 characters)"
        )
    return name


@dataclass
class VersionEntry:
    version: int
    pex_tag: str
    manifest: dict[str, Any]
    deployed_at: str
    deployed_by: dict[str, Any] = field(default_factory=dict)
    rollback_of: int | None = None


_ENTRY_FIELDS = fields(VersionEntry)


def deployed_now() -> str:
    """A version entry's `deployed_at`: UTC, ISO 8601, whole seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def rollback_entry(
    version: int, restored: VersionEntry, deployed_by: dict[str, Any]
) -> VersionEntry:
    """Version `version` of a location, serving the code of the earlier version `restored`
    (history is append-only: a rollback is a new version whose `rollback_of` names the old)."""
    return VersionEntry(
        version=version,
        pex_tag=restored.pex_tag,
        manifest=restored.manifest,
        deployed_at=deployed_now(),
        deployed_by=deployed_by,
        rollback_of=restored.version,
    )


@dataclass
class DeploymentRecord:
    deployment: str
    location: str
    history: list[VersionEntry] = field(default_factory=list)

    @property
    def current(self) -> VersionEntry | None:
        return self.history[-1] if self.history else None

    @property
    def next_version(self) -> int:
        return (self.history[-1].version + 1) if self.history else 1

    def find(self, version: int) -> VersionEntry | None:
        return next((e for e in self.history if e.version == version), None)

    def to_dict(self) -> dict[str, Any]:
        current = self.current
        return {
            "deployment": self.deployment,
            "location": self.location,
            "current_version": current.version if current else None,
            # field by field, not dataclasses.asdict: that deep-copies every manifest of a long
            # history on each deploy, and the result is only ever serialized
            "history": [{f.name: getattr(e, f.name) for f in _ENTRY_FIELDS} for e in self.history],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeploymentRecord:
        return cls(
            deployment=data["deployment"],
            location=data["location"],
            history=[VersionEntry(**e) for e in data.get("history", [])],
        )
