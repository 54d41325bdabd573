"""The host's heartbeat thread: every few seconds it writes what it serves and where to
`hosts/<deployment>/<host id>.json` (store/heartbeats.py), forgets dead hosts' heartbeats now
and then, and removes its own on a clean stop."""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable

from dagster_fastdeploy.errors import FastDeployError
from dagster_fastdeploy.runtime.log import log_event
from dagster_fastdeploy.store.base import Store
from dagster_fastdeploy.store.heartbeats import (
    HostHeartbeat,
    ServedLocation,
    forget_dead_hosts,
    read_heartbeat,
    remove_heartbeat,
    write_heartbeat,
)

logger = logging.getLogger(__name__)

FORGET_EVERY = 12  # heartbeats between two sweeps of dead hosts' heartbeats


def previous_ports(store: Store, deployment: str, host_id: str) -> dict[str, int]:
    """The ports the last host with this id served its locations on (its heartbeat): a
    replacement with the same id (a StatefulSet pod) keeps the endpoints the workspace names."""
    try:
        found = read_heartbeat(store, deployment, host_id)
    except FastDeployError as e:
        log_event("heartbeat.unreadable", host_id=host_id, error=str(e))
        return {}
    return {loc.name: loc.port for loc in found.locations} if found else {}


class Heartbeat:
    def __init__(
        self,
        store: Store,
        deployment: str,
        host_id: str,
        control: str,
        tls: bool,
        selection: dict[str, Any],
        locations: Callable[[], list[ServedLocation]],
        interval: float = 10.0,
    ):
        from dagster_fastdeploy import __version__

        self.store = store
        self.deployment = deployment
        self.host_id = host_id
        self.interval = interval
        self._locations = locations
        self.control = control
        self.tls = tls
        self.selection = selection
        self.started_at = datetime.now(timezone.utc).isoformat()
        self.package_version = __version__
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)
        try:
            remove_heartbeat(self.store, self.deployment, self.host_id)
        except FastDeployError as e:
            log_event("heartbeat.error", error=str(e))

    def beat(self) -> HostHeartbeat:
        heartbeat = HostHeartbeat(
            host_id=self.host_id,
            deployment=self.deployment,
            control=self.control,
            tls=self.tls,
            hostname=os.uname().nodename,
            pid=os.getpid(),
            package_version=self.package_version,
            started_at=self.started_at,
            heartbeat_at=datetime.now(timezone.utc).isoformat(),
            interval=self.interval,
            selection=self.selection,
            locations=self._locations(),
        )
        write_heartbeat(self.store, heartbeat)
        return heartbeat

    def _run(self) -> None:
        beats = 0
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.beat()
                if beats % FORGET_EVERY == 0:
                    forgotten = forget_dead_hosts(self.store, self.deployment)
                    if forgotten:
                        log_event("heartbeat.forgot_dead_hosts", count=forgotten)
                beats += 1
            except FastDeployError as e:
                log_event("heartbeat.error", error=str(e))
            except Exception:  # the thread must outlive a bad moment of the store
                logger.exception("heartbeat failed")
            self._wake.wait(max(0.0, self.interval - (time.monotonic() - started)))
            self._wake.clear()
