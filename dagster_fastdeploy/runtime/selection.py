"""Which locations a host serves: all of the deployment's (the default), the ones named with
`serve --locations a,b`, and/or the ones whose config says `host_group = "NAME"` for
`serve --host-group NAME`. Several hosts with the same selection serve the same locations
(replicas); disjoint selections spread locations over hosts (shards)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dagster_fastdeploy.errors import HostError
from dagster_fastdeploy.store.records import VersionEntry, check_name


@dataclass(frozen=True)
class LocationSelection:
    locations: frozenset[str] | None = None
    host_group: str | None = None

    @classmethod
    def parse(cls, locations: str | None, host_group: str | None) -> LocationSelection:
        names = None
        if locations is not None:
            names = frozenset(n.strip() for n in locations.split(",") if n.strip())
            if not names:
                raise HostError("--locations names no location: use --locations a,b")
            for name in names:
                check_name("location", name)
        if host_group is not None and not host_group.strip():
            raise HostError("--host-group is empty: name the group, or leave it out")
        return cls(names, host_group.strip() if host_group else None)

    @property
    def everything(self) -> bool:
        return self.locations is None and self.host_group is None

    def serves(self, location: str, entry: VersionEntry | None) -> bool:
        """Whether this host serves `location`, given its current recorded version."""
        if self.locations is not None and location not in self.locations:
            return False
        if self.host_group is not None:
            group = (entry.manifest or {}).get("host_group") if entry else None
            return bool(group == self.host_group)
        return True

    def check(self, location: str, entry: VersionEntry | None) -> None:
        """Refuse a Deploy/Rollback of a location this host does not serve."""
        if not self.serves(location, entry):
            raise HostError(
                f"this host does not serve {location!r} ({self.describe()}): ask a host that "
                "does (`status --store` lists them), or just record it: the hosts that serve it "
                "pick it up by themselves"
            )

    def describe(self) -> str:
        if self.everything:
            return "every location"
        parts = []
        if self.locations is not None:
            parts.append(f"--locations {','.join(sorted(self.locations))}")
        if self.host_group is not None:
            parts.append(f"--host-group {self.host_group}")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "locations": sorted(self.locations) if self.locations is not None else None,
            "host_group": self.host_group,
        }
