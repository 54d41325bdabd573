"""`dagster-fastdeploy serve`: run a warm host until SIGINT or SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from dagster_fastdeploy.runtime.announce import AnnouncedHost, announce, local_address
from dagster_fastdeploy.runtime.control_token import read_token
from dagster_fastdeploy.runtime.disk_gc import DEFAULT_KEEP_UNUSED_FOR, DEFAULT_RETAIN_VERSIONS
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
    retain_versions: int = DEFAULT_RETAIN_VERSIONS
    keep_unused_for: float = DEFAULT_KEEP_UNUSED_FOR
    endpoint_url: str | None = None  # an S3-compatible server (default: $AWS_ENDPOINT_URL)
    locations: str | None = None
    host_group: str | None = None
    host_id: str | None = None
    advertise_host: str | None = None
    health_port: int | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure_behind_mesh: bool = False
    resync_interval: float = 60.0
    heartbeat_interval: float = 10.0


def serve(options: ServeOptions) -> None:
    from dagster_fastdeploy.runtime.control_server import ControlServer
    from dagster_fastdeploy.runtime.health_http import HealthServer
    from dagster_fastdeploy.runtime.heartbeat import Heartbeat, previous_ports
    from dagster_fastdeploy.runtime.host import Host
    from dagster_fastdeploy.runtime.host_health import liveness, readiness, served_locations
    from dagster_fastdeploy.runtime.selection import LocationSelection
    from dagster_fastdeploy.runtime.tls import check_bind, server_tls
    from dagster_fastdeploy.store import open_store
    from dagster_fastdeploy.store.records import check_name

    token = read_token(options.token_file)
    tls = server_tls(options.tls_cert, options.tls_key)
    check_bind(options.host, token, tls, options.insecure_behind_mesh)  # before anything starts
    selection = LocationSelection.parse(options.locations, options.host_group)
    host_id = check_name("host id", options.host_id or f"{socket.gethostname()}-{options.port}")
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
            retain_versions=options.retain_versions,
            keep_unused_for=options.keep_unused_for,
        ),
        reconcile_interval=options.reconcile_interval,
        control_port=options.port,
        standby=options.standby,
        selection=selection,
        advertise_host=options.advertise_host,
        resync_interval=options.resync_interval,
    )
    # a replacement host (same id) serves each location on the port its predecessor used
    host.ports.seed(previous_ports(store, options.deployment, host_id))
    control = ControlServer(host, options.host, options.port, token, tls=tls)
    advertised = options.advertise_host or options.host
    if advertised in ("0.0.0.0", "::", ""):
        advertised = socket.gethostname()
    heartbeat = Heartbeat(
        store,
        options.deployment,
        host_id,
        control=f"{advertised}:{control.port}",
        tls=tls is not None,
        selection=selection.to_dict(),
        locations=lambda: served_locations(host),
        interval=options.heartbeat_interval,
    )
    health = None
    if options.health_port is not None:
        health = HealthServer(
            options.host,
            options.health_port,
            live=lambda: liveness(host),
            ready=lambda: readiness(host),
        )
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
        tls=tls is not None,
        standby=options.standby,
        host_id=host_id,
        serves=selection.describe(),
        health_port=health.port if health else None,
    )
    host.start()
    heartbeat.start()
    announced = announce(
        AnnouncedHost(
            address=local_address(options.host, control.port),
            pid=os.getpid(),
            deployment=options.deployment,
            store=store.url,
            data_dir=str(options.data_dir),
            started_at=time.time(),
        )
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        announced.unlink(missing_ok=True)
        log_event("host.stopping")
        heartbeat.stop()
        if health is not None:
            health.stop()
        control.stop()
        host.stop()
        log_event("host.stopped")
