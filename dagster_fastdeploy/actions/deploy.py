"""`deploy`: build a project, put what the store lacks, append a version to the location's
deployment record, and optionally tell a warm host to serve it.

Order matters: deps blob, then source blob (each: the chunks the store lacks, then its
recipe), then the deps index, then the record. A record therefore never names a blob that is
not fully stored, and a deploy interrupted anywhere before the record leaves the current version
as it was; the next deploy uploads what is still missing.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from dagster_fastdeploy.host_api import (
    DEFAULT_ROLLOUT_TIMEOUT,
    DeployResult,
    LoadError,
    LocationStatus,
    VersionState,
)
from dagster_fastdeploy.store.base import Progress, Store
from dagster_fastdeploy.store.records import VersionEntry, check_name, deployed_now

if TYPE_CHECKING:
    from dagster_fastdeploy.config import ProjectConfig

__all__ = ["DeployResult", "deploy_project"]

T = TypeVar("T")

# Called with (blob name, size in bytes) before an upload; may return a progress callback.
UploadProgress = Callable[[str, int], "Progress | None"]


class _Clock:
    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.seconds[step] = round(now - self.last, 3)
        self.last = now

    def total(self) -> dict[str, float]:
        self.seconds["total"] = round(time.perf_counter() - self.start, 3)
        return self.seconds


def _remembering(store: Store) -> Callable[[str], Any]:
    """The build's known_deps callback, remembering the store's answers."""
    answers: dict[str, Any] = {}

    def known_deps(key: str) -> Any:
        if key not in answers:
            answers[key] = store.get_deps_index(key)
        return answers[key]

    return known_deps


def _in_background(fn: Callable[[Path], T], arg: Path) -> Callable[[], T]:
    """Start `fn(arg)` in a thread; the returned function waits for its result (or raises
    its error)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = fn(arg)
        except BaseException as e:  # noqa: BLE001 (raised again in the caller's thread)
            outcome["error"] = e

    thread = threading.Thread(target=run, name="deploy-provenance", daemon=True)
    thread.start()

    def result() -> T:
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]  # type: ignore[no-any-return]

    return result


def roll_out_recorded(
    server: str, location: str, version: int, token: str | None, timeout: float
) -> LocationStatus:
    """Ask the host to serve a version just recorded. A host that cannot be reached is an
    answer too (state `unreachable`, the error said): the version is recorded either way, so
    the caller reports what it recorded rather than losing it in a traceback."""
    from dagster_fastdeploy.errors import HostError
    from dagster_fastdeploy.runtime.control_client import roll_out

    try:
        return roll_out(server, location, version, token, timeout)
    except HostError as e:
        return LocationStatus(
            name=location,
            version=version,
            state=VersionState.UNREACHABLE,
            error=LoadError(message=str(e), type=type(e).__name__),
        )


def _upload(
    store: Store, name: str, path: Path, progress_for: UploadProgress | None, verify: bool
) -> int:
    """Put one blob unless the store has it; returns the bytes sent. `progress_for` is asked
    once the store knows how many bytes it will send (only the chunks it lacks)."""
    if progress_for is None:
        return store.upload_blob(name, path, verify=verify)
    shown: list[Progress | None] = []

    def progress(done: int, total: int) -> None:
        if not shown:
            shown.append(progress_for(name, total))
        if shown[0] is not None:
            shown[0](done, total)

    return store.upload_blob(name, path, progress=progress, verify=verify)


def _telling(say: Callable[[str], None], progress_for: UploadProgress | None) -> UploadProgress:
    """An upload progress callback that first says how much will be sent."""

    def progress_for_blob(name: str, size: int) -> Progress | None:
        if size:
            say(f"Uploading {name[:24]}… ({size / 1e6:.1f} MB to send)")
        return progress_for(name, size) if progress_for else None

    return progress_for_blob


def deploy_project(
    project_dir: Path,
    store: Store,
    deployment: str = "prod",
    location: str | None = None,
    server: str | None = None,
    token: str | None = None,
    progress_for: UploadProgress | None = None,
    rollout_timeout: float = DEFAULT_ROLLOUT_TIMEOUT,
    out_dir: Path | None = None,
    verify: bool = False,
    config: ProjectConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> DeployResult:
    """Deploy `project_dir` as a new version of its code location (see the module docstring).
    With `server`, the host's answer is in `.rollout`; a failed rollout is returned, not
    raised (the record is written; the host keeps serving the version it had). The build goes
    to `out_dir` (default: the project's dist/fastdeploy). With `verify`, blobs the store
    already has are read back and checked, and damaged chunks replaced. `config` is the project
    already read (one location of a dagster_cloud.yaml, see deploy_locations.py). `progress`
    is told each step as it starts (building, uploading, and the host's rollout steps)."""
    from dagster_fastdeploy.actions.provenance import deployed_by
    from dagster_fastdeploy.builder import build_project, deps_index_entry
    from dagster_fastdeploy.config import load_project

    say = progress or (lambda _: None)
    clock = _Clock()
    check_name("deployment", deployment)
    project = config or load_project(project_dir)
    location = check_name("location", location or project.location_name)
    who = _in_background(deployed_by, project.root)  # git runs while the build does
    previous = store.read_record(deployment, location)  # also proves the store answers
    clock.lap("connect")

    known_deps = _remembering(store)
    say(f"Building {location}")
    result = build_project(
        project.root, out_dir=out_dir, known_deps=known_deps, config=project, progress=say
    )
    manifest = result.manifest
    deps, source = manifest.deps, manifest.source
    if result.deps_path is None and not store.blob_complete(deps.name, verify=verify):
        # the store's deps index names a deps.pex the store no longer has whole (gc, or a
        # damaged chunk a host moved aside): build it here, so the upload puts back what is gone
        result = build_project(project.root, out_dir=out_dir, config=project, progress=say)
        manifest = result.manifest
        deps, source = manifest.deps, manifest.source
    clock.lap("build")

    uploaded: list[str] = []
    sent = 0
    for name, path in [(deps.name, result.deps_path), (source.name, result.source_path)]:
        if path is None:
            continue
        telling = _telling(say, progress_for) if progress else progress_for
        size = _upload(store, name, Path(path), telling, verify)
        if size:
            uploaded.append(name)
            sent += size
    # the deps index lets the next build anywhere skip deps; asked once, written when missing
    known = known_deps(manifest.deps_hash) or {}
    if known.get("deps", {}).get("name") != deps.name:
        entry = deps_index_entry(result)
        for key in (manifest.deps_hash, f"locked-{manifest.deps_locked_hash}"):
            store.put_deps_index(key, entry)
    clock.lap("upload")

    manifest_data = manifest.to_dict()
    manifest_data["location"] = location

    def make_entry(version: int) -> VersionEntry:
        return VersionEntry(
            version=version,
            pex_tag=manifest.pex_tag,
            manifest=manifest_data,
            deployed_at=deployed_now(),
            deployed_by=who(),
        )

    entry_written = store.append_version(deployment, location, make_entry).history[-1]
    clock.lap("record")

    rollout = None
    if server:
        done = threading.Event()
        watcher = None
        if progress is not None:
            from dagster_fastdeploy.actions.rollout_progress import watch_rollout

            args = (server, location, entry_written.version, token, say, done)
            watcher = threading.Thread(target=watch_rollout, args=args, daemon=True)
            watcher.start()
        try:
            rollout = roll_out_recorded(
                server, location, entry_written.version, token, rollout_timeout
            )
        finally:
            done.set()
            if watcher is not None:
                watcher.join()
        clock.lap("rollout")

    deps_moved = result.deps_built or deps.name in uploaded
    return DeployResult(
        location=location,
        deployment=deployment,
        version=entry_written.version,
        previous_version=previous.current.version if previous and previous.current else None,
        path="full" if deps_moved else "fast",
        uploaded=uploaded,
        bytes_uploaded=sent,
        deps_bytes=deps.size,
        pex_tag=manifest.pex_tag,
        seconds=clock.total(),
        store=store.url,
        deps_built=bool(result.deps_built),
        rollout=rollout,
        build_steps={k: round(v, 4) for k, v in result.seconds.items()},
    )
