"""Running hosts say where their control API listens, so that `status`, `workspace`, `deploy`
and `rollback` find them without `--server`.

A host (`serve`, and the one `dev` starts) writes `<fastdeploy home>/hosts/<pid>.json` once its
control API listens and removes it on exit. The home is `$DAGSTER_FASTDEPLOY_HOME`, else
`~/.dagster-fastdeploy`. A file whose process is gone (a host killed with -9) is stale: readers
ignore it and remove it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from dagster_fastdeploy.errors import HostError

HOME_ENV = "DAGSTER_FASTDEPLOY_HOME"


def fastdeploy_home() -> Path:
    configured = os.environ.get(HOME_ENV)
    return Path(configured) if configured else Path.home() / ".dagster-fastdeploy"


def hosts_dir() -> Path:
    return fastdeploy_home() / "hosts"


@dataclass
class AnnouncedHost:
    address: str  # the control API, HOST:PORT as a client on this machine reaches it
    pid: int
    deployment: str
    store: str
    data_dir: str
    started_at: float

    def describe(self) -> str:
        return f"{self.address} (deployment {self.deployment}, store {self.store}, pid {self.pid})"


def announce(host: AnnouncedHost) -> Path:
    """Write this host's file (atomically); returns its path, to remove on exit."""
    directory = hosts_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{host.pid}.json"
    tmp = directory / f".{host.pid}.json.tmp"
    tmp.write_text(json.dumps(asdict(host)))
    os.replace(tmp, path)
    return path


def local_address(bind_host: str, port: int) -> str:
    """How a client on this machine reaches a server bound to `bind_host`."""
    if bind_host in ("0.0.0.0", "::", ""):
        return f"127.0.0.1:{port}"
    return f"{bind_host}:{port}"


def _is_running_host(pid: int) -> bool:
    from dagster_fastdeploy.runtime.code_server_process import process_alive

    if not process_alive(pid):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():  # a pid reused by another program is not our host
        try:
            return b"fastdeploy" in cmdline.read_bytes()
        except OSError:
            return True
    return True


def running_hosts() -> list[AnnouncedHost]:
    """Every announced host whose process runs; stale files are removed."""
    found = []
    directory = hosts_dir()
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            data = json.loads(path.read_text())
            host = AnnouncedHost(**data)
        except (OSError, ValueError, TypeError):
            continue
        if _is_running_host(host.pid):
            found.append(host)
        else:
            path.unlink(missing_ok=True)
    return sorted(found, key=lambda h: h.started_at)


def the_running_host(default: str) -> str:
    """The control address of the one host running here; `default` when none is; an error
    naming them when several are."""
    hosts = running_hosts()
    if not hosts:
        return default
    if len(hosts) > 1:
        listed = "\n".join(f"  {h.describe()}" for h in hosts)
        raise HostError(f"{len(hosts)} hosts run on this machine; pass --server:\n{listed}")
    return hosts[0].address
