"""The host's heartbeat thread: every few seconds it writes what it serves and where to
`hosts/<deployment>/<host id>.json` (store/heartbeats.py), forgets dead hosts' heartbeats now
and then, and removes its own on a clean stop."""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime, timezone
from typing import Callable

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
        selection: dict[str, object],
        locations: Callable[[], list[ServedLocation]],
        interval: float = 10.0,
    ):
        from dagster_fastdeploy import __version__

        self.store = store
        self.deployment = deployment
        self.host_id = host_id
        self.interval = interval
        self._locations = locations
        self._template = dict(
            host_id=host_id,
            deployment=deployment,
            control=control,
            tls=tls,
            hostname=os.uname().nodename,
            pid=os.getpid(),
            package_version=__version__,
            started_at=datetime.now(timezone.utc).isoformat(),
            interval=interval,
            selection=selection,
        )
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def beat_soon(self) -> None:
        """Write a heartbeat now (after a switch) rather than at the next interval."""
        self._wake.set()

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
            **self._template,  # type: ignore[arg-type]
            heartbeat_at=datetime.now(timezone.utc).isoformat(),
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
