"""`status --store` and `workspace --store`: which hosts serve what, asked of the store (the
hosts' heartbeats and the deployment records), not of any one host. The deploying machine and
the Dagster webserver never need to know the hosts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from dagster_fastdeploy.store.base import Store
from dagster_fastdeploy.store.heartbeats import HostHeartbeat, read_hosts

if TYPE_CHECKING:
    from dagster_fastdeploy.host_api import LocationStatus


@dataclass
class LocationOnHost:
    host_id: str
    endpoint: str
    state: str
    version: int | None
    serving_version: int | None
    alive: bool


@dataclass
class FleetLocation:
    name: str
    recorded_version: int | None
    hosts: list[LocationOnHost] = field(default_factory=list)

    def endpoint(self) -> str | None:
        """The endpoint a workspace names: the first alive host (by host id) serving the
        recorded version, else the first alive host serving any version."""
        alive = [h for h in self.hosts if h.alive and h.serving_version is not None]
        current = [h for h in alive if h.serving_version == self.recorded_version]
        chosen = (current or alive)[:1]
        return chosen[0].endpoint if chosen else None


@dataclass
class FleetStatus:
    deployment: str
    store: str
    hosts: list[HostHeartbeat]
    locations: list[FleetLocation]

    def to_json(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "store": self.store,
            "hosts": [
                {**h.to_dict(), "alive": h.alive(), "age_s": round(h.age(), 1)} for h in self.hosts
            ],
            "locations": [{**asdict(loc), "endpoint": loc.endpoint()} for loc in self.locations],
        }


def fleet_status(store: Store, deployment: str) -> FleetStatus:
    hosts = read_hosts(store, deployment)
    names = set(store.list_locations(deployment))
    for heartbeat in hosts:
        names |= {loc.name for loc in heartbeat.locations}
    locations = []
    for name in sorted(names):
        record = store.read_record(deployment, name)
        current = record.current if record else None
        location = FleetLocation(name, current.version if current else None)
        for heartbeat in hosts:
            for loc in heartbeat.locations:
                if loc.name == name:
                    location.hosts.append(
                        LocationOnHost(
                            host_id=heartbeat.host_id,
                            endpoint=loc.endpoint,
                            state=loc.state,
                            version=loc.version,
                            serving_version=loc.serving_version,
                            alive=heartbeat.alive(),
                        )
                    )
        locations.append(location)
    return FleetStatus(deployment, store.url, hosts, locations)


def format_fleet(status: FleetStatus) -> str:
    if not status.hosts:
        return (
            f"No host has registered for deployment {status.deployment!r} in {status.store}: "
            "start one with `dagster-fastdeploy serve --store ...`."
        )
    lines = []
    for h in status.hosts:
        state = "alive" if h.alive() else f"stale ({h.age():.0f} s since its heartbeat)"
        serves = h.selection.get("locations") or h.selection.get("host_group") or "everything"
        lines.append(f"host {h.host_id} at {h.control}: {state}, serves {serves}")
    rows = [("LOCATION", "RECORDED", "HOST", "ENDPOINT", "STATE", "SERVING")]
    for loc in status.locations:
        for on in loc.hosts or [None]:  # type: ignore[list-item]
            rows.append(
                (
                    loc.name,
                    f"v{loc.recorded_version}" if loc.recorded_version else "-",
                    on.host_id + ("" if on.alive else " (stale)") if on else "-",
                    on.endpoint if on else "-",
                    on.state if on else "no host serves it",
                    f"v{on.serving_version}" if on and on.serving_version else "-",
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines.append("")
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def workspace_entries(status: FleetStatus) -> list[LocationStatus]:
    """One entry per location that an alive host serves (its endpoint), for workspace_yaml."""
    from dagster_fastdeploy.host_api import LocationStatus, VersionState

    entries = []
    for loc in status.locations:
        endpoint = loc.endpoint()
        if endpoint is not None:
            entries.append(LocationStatus(loc.name, state=VersionState.SERVING, endpoint=endpoint))
    return entries
