"""`dagster-fastdeploy dev`: a whole local Dagster on PEX code locations, in one command.

It starts a warm host on the local file store, deploys the project, then runs what `dagster dev`
runs (dagster-webserver and dagster-daemon, see dev_dagster.py) on the host's stable endpoints,
and deploys every saved change, printing one line per deploy with its timing and the
definitions added or removed. A version that fails is reported with the user's file and line;
the UI shows it on the location when nothing else serves there. Ctrl-C (or SIGTERM/SIGHUP)
stops everything it started, with nothing left running. At a dagster_cloud.yaml of several
locations it serves them all, and deploys a save to the locations whose files it touched.

Builds go under `<data-dir>/builds/<location>/` (never into the project), and only the files
of the newest build are kept there: the store holds every version's blobs.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from dagster_fastdeploy.actions.dev_processes import child_process, wait_for
from dagster_fastdeploy.actions.dev_report import definition_names, describe_changes
from dagster_fastdeploy.errors import FastDeployError
from dagster_fastdeploy.host_api import DEFINITION_KINDS, LocationStatus, VersionState

if TYPE_CHECKING:
    from dagster_fastdeploy.config import ProjectConfig

# Files whose change is not a change of the project (our own outputs, caches, editors' scratch).
IGNORED_DIRS = {
    "dist",
    ".dagster-fastdeploy",
    ".git",
    "__pycache__",
    ".venv",
    "venv",
    ".tox",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "node_modules",
}
IGNORED_SUFFIXES = (".pyc", ".swp", ".swx", "~", ".tmp")
DEV_CONTROL_PORT = 4280  # beside a `serve` on the default port 4270

__all__ = ["DEFINITION_KINDS", "DevOptions", "definition_names", "describe_changes", "run_dev"]


@dataclass
class DevOptions:
    project_dir: Path
    store_url: str
    data_dir: Path
    deployment: str = "dev"
    host_port: int = DEV_CONTROL_PORT
    location_ports: str = "4400-4499"
    ui: bool = True
    ui_port: int = 3000
    standby: bool = True
    dagster_home: Path | None = None  # default: $DAGSTER_HOME, else <data_dir>/dagster_home
    endpoint_url: str | None = None  # an S3-compatible server for an s3:// store


def is_project_change(path: str) -> bool:
    parts = Path(path).parts
    return not any(p in IGNORED_DIRS for p in parts) and not path.endswith(IGNORED_SUFFIXES)


def keep_only(out_dir: Path, names: set[str]) -> None:
    """Delete the PEX files of older builds from a dev build dir (the store has them)."""
    for path in out_dir.glob("*.pex"):
        if path.name not in names:
            path.unlink(missing_ok=True)


class ProjectWatch:
    """Watches a project directory on a thread from its creation on; `next_batch` waits for the
    next saved changes (everything saved since the last call is one batch)."""

    def __init__(self, project_dir: Path):
        import queue
        import threading

        self._batches: queue.Queue[set[Path] | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, args=(project_dir,), name="watch", daemon=True
        )
        self._thread.start()

    def _watch(self, project_dir: Path) -> None:
        import watchfiles

        for changes in watchfiles.watch(
            project_dir,
            watch_filter=lambda _change, path: is_project_change(path),
            debounce=50,
            step=20,
            stop_event=self._stop,
            raise_interrupt=False,
        ):
            self._batches.put({Path(path) for _change, path in changes})
        self._batches.put(None)

    def next_batch(self) -> set[Path] | None:
        """Block until something changed (the paths saved since the last call), or the watch
        ended (None)."""
        import queue

        while True:
            try:  # (a timeout keeps Ctrl-C and SIGTERM responsive)
                batch = self._batches.get(timeout=0.5)
                break
            except queue.Empty:
                continue
        while batch is not None:
            try:
                more = self._batches.get_nowait()
            except queue.Empty:
                break
            batch = None if more is None else batch | more
        return batch

    def stop(self) -> None:
        self._stop.set()


class DevLoop:
    """One code location in a dev session (a dagster_cloud.yaml of several has one each; the
    first one's `run` owns the host, the watch and the UI for all of them)."""

    def __init__(
        self,
        options: DevOptions,
        echo: Callable[[str], None],
        project: ProjectConfig | None = None,
        progress: Callable[[], AbstractContextManager[Any]] | None = None,
    ):
        from dagster_fastdeploy.config import load_project
        from dagster_fastdeploy.store import open_store

        self.options = options
        self.echo = echo
        # a deploy's steps as they happen: commands.progress.step_progress (say, upload_bar)
        self.progress = progress
        self.project = project or load_project(options.project_dir)
        self.location = self.project.location_name
        self.sources = _source_dirs(self.project)
        self.store = open_store(options.store_url, endpoint_url=options.endpoint_url)
        self.server = f"127.0.0.1:{options.host_port}"
        self.known: dict[str, set[str]] = {k: set() for k in DEFINITION_KINDS}
        self.serving_version: int | None = None
        options.data_dir.mkdir(parents=True, exist_ok=True)
        self.builds = options.data_dir / "builds" / self.location
        self._watch: ProjectWatch | None = None

    def host_args(self, locations: list[str]) -> list[str]:
        """`serve` for this session: only its own `locations`, not others an earlier session
        left recorded in the same store and deployment."""
        o = self.options
        args = [
            sys.executable, "-m", "dagster_fastdeploy.cli", "serve",
            "--store", o.store_url,
            "--deployment", o.deployment,
            "--data-dir", str(o.data_dir),
            "--port", str(o.host_port),
            "--location-ports", o.location_ports,
            "--locations", ",".join(locations),
        ]  # fmt: skip
        if o.endpoint_url:
            args += ["--endpoint-url", o.endpoint_url]
        return args + ([] if o.standby else ["--no-standby"])

    def host_healthy(self) -> bool:
        from dagster_fastdeploy.runtime.control_client import ControlClient

        with ControlClient(self.server) as client:
            client.health()
        return True

    def status_entry(self) -> LocationStatus | None:
        from dagster_fastdeploy.runtime.control_client import ControlClient

        with ControlClient(self.server) as client:
            return client.status().location(self.location)

    def deploy(self) -> LocationStatus | None:
        """Deploy the project as it is now and print one line. A failure is printed, not
        raised: the host keeps serving the version it had, if any."""
        import time

        from dagster_fastdeploy.actions.deploy import deploy_project

        start = time.perf_counter()
        try:
            with self.progress() if self.progress else nullcontext() as steps:
                result = deploy_project(
                    self.project.root,
                    self.store,
                    deployment=self.options.deployment,
                    location=self.location,
                    server=self.server,
                    out_dir=self.builds,
                    config=self.project,
                    progress=steps.say if steps else None,
                    progress_for=steps.upload_bar if steps else None,
                )
        except FastDeployError as e:
            self.echo(f"✗ {self.location}: {e}")
            return None
        finally:
            if self.builds.is_dir():
                keep_only(self.builds, self._newest_build())
        seconds = time.perf_counter() - start
        rollout = result.rollout
        steps = ", ".join(
            f"{k} {v:.2f}" for k, v in result.seconds.items() if k not in ("total", "connect")
        )
        if rollout is None or rollout.state is not VersionState.SERVING:
            self.echo(self._failure(result.version, seconds, rollout))
            return rollout
        self.serving_version = result.version
        entry = self.status_entry() or rollout
        after = definition_names(entry.definitions)
        changes = describe_changes(self.known, after)
        self.known = after
        self.echo(
            f"✓ {self.location} v{result.version} serving in {seconds:.2f}s ({result.path} path;"
            f" {steps}): {changes}"
        )
        return entry

    def _failure(self, version: int, seconds: float, rollout: LocationStatus | None) -> str:
        serving = (rollout.serving_version if rollout else None) or self.serving_version
        if serving:
            still = f"still serving v{serving}"
        else:
            still = "nothing serves it yet: fix the error and save"
        error = rollout.error if rollout else None
        lines = [f"✗ {self.location} v{version} failed in {seconds:.2f}s; {still}."]
        if error:
            lines.append("  " + error.readable(indent="    "))
        return "\n".join(lines)

    def _newest_build(self) -> set[str]:
        import json

        manifest = self.builds / "manifest.json"
        if not manifest.exists():
            return set()
        data = json.loads(manifest.read_text())
        return {str(data.get(kind, {}).get("name")) for kind in ("deps", "source")}

    def changes(self) -> Iterator[set[Path]]:
        """The paths of each batch of saved changes (several saves while a deploy runs are one
        batch). The watch starts at the first call and lasts for the whole loop, so a save made
        while dev is still starting is not missed."""
        if self._watch is None:
            self._watch = ProjectWatch(self.options.project_dir)
        while True:
            batch = self._watch.next_batch()
            if not batch:
                return
            yield batch

    def touched_by(self, paths: set[Path]) -> bool:
        """Whether a saved path is this location's: in its project or a local path dependency,
        or the dagster_cloud.yaml that lists it."""
        return any(
            path.name == "dagster_cloud.yaml" or any(d in path.parents for d in self.sources)
            for path in paths
        )

    def write_workspace(self, endpoints: dict[str, str]) -> Path:
        """A workspace.yaml with one grpc_server entry per location's stable endpoint."""
        from dagster_fastdeploy.actions.workspace import workspace_yaml

        locations = [LocationStatus(name=name, endpoint=at) for name, at in endpoints.items()]
        path = self.options.data_dir / "workspace.yaml"
        path.write_text(workspace_yaml(locations))
        return path

    def first_endpoint(self) -> str:
        """Deploy until the location has an endpoint on the host (a version that fails to load
        has one too: it answers with the error). A project that does not build has none yet:
        wait for the next save."""
        self.deploy()
        entry = self.status_entry()
        if entry is not None and entry.endpoint:
            return entry.endpoint
        self.echo(f"watching {self.options.project_dir}: fix the error above and save")
        for _ in self.changes():
            self.deploy()
            entry = self.status_entry()
            if entry is not None and entry.endpoint:
                return entry.endpoint
        raise KeyboardInterrupt  # the watch ended: dev was told to stop

    def run(self, others: list[DevLoop] | None = None) -> None:
        """Run the session: host, first deploys, UI, then deploy on save, each saved change to
        the locations it touches (`others`: the session's other locations)."""
        from dagster_fastdeploy.actions.dev_dagster import dagster_home, dagster_services

        loops = [self, *(others or [])]
        o = self.options
        logs = o.data_dir / "dev-logs"
        logs.mkdir(exist_ok=True)
        host_log = logs / "host.log"
        with child_process(self.host_args([x.location for x in loops]), host_log) as host:
            wait_for(self.host_healthy, 60, f"the warm host on {self.server}", host, host_log)
            self.echo(f"warm host on {self.server} (store {o.store_url}, log {host_log})")
            self._watch = ProjectWatch(o.project_dir)
            endpoints = {}
            for loop in loops:
                loop._watch = self._watch
                endpoints[loop.location] = endpoint = loop.first_endpoint()
                self.echo(f"{loop.location}: Dagster gRPC endpoint {endpoint}")
            workspace = self.write_workspace(endpoints)
            services: AbstractContextManager[None] = nullcontext()
            if o.ui:
                home = dagster_home(o.dagster_home, o.data_dir)
                services = dagster_services(workspace, home, o.ui_port, logs, self.echo)
            with services:
                self.echo(f"watching {o.project_dir} for changes (Ctrl-C stops everything)")
                for changed in self.changes():
                    for loop in loops:
                        if len(loops) == 1 or loop.touched_by(changed):
                            loop.deploy()


def _source_dirs(project: ProjectConfig) -> list[Path]:
    """The directories whose files make a location: its project and its local path deps."""
    from dagster_fastdeploy.builder.requirements import collect

    try:
        local = collect(project, Path(sys.executable)).local_projects
    except FastDeployError:
        local = []  # the deploy will say what is wrong
    return [project.root, *local]


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # so that `kill` stops everything, as Ctrl-C does


def run_dev(
    options: DevOptions,
    echo: Callable[[str], None],
    progress: Callable[[], AbstractContextManager[Any]] | None = None,
) -> None:
    from dagster_fastdeploy.config.locations import load_locations

    # every location of the directory's dagster_cloud.yaml (or its one project), checked first
    loop, *others = [
        DevLoop(options, echo, project, progress) for project in load_locations(options.project_dir)
    ]
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    with suppress(KeyboardInterrupt):
        loop.run(others)
    echo("stopped: host, code servers, webserver and daemon")
