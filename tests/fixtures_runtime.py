"""Session fixtures for the runtime tests: PEX artifacts of example_project (deps.pex built once
per session cache), a file store to publish versions into, and real `dagster-fastdeploy serve`
processes on free loopback ports."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

VENV_BIN = Path(sys.executable).parent
PYTHON = "3.11"
DEPS_112 = ["dagster==1.12.*"]
OTHER_PYTHON = "3.12"  # the dagster 1.12 location also runs on another Python than the host


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_deps_pex(requirements: list[str], out: Path, python: str = PYTHON) -> Path:
    """A deps.pex with `requirements`, kept in the session cache (built once per cache)."""
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    subprocess.run(
        [
            str(VENV_BIN / "pex"),
            *requirements,
            "--resolver-version",
            "pip-2020-resolver",
            "--python",
            find_python(python),
            "-o",
            str(tmp),
        ],
        check=True,
    )
    tmp.replace(out)
    return out


def find_python(version: str) -> str:
    from dagster_fastdeploy.builder.interpreters import find_python as find_interpreter
    from dagster_fastdeploy.errors import ConfigError

    try:
        return str(find_interpreter(version))
    except ConfigError as e:
        pytest.skip(f"no python{version} on this machine: {e}")


def build_source_pex(project_dir: Path, package_dir: Path, out: Path) -> Path:
    """source.pex in the Dagster+ Serverless layout: the package at the top level, the project
    directory under working_directory/root."""
    staging = out.with_name(f"{out.stem}-staging")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(package_dir, staging / package_dir.name)
    shutil.copytree(
        project_dir,
        staging / "working_directory" / "root",
        ignore=shutil.ignore_patterns("__pycache__", "*.pex"),
    )
    subprocess.run([str(VENV_BIN / "pex"), "-D", str(staging), "-o", str(out)], check=True)
    shutil.rmtree(staging)
    return out


def publish(
    store: Any,
    deployment: str,
    location: str,
    deps_pex: Path,
    source_pex: Path,
    target: dict[str, Any],
    dagster_version: str | None = None,
    python: str = PYTHON,
    host_group: str | None = None,
) -> Any:
    """Put both PEX files into the store and record them as the location's next version."""
    from dagster_fastdeploy.manifest import Artifact, CodeTarget, Manifest
    from dagster_fastdeploy.store.records import VersionEntry

    artifacts = {}
    for kind, path in (("deps", deps_pex), ("source", source_pex)):
        digest = sha256_of(path)
        name = Artifact.name_for(kind, digest)
        store.put_blob(name, path)
        artifacts[kind] = Artifact(name=name, sha256=digest, size=path.stat().st_size)
    manifest = Manifest(
        location=location,
        target=CodeTarget(**target),
        python=python,
        platforms=[],
        deps_hash=artifacts["deps"].sha256,
        deps_locked_hash=artifacts["deps"].sha256,
        deps=artifacts["deps"],
        source=artifacts["source"],
        dagster_version=dagster_version,
        host_group=host_group,
    )
    record = store.append_version(
        deployment,
        location,
        lambda n: VersionEntry(
            version=n,
            pex_tag=manifest.pex_tag,
            manifest=manifest.to_dict(),
            deployed_at=datetime.now(timezone.utc).isoformat(),
            deployed_by={"test": True},
        ),
    )
    return record.current


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_range(size: int) -> tuple[int, int]:
    """`size` consecutive loopback ports that are free now."""
    for _ in range(200):
        low = random.randint(20000, 40000)
        ok = True
        for port in range(low, low + size):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return low, low + size - 1
    raise RuntimeError("no free port range")


@dataclass
class HostProcess:
    """A real `dagster-fastdeploy serve` in a subprocess."""

    store_url: str
    data_dir: Path
    port: int
    location_ports: tuple[int, int]
    log_path: Path
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        low, high = self.location_ports
        return [
            str(VENV_BIN / "dagster-fastdeploy"), "serve",
            "--store", self.store_url,
            "--data-dir", str(self.data_dir),
            "--port", str(self.port),
            "--location-ports", f"{low}-{high}",
            "--reconcile-interval", "1",
            *self.extra_args,
        ]  # fmt: skip

    def start(self, wait: bool = True) -> HostProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env}
        )
        log.close()
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 60.0) -> Any:
        from dagster_fastdeploy.errors import HostError
        from dagster_fastdeploy.runtime.control_client import ControlClient

        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"host exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                with ControlClient(
                    self.address, token=self.env.get("DAGSTER_FASTDEPLOY_TOKEN")
                ) as c:
                    return c.health()
            except HostError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def client(self) -> Any:
        from dagster_fastdeploy.runtime.control_client import ControlClient

        return ControlClient(self.address, token=self.env.get("DAGSTER_FASTDEPLOY_TOKEN"))

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    events.append(json.loads(line))
        return events


@pytest.fixture(scope="session")
def runtime_artifacts_dir(shared_caches: Path) -> Path:
    path = shared_caches / "runtime_artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def deps_pex_112(runtime_artifacts_dir: Path) -> Path:
    return build_deps_pex(
        DEPS_112, runtime_artifacts_dir / f"deps-dagster-1.12-py{OTHER_PYTHON}.pex", OTHER_PYTHON
    )


@pytest.fixture(scope="session")
def host_data_dir(tmp_path_factory: pytest.TempPathFactory, shared_caches: Path) -> Path:
    """One data dir for the session's hosts, so a deps venv is materialized once."""
    return tmp_path_factory.mktemp("host-data")


class ProjectCopy:
    """A copy of example_project that a test edits, builds (build_project: deps.pex comes from
    the session's build cache after the first build) and publishes to a store."""

    def __init__(self, root: Path):
        self.root = root
        self.package = root / "src" / "example_project"
        self._builds = 0

    def build(self) -> Any:
        from dagster_fastdeploy.builder import build_project

        self._builds += 1
        return build_project(self.root, out_dir=self.root.parent / f"build-{self._builds}")

    def publish(
        self, store: Any, location: str = "example_project", deployment: str = "prod"
    ) -> Any:
        """Build this copy as it is now and record it as `location`'s next version."""
        result = self.build()
        assert result.deps_path is not None
        manifest = result.manifest
        return publish(
            store, deployment, location, result.deps_path, result.source_path,
            target=vars(manifest.target), dagster_version=manifest.dagster_version,
            host_group=manifest.host_group,
            python=manifest.python,  # the Python it was built for: the tests' own
        )  # fmt: skip

    def add_asset(self, name: str) -> None:
        """Define one more asset in definitions.py (an edit a user would make)."""
        defs = self.package / "definitions.py"
        defs.write_text(
            defs.read_text()
            + f"""

@dg.asset(group_name="added")
def {name}() -> int:
    return 1


defs = dg.Definitions(
    assets=[*defs.assets, {name}],
    asset_checks=defs.asset_checks,
    jobs=defs.jobs,
    schedules=defs.schedules,
    sensors=defs.sensors,
    resources=defs.resources,
)
"""
        )

    def break_syntax(self, line_text: str = "def broken(:\n") -> int:
        """Append a syntax error to assets.py; returns its line number."""
        assets = self.package / "assets.py"
        lines = assets.read_text().splitlines(keepends=True)
        lines.append("\n")
        lines.append(line_text)
        assets.write_text("".join(lines))
        return len(lines)


@pytest.fixture
def project_copy(tmp_path: Path, example_project_dir: Path) -> ProjectCopy:
    root = tmp_path / "example_project"
    shutil.copytree(example_project_dir, root, ignore=shutil.ignore_patterns("__pycache__"))
    return ProjectCopy(root)


EXAMPLE_TARGET = {"module_name": "example_project.definitions", "attribute": "defs"}


@pytest.fixture
def file_store(tmp_path: Path) -> Any:
    from dagster_fastdeploy.store import open_store

    return open_store((tmp_path / "store").as_uri())


HOST_LOG_TAIL = 80  # lines of each host's log shown under a failed test


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    """A failed test that started hosts shows the end of each host's log in its report, so a
    failure seen once (CI) says what the host did."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for host in getattr(item, "started_hosts", []):
            try:
                lines = host.log_path.read_text(errors="replace").splitlines()
            except OSError as e:
                lines = [f"(unreadable: {e})"]
            report.sections.append(
                (
                    f"{host.log_path.name} (last {HOST_LOG_TAIL} lines)",
                    "\n".join(lines[-HOST_LOG_TAIL:]),
                )
            )


@pytest.fixture
def start_host(
    tmp_path: Path, host_data_dir: Path, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """start_host(store, **kw) -> a running HostProcess; every one is stopped at teardown (a
    failed test's report shows the end of each host's log)."""
    hosts: list[HostProcess] = []
    request.node.started_hosts = hosts

    def start(store: Any, wait: bool = True, **kwargs: Any) -> HostProcess:
        host = HostProcess(
            store_url=store.url,
            data_dir=kwargs.pop("data_dir", host_data_dir),
            port=kwargs.pop("port", free_port()),
            location_ports=kwargs.pop("location_ports", free_port_range(4)),
            log_path=tmp_path / f"host-{len(hosts)}.log",
            **kwargs,
        )
        hosts.append(host)
        return host.start(wait=wait)

    yield start
    for host in hosts:
        host.stop()
