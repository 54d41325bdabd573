"""What a host tells the outside about itself beyond the control API: the locations it serves,
for its heartbeat in the store, and liveness/readiness for orchestrators' probes."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from dagster_fastdeploy.host_api import VersionState
from dagster_fastdeploy.store.heartbeats import ServedLocation

if TYPE_CHECKING:
    from dagster_fastdeploy.runtime.host import Host

STUCK_AFTER = 120.0  # seconds without a finished reconcile pass before liveness fails


def served_locations(host: Host) -> list[ServedLocation]:
    served = []
    for loc in host.status().locations:
        endpoint = loc.endpoint or ""
        served.append(
            ServedLocation(
                name=loc.name,
                endpoint=endpoint,
                port=int(endpoint.rpartition(":")[2]),
                version=loc.version,
                serving_version=loc.serving_version,
                state=loc.state.value,
            )
        )
    return served


def liveness(host: Host) -> tuple[bool, dict[str, Any]]:
    """Alive while the reconcile loop turns (a pass may take long at start: materializing)."""
    last = host.last_reconcile
    age = None if last is None else round(time.monotonic() - last, 1)
    stuck = age is not None and age > max(STUCK_AFTER, 20 * host.reconcile_interval)
    return not stuck, {"deployment": host.deployment, "last_reconcile_s_ago": age}


def readiness(host: Host) -> tuple[bool, dict[str, Any]]:
    """Ready once a reconcile pass has run and every location it serves has come up: serving a
    version, or failed with the user's error (a broken location does not unready the host)."""
    locations = host.status().locations
    waiting = [
        loc.name
        for loc in locations
        if loc.serving_version is None and loc.state is not VersionState.FAILED
    ]
    ready = host.last_reconcile is not None and not waiting
    return ready, {"locations": len(locations), "starting": waiting}
