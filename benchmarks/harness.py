"""What a benchmark drives, exactly as a user would: the `dagster-fastdeploy` CLI in subprocesses,
a warm host (`serve`) process, and Dagster's own gRPC client on the stable endpoint."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.timing import wait_until

CLI = [sys.executable, "-m", "dagster_fastdeploy.cli"]


def free_port_range(size: int) -> tuple[int, int]:
    """A run of `size` free loopback ports (checked by binding each)."""
    for start in range(20000, 60000, size + 7):
        ports = range(start, start + size)
        try:
            for port in ports:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return start, start + size - 1
    raise RuntimeError("no free port range")


@dataclass
class Sandbox:
    """Everything one scenario writes: caches, store, host data, project copies."""

    root: Path
    share_caches_with: Path | None = None

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    @property
    def caches(self) -> Path:
        return self.share_caches_with or self.root / "caches"

    @property
    def store_url(self) -> str:
        return (self.root / "store").as_uri()

    @property
    def data_dir(self) -> Path:
        return self.root / "host-data"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PEX_ROOT"] = str(self.caches / "pex_root")
        env["DAGSTER_FASTDEPLOY_CACHE"] = str(self.caches / "fastdeploy")
        env["UV_CACHE_DIR"] = str(self.caches / "uv")
        env["DAGSTER_FASTDEPLOY_STORE"] = self.store_url
        return env

    def copy_project(self, project: Path, name: str) -> Path:
        dest = self.root / name
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(project, dest, ignore=shutil.ignore_patterns("dist", "__pycache__"))
        return dest

    def cli(self, *args: str, check: bool = True) -> dict[str, Any]:
        done = subprocess.run(
            [*CLI, *args, "--json"], env=self.env(), capture_output=True, text=True
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"dagster-fastdeploy {' '.join(args)} failed:\n{done.stderr[-3000:]}"
            )
        return json.loads(done.stdout) if done.stdout.strip() else {}


@dataclass
class Host:
    sandbox: Sandbox
    standby: bool = True
    process: subprocess.Popen | None = None
    port: int = 0
    location_ports: tuple[int, int] = (0, 0)
    log_path: Path = field(init=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Host:
        low, high = free_port_range(16)
        self.port, self.location_ports = low, (low + 1, high)
        self.log_path = self.sandbox.root / f"host-{self.port}.log"
        args = [
            *CLI,
            "serve",
            "--store",
            self.sandbox.store_url,
            "--data-dir",
            str(self.sandbox.data_dir),
            "--port",
            str(self.port),
            "--location-ports",
            f"{low + 1}-{high}",
        ]
        if not self.standby:
            args.append("--no-standby")
        self.process = subprocess.Popen(
            args, env=self.sandbox.env(), stdout=self.log_path.open("w"), stderr=subprocess.STDOUT
        )
        wait_until(self.healthy, timeout=60, interval=0.05)
        return self

    def healthy(self) -> bool:
        from dagster_fastdeploy.runtime.control_client import ControlClient

        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"host exited: {self.log_path.read_text()[-2000:]}")
        with ControlClient(self.address) as client:
            client.health()
        return True

    def status(self) -> dict[str, Any]:
        return self.sandbox.cli("status", "--server", self.address)

    def children(self) -> list[int]:
        """Every process the host started, and theirs (code servers, standbys, fork parents)."""
        assert self.process is not None
        parents: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                parents.setdefault(ppid, []).append(int(entry.name))
        found, todo = [], [self.process.pid]
        while todo:
            for child in parents.get(todo.pop(), []):
                found.append(child)
                todo.append(child)
        return found

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class EndpointProbe:
    """Asks a location's stable endpoint, with Dagster's own gRPC client, which assets it has."""

    def __init__(self, endpoint: str, location: str):
        from dagster._grpc.client import DagsterGrpcClient

        host, _, port = endpoint.rpartition(":")
        self.host, self.port, self.location = host, int(port), location
        self.client = DagsterGrpcClient(port=self.port, host=self.host)

    def has_asset(self, name: str) -> bool:
        from dagster._core.remote_origin import (
            GrpcServerCodeLocationOrigin,
            RemoteRepositoryOrigin,
        )
        from dagster._grpc.types import ListRepositoriesResponse
        from dagster._serdes import deserialize_value

        listed = deserialize_value(self.client.list_repositories(), ListRepositoriesResponse)
        origin = GrpcServerCodeLocationOrigin(
            host=self.host, port=self.port, location_name=self.location
        )
        for symbol in listed.repository_symbols:
            repo_name = symbol.repository_name
            data = self.client.external_repository(
                RemoteRepositoryOrigin(origin, repo_name), defer_snapshots=True
            )
            if f'"{name}"' in data:
                return True
        return False


def add_asset(project: Path, name: str) -> None:
    """The edit: one new asset appended to the definitions module (a source-only change)."""
    definitions = next(project.glob("src/*/definitions.py"))
    with definitions.open("a") as f:
        f.write(
            f"\n\n@dg.asset\ndef {name}() -> int:\n    return 1\n\n\n"
            f"defs = dg.Definitions.merge(defs, dg.Definitions(assets=[{name}]))\n"
        )


def locked_pins(deps_pex: Path) -> list[str]:
    """The `name==version` pins a built deps.pex holds (its PEX-INFO requirements)."""
    with zipfile.ZipFile(deps_pex) as pex:
        return list(json.loads(pex.read("PEX-INFO"))["requirements"])


def add_dependency(project: Path, requirement: str, keep_pins_of: Path) -> None:
    """Add one dependency the way a project with a lock file does: every other dependency stays
    at the version the previous deps.pex has (a fresh resolve could move them: the index moves
    on)."""
    pyproject = project / "pyproject.toml"
    added = [requirement, *locked_pins(keep_pins_of)]
    lines = "".join(f"  {json.dumps(r)},\n" for r in added)
    text = pyproject.read_text()
    pyproject.write_text(text.replace("dependencies = [\n", f"dependencies = [\n{lines}", 1))


def memory_of(pid: int) -> dict[str, int]:
    """RSS and PSS in kB from /proc/<pid>/smaps_rollup (PSS: shared pages split between users)."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss"):
                values[key.lower() + "_kb"] = int(rest.split()[0])
    except OSError:
        pass
    return values


def disk_usage(path: Path) -> int:
    """Bytes of the files under `path`, each file once (environments hardlink installed wheels)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for root, _, files in os.walk(path):
        for f in files:
            p = Path(root) / f
            if not p.is_symlink():
                stat = p.stat()
                if (stat.st_dev, stat.st_ino) not in seen:
                    seen.add((stat.st_dev, stat.st_ino))
                    total += stat.st_size
    return total


def wait_serving(probe: EndpointProbe, asset: str, timeout: float = 120.0) -> None:
    wait_until(lambda: probe.has_asset(asset), timeout=timeout, interval=0.005)


def now() -> float:
    return time.perf_counter()
