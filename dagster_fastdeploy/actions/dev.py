"""`dagster-fastdeploy dev`: the local loop in one command.

It starts a warm host on the local file store, deploys the project, starts `dagster-webserver`
loading the host's stable endpoint, then watches the project and deploys every saved change,
printing one line per deploy with its timing and the definitions added or removed. Ctrl-C stops
everything it started (the host stops its code servers), with nothing left running.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from dagster_fastdeploy.errors import FastDeployError, HostError
from dagster_fastdeploy.host_api import DEFINITION_KINDS, LocationStatus, VersionState

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
DEV_CONTROL_PORT = 4280  # beside a `serve` on the default port 4270
IGNORED_SUFFIXES = (".pyc", ".swp", ".swx", "~", ".tmp")


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
    endpoint_url: str | None = None  # an S3-compatible server for an s3:// store


def definition_names(definitions: dict[str, list[Any]]) -> dict[str, set[str]]:
    """{kind: names} from a host status entry's definitions."""
    found: dict[str, set[str]] = {}
    for kind in DEFINITION_KINDS:
        names = set()
        for item in definitions.get(kind) or []:
            if isinstance(item, dict):
                names.add(str(item.get("key") or item.get("name")))
            else:
                names.add(str(item))
        found[kind] = names
    return found


def describe_changes(before: dict[str, set[str]], after: dict[str, set[str]]) -> str:
    """`+asset new_one, -job old_job`, or `no definitions changed`."""
    parts = []
    for kind in DEFINITION_KINDS:
        label = kind[:-1].replace("_", " ")
        parts += [f"+{label} {n}" for n in sorted(after.get(kind, set()) - before.get(kind, set()))]
        parts += [f"-{label} {n}" for n in sorted(before.get(kind, set()) - after.get(kind, set()))]
    return ", ".join(parts) if parts else "no definitions changed"


def is_project_change(path: str) -> bool:
    parts = Path(path).parts
    return not any(p in IGNORED_DIRS for p in parts) and not path.endswith(IGNORED_SUFFIXES)


@contextmanager
def child_process(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    """A child in its own process group, stopped (then killed) with all it started on exit."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        yield proc
    finally:
        _stop_group(proc)


def _stop_group(proc: subprocess.Popen, grace: float = 15.0) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        with suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
    with suppress(ProcessLookupError):  # whatever the group still holds (ignored SIGTERM)
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (FastDeployError, OSError):  # not answering yet
            pass
        time.sleep(0.1)
    raise HostError(f"{what} did not come up within {timeout:.0f}s")


class DevLoop:
    def __init__(self, options: DevOptions, echo: Callable[[str], None]):
        from dagster_fastdeploy.config import load_project
        from dagster_fastdeploy.store import open_store

        self.options = options
        self.echo = echo
        self.project = load_project(options.project_dir)
        self.location = self.project.location_name
        self.store = open_store(options.store_url, endpoint_url=options.endpoint_url)
        self.server = f"127.0.0.1:{options.host_port}"
        self.known: dict[str, set[str]] = {k: set() for k in DEFINITION_KINDS}
        options.data_dir.mkdir(parents=True, exist_ok=True)

    def host_args(self) -> list[str]:
        o = self.options
        args = [
            sys.executable,
            "-m",
            "dagster_fastdeploy.cli",
            "serve",
            "--store",
            o.store_url,
            "--deployment",
            o.deployment,
            "--data-dir",
            str(o.data_dir),
            "--port",
            str(o.host_port),
            "--location-ports",
            o.location_ports,
        ]
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
        """Deploy the project as it is now; print one line. A failure is printed, not raised:
        the host keeps serving the version it had."""
        from dagster_fastdeploy.actions.deploy import deploy_project

        start = time.perf_counter()
        try:
            result = deploy_project(
                self.options.project_dir,
                self.store,
                deployment=self.options.deployment,
                location=self.location,
                server=self.server,
            )
        except FastDeployError as e:
            self.echo(f"✗ {self.location}: {e}")
            return None
        seconds = time.perf_counter() - start
        rollout = result.rollout
        steps = ", ".join(
            f"{k} {v:.2f}" for k, v in result.seconds.items() if k not in ("total", "connect")
        )
        if rollout is None or rollout.state is not VersionState.SERVING:
            error = rollout.error if rollout else None
            self.echo(
                f"✗ {self.location} v{result.version} failed in {seconds:.2f}s; still serving the "
                f"previous version.\n{error.traceback or error.message if error else ''}".rstrip()
            )
            return rollout
        entry = self.status_entry() or rollout
        after = definition_names(entry.definitions)
        changes = describe_changes(self.known, after)
        self.known = after
        self.echo(
            f"✓ {self.location} v{result.version} serving in {seconds:.2f}s ({result.path} path;"
            f" {steps}): {changes}"
        )
        return entry

    def changes(self) -> Iterator[set[tuple[Any, str]]]:
        import watchfiles

        yield from watchfiles.watch(
            self.options.project_dir,
            watch_filter=lambda _change, path: is_project_change(path),
            debounce=50,
            step=20,
            raise_interrupt=False,
        )

    def write_workspace(self, endpoint: str) -> Path:
        from dagster_fastdeploy.actions.workspace import workspace_yaml

        path = self.options.data_dir / "workspace.yaml"
        path.write_text(workspace_yaml([LocationStatus(name=self.location, endpoint=endpoint)]))
        return path

    def webserver_args(self, workspace: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "dagster_webserver",
            "-w",
            str(workspace),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.options.ui_port),
        ]

    def run(self) -> None:
        o = self.options
        logs = o.data_dir / "dev-logs"
        logs.mkdir(exist_ok=True)
        with child_process(self.host_args(), logs / "host.log"):
            wait_for(self.host_healthy, 60, f"the warm host on {self.server}")
            self.echo(f"warm host on {self.server} (store {o.store_url}, log {logs / 'host.log'})")
            entry = self.deploy()
            if entry is None or not entry.endpoint:
                raise HostError(
                    f"the first version of {self.location} did not serve; fix the error above "
                    "and run `dagster-fastdeploy dev` again"
                )
            endpoint = entry.endpoint
            self.echo(f"{self.location}: Dagster gRPC endpoint {endpoint}")
            workspace = self.write_workspace(endpoint)
            with self._webserver(workspace, logs / "webserver.log"):
                self.echo(f"watching {o.project_dir} for changes (Ctrl-C stops everything)")
                for _ in self.changes():
                    self.deploy()

    @contextmanager
    def _webserver(self, workspace: Path, log: Path) -> Iterator[None]:
        o = self.options
        if not o.ui:
            yield
            return
        if importlib.util.find_spec("dagster_webserver") is None:
            self.echo(
                "dagster-webserver is not installed here: `pip install dagster-webserver` (or "
                f"`dagster-webserver -w {workspace}` from any environment) to see the UI"
            )
            yield
            return
        home = o.data_dir / "dagster_home"
        home.mkdir(exist_ok=True)
        instance_yaml = home / "dagster.yaml"
        if not instance_yaml.exists():  # a scratch instance: no first-run community dialog
            instance_yaml.write_text("nux:\n  enabled: false\n")
        env = {**os.environ, "DAGSTER_HOME": str(home)}
        with child_process(self.webserver_args(workspace), log, env=env):
            url = f"http://127.0.0.1:{o.ui_port}"
            wait_for(lambda: _http_ok(f"{url}/server_info"), 120, f"dagster-webserver at {url}")
            self.echo(f"Dagster UI: {url} (workspace {workspace})")
            yield


def _http_ok(url: str) -> bool:
    import urllib.request

    with urllib.request.urlopen(url, timeout=2) as response:
        return bool(response.status == 200)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # so that `kill` stops everything, as Ctrl-C does


def run_dev(options: DevOptions, echo: Callable[[str], None]) -> None:
    loop = DevLoop(options, echo)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    with suppress(KeyboardInterrupt):
        loop.run()
    echo("stopped: host, code servers and webserver")
