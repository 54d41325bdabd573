"""The contracts that cross a process: the warm host's control API messages and what `deploy`
and `rollback` report.

One set of dataclasses, shared by the host (runtime/host.py, runtime/control_server.py), its
client (runtime/control_client.py) and the commands. Each has `to_json()` giving the JSON that
goes on the wire or out of `--json` (documented in docs/serve.md and README.md: grow it, never
break it) and, where a process reads it back, `from_json()`, which ignores fields it does not know
(a newer host may send more).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

DEFINITION_KINDS = ("assets", "asset_checks", "jobs", "schedules", "sensors", "resources")
DEFAULT_CONTROL_PORT = 4270  # `serve --port`, and where `status`/`workspace` look by default
DEFAULT_CONTROL_ADDRESS = f"127.0.0.1:{DEFAULT_CONTROL_PORT}"
DEFAULT_ROLLOUT_TIMEOUT = 120.0  # seconds a Deploy or Rollback waits for the version to serve

T = TypeVar("T")


def _known_fields(cls: type[T], data: dict[str, Any]) -> T:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


def _json(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


class VersionState(str, Enum):
    """Where one version of a location is: str-valued, so it is the plain string in JSON."""

    STARTING = "starting"  # asked for, rollout under way (or not begun)
    SERVING = "serving"  # the location's endpoint forwards to it
    FAILED = "failed"  # did not load; the version before keeps serving
    UNREACHABLE = "unreachable"  # `deploy --server`: the host did not answer (version recorded)

    def __str__(self) -> str:
        return self.value


def _our_error_types() -> set[str]:
    from dagster_fastdeploy.errors import FastDeployError

    found, todo = {"CodeServerError"}, [FastDeployError]
    while todo:
        cls = todo.pop()
        found.add(cls.__name__)
        todo += cls.__subclasses__()
    return found


@dataclass
class LoadError:
    """Why a version did not serve: the user's exception, its file (the path in the user's
    project, e.g. src/my_project/assets.py), line and offending line of code (None when no user
    file is involved), and a traceback of the user's frames only; or what the host knows of a
    crash or a refusal. `materialized_file` is the copy the code server ran, `full_traceback`
    keeps every frame (Dagster's, importlib's) for a bug report."""

    message: str
    type: str | None = None
    file: str | None = None
    line: int | None = None
    traceback: str | None = None
    code: str | None = None
    materialized_file: str | None = None
    full_traceback: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any] | str) -> LoadError:
        if isinstance(data, str):
            return cls(message=data)
        return _known_fields(cls, {"message": "load failed", **data})

    @classmethod
    def from_exception(cls, e: BaseException) -> LoadError:
        return cls(message=str(e), type=type(e).__name__)

    def to_json(self) -> dict[str, Any]:
        return _json(self)

    @property
    def headline(self) -> str:
        """`src/pkg/assets.py:41: SyntaxError: invalid syntax` (file:line, as editors link it)."""
        where = f"{self.file}:{self.line}: " if self.file else ""
        # the user's exception is named as Python names it; our own messages stand alone
        ours = self.type is None or self.type in _our_error_types()
        return where + (self.message if ours else f"{self.type}: {self.message}")

    def readable(self, indent: str = "  ") -> str:
        """What a person reads: the headline, the offending line, the user's traceback."""
        lines = [self.headline]
        if self.code:
            lines.append(f"{indent}{self.code}")
        if self.traceback:
            lines += [f"{indent}{line}" for line in self.traceback.rstrip().splitlines()]
        return "\n".join(lines)


@dataclass
class LocationStatus:
    """One location as the host reports it: the answer to Deploy and Rollback (the outcome of
    the rollout) and one entry of Status. `version`, `state`, `error` and `steps` are those of
    the version asked about (default: the newest version the host was asked to serve); the rest
    describe the version the endpoint serves now (`serving_version`)."""

    name: str
    version: int | None = None
    pex_tag: str | None = None
    state: VersionState = VersionState.STARTING
    endpoint: str | None = None
    server_id: str | None = None
    code_server_pid: int | None = None
    serving_version: int | None = None
    error: LoadError | None = None
    dagster_version: str | None = None
    python_version: str | None = None
    definitions: dict[str, list[Any]] = field(default_factory=dict)
    steps: dict[str, float] = field(default_factory=dict)

    @property
    def serving(self) -> bool:
        return self.state is VersionState.SERVING

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LocationStatus:
        status = _known_fields(cls, {"name": data.get("location"), **data})
        status.state = VersionState(status.state)
        if isinstance(status.error, (dict, str)):
            status.error = LoadError.from_json(status.error)
        status.definitions = dict(status.definitions or {})
        status.steps = dict(status.steps or {})
        return status

    def to_json(self) -> dict[str, Any]:
        data = _json(self)
        data["state"] = self.state.value
        # `location` repeats `name`: the Deploy answer has always named it so
        return {"name": self.name, "location": self.name, **data}


@dataclass
class StandbyStatus:
    """One environment's warm standby process (see runtime/standby.py)."""

    environment: str
    state: str  # "ready" | "starting"
    pid: int | None
    ready_since: float | None = None
    preloaded_modules: int = 0
    handovers: int = 0
    code_servers: list[int] = field(default_factory=list)


@dataclass
class StandbyPoolStatus:
    enabled: bool
    environments: list[StandbyStatus] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> StandbyPoolStatus:
        data = data or {}
        return cls(
            enabled=bool(data.get("enabled")),
            environments=[_known_fields(StandbyStatus, e) for e in data.get("environments") or []],
        )


# -- requests ------------------------------------------------------------------------------
@dataclass
class DeployRequest:
    """Serve the location's current recorded version (or the one named: `version`, or the
    newest with `pex_tag`, which must be current) and wait up to `timeout` seconds."""

    location: str
    version: int | None = None
    pex_tag: str | None = None
    timeout: float = DEFAULT_ROLLOUT_TIMEOUT

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeployRequest:
        version = data.get("version")
        return cls(
            location=str(data["location"]),
            version=int(version) if version is not None else None,
            pex_tag=data.get("pex_tag"),
            timeout=float(data.get("timeout") or DEFAULT_ROLLOUT_TIMEOUT),
        )

    def to_json(self) -> dict[str, Any]:
        return _json(self)


@dataclass
class RollbackRequest:
    """Record `version` again as the location's newest (unless the caller did), then serve it."""

    location: str
    version: int
    timeout: float = DEFAULT_ROLLOUT_TIMEOUT

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RollbackRequest:
        return cls(
            location=str(data["location"]),
            version=int(data["version"]),
            timeout=float(data.get("timeout") or DEFAULT_ROLLOUT_TIMEOUT),
        )

    def to_json(self) -> dict[str, Any]:
        return _json(self)


@dataclass
class RemoveRequest:
    location: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RemoveRequest:
        return cls(location=str(data["location"]))

    def to_json(self) -> dict[str, Any]:
        return _json(self)


# -- answers -------------------------------------------------------------------------------
@dataclass
class StatusAnswer:
    deployment: str
    locations: list[LocationStatus]
    standby: StandbyPoolStatus

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StatusAnswer:
        return cls(
            deployment=str(data.get("deployment") or ""),
            locations=[LocationStatus.from_json(e) for e in data.get("locations") or []],
            standby=StandbyPoolStatus.from_json(data.get("standby")),
        )

    def location(self, name: str) -> LocationStatus | None:
        return next((entry for entry in self.locations if entry.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "locations": [entry.to_json() for entry in self.locations],
            "standby": _json(self.standby),
        }


@dataclass
class RemoveAnswer:
    location: str
    removed: bool

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RemoveAnswer:
        return _known_fields(cls, data)

    def to_json(self) -> dict[str, Any]:
        return _json(self)


@dataclass
class HealthAnswer:
    ok: bool
    deployment: str
    store: str
    pid: int
    version: str
    locations: int = 0
    # the host forwards Dagster's API as bytes: it never imports dagster or user code
    dagster_imported: bool = False
    serves: str = "every location"  # its --locations / --host-group (runtime/selection.py)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HealthAnswer:
        return _known_fields(cls, data)

    def to_json(self) -> dict[str, Any]:
        return _json(self)


# -- what `deploy` and `rollback` report ---------------------------------------------------
def _with_rollout(data: dict[str, Any], rollout: LocationStatus | None) -> dict[str, Any]:
    """A result's JSON, with the host's answer flattened in when the command asked a host."""
    if rollout is not None:
        data.update(
            state=rollout.state.value,
            server_id=rollout.server_id,
            endpoint=rollout.endpoint,
            error=rollout.error.to_json() if rollout.error else None,
            rollout_steps=dict(rollout.steps),
        )
    return data


@dataclass
class DeployResult:
    location: str
    deployment: str
    version: int
    previous_version: int | None
    path: str  # "fast": no deps.pex built or uploaded; "full" otherwise
    uploaded: list[str]
    bytes_uploaded: int  # bytes actually sent: only the chunks the store lacked
    deps_bytes: int  # the whole deps.pex, to compare bytes_uploaded with
    pex_tag: str
    seconds: dict[str, float]
    store: str
    deps_built: bool = False
    rollout: LocationStatus | None = field(default=None, repr=False)  # with --server
    build_steps: dict[str, float] = field(default_factory=dict)  # the build's seconds by step

    @property
    def state(self) -> VersionState | None:
        return self.rollout.state if self.rollout else None

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data.pop("rollout")
        return _with_rollout(data, self.rollout)


@dataclass
class RollbackResult:
    location: str
    deployment: str
    version: int
    rolled_back_to: int
    previous_version: int
    pex_tag: str
    seconds: dict[str, float]
    store: str
    rollout: LocationStatus | None = field(default=None, repr=False)  # with --server
    warnings: list[str] = field(default_factory=list)  # e.g. the code restored failed before

    @property
    def state(self) -> VersionState | None:
        return self.rollout.state if self.rollout else None

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data.pop("rollout")
        return _with_rollout(data, self.rollout)
