"""`dagster-fastdeploy serve`: run a warm host until SIGINT or SIGTERM."""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

from dagster_fastdeploy.runtime.control_token import read_token
from dagster_fastdeploy.runtime.log import configure_logging, log_event
from dagster_fastdeploy.runtime.memory import parse_size
from dagster_fastdeploy.runtime.ports import parse_port_range
from dagster_fastdeploy.runtime.rollout import RolloutSettings


@dataclass
class ServeOptions:
    store_url: str | None
    deployment: str
    data_dir: Path
    host: str
    port: int
    location_ports: str
    token_file: Path | None
    standby: bool
    reconcile_interval: float
    load_timeout: float
    memory_limit: str | None = None
    endpoint_url: str | None = None  # an S3-compatible server (default: $AWS_ENDPOINT_URL)


def serve(options: ServeOptions) -> None:
    from dagster_fastdeploy.runtime.control_server import ControlServer, refuse_open_bind
    from dagster_fastdeploy.runtime.host import Host
    from dagster_fastdeploy.store import open_store

    token = read_token(options.token_file)
    refuse_open_bind(options.host, token)  # before anything is started
    port_range = parse_port_range(options.location_ports)
    options.data_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(str(options.data_dir / "host.log"))
    store = open_store(options.store_url, endpoint_url=options.endpoint_url)
    host = Host(
        store,
        options.deployment,
        options.data_dir,
        bind_host=options.host,
        location_ports=port_range,
        settings=RolloutSettings(
            load_timeout=options.load_timeout,
            memory_limit=parse_size(options.memory_limit, "--memory-limit")
            if options.memory_limit
            else None,
        ),
        reconcile_interval=options.reconcile_interval,
        control_port=options.port,
        standby=options.standby,
    )
    control = ControlServer(host, options.host, options.port, token)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    log_event(
        "host.started",
        control=f"{options.host}:{control.port}",
        store=store.url,
        deployment=options.deployment,
        data_dir=str(options.data_dir),
        pid=os.getpid(),
        token=token is not None,
        standby=options.standby,
    )
    host.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        log_event("host.stopping")
        control.stop()
        host.stop()
        log_event("host.stopped")
