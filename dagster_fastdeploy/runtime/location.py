"""One location as the host sees it: its endpoint, the version it serves, the version it was
asked for, and how each rollout went. `describe()` is the shape `status` and `deploy` report."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from dagster_fastdeploy.host_api import (
    DEFINITION_KINDS,
    LoadError,
    LocationStatus,
    VersionState,
)
from dagster_fastdeploy.runtime.endpoint import StableEndpoint
from dagster_fastdeploy.runtime.rollout import ServingVersion
from dagster_fastdeploy.store.records import VersionEntry


@dataclass
class LocationState:
    name: str
    endpoint: StableEndpoint
    serving: ServingVersion | None = None
    target: VersionEntry | None = None
    failed: dict[int, LoadError] = field(default_factory=dict)
    pending: dict[int, threading.Event] = field(default_factory=dict)
    timings: dict[int, dict[str, float]] = field(default_factory=dict)
    rollout_lock: threading.Lock = field(default_factory=threading.Lock)

    def version_state(self, version: int | None) -> VersionState:
        if version is None or version in self.pending:
            return VersionState.STARTING
        if version in self.failed:
            return VersionState.FAILED
        if self.serving is not None and self.serving.version == version:
            return VersionState.SERVING
        return VersionState.STARTING

    def describe(self, version: int | None, endpoint: str) -> LocationStatus:
        """The location as `status` shows it: `version`/`state`/`error` are those of `version`
        (default: the newest version asked for); the rest is the version serving now."""
        target = self.target
        if version is None:
            version = target.version if target else None
        pex_tag = target.pex_tag if target and target.version == version else None
        serving = self.serving
        definitions = serving.definitions if serving else {}
        return LocationStatus(
            name=self.name,
            version=version,
            pex_tag=pex_tag or (serving.pex_tag if serving else None),
            state=self.version_state(version),
            endpoint=endpoint,
            server_id=serving.process.server_id if serving else None,
            code_server_pid=serving.process.pid if serving else None,
            serving_version=serving.version if serving else None,
            error=self.failed.get(version) if version is not None else None,
            dagster_version=serving.dagster_version if serving else None,
            python_version=serving.python_version if serving else None,
            definitions={k: definitions.get(k, []) for k in DEFINITION_KINDS},
            steps=dict(self.timings.get(version, {})) if version is not None else {},
        )
