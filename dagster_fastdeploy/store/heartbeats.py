"""Hosts register themselves in the store: `hosts/<deployment>/<host id>.json`, rewritten every
few seconds with what the host serves and where. `status --store` and `workspace --store` read
them to tell which hosts serve what without knowing the hosts; a replaced host with the same id
reads its predecessor's to keep the same endpoint ports.

A heartbeat is alive while it is younger than three of its own intervals (by the reader's
clock: keep hosts' clocks in sync, as any S3 client must). A host removes its own on a clean
stop; a host that died leaves a stale one, which the other hosts remove after `FORGET_AFTER`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from dagster_fastdeploy.errors import StoreError
from dagster_fastdeploy.store.documents import parse_document
from dagster_fastdeploy.store.keys import host_key, hosts_prefix

if TYPE_CHECKING:
    from dagster_fastdeploy.store.base import Store

FORGET_AFTER = 600.0  # seconds a dead host's heartbeat stays listed (as stale)


@dataclass
class ServedLocation:
    name: str
    endpoint: str  # host:port as the host advertises it
    port: int
    version: int | None
    serving_version: int | None
    state: str


@dataclass
class HostHeartbeat:
    host_id: str
    deployment: str
    control: str  # the control API's host:port as advertised
    tls: bool
    hostname: str
    pid: int
    package_version: str
    started_at: str
    heartbeat_at: str
    interval: float
    selection: dict[str, Any]  # {"locations": [...] | None, "host_group": str | None}
    locations: list[ServedLocation] = field(default_factory=list)

    def age(self, now: datetime | None = None) -> float:
        now = now or datetime.now(timezone.utc)
        return (now - datetime.fromisoformat(self.heartbeat_at)).total_seconds()

    def alive(self, now: datetime | None = None) -> bool:
        return self.age(now) <= 3 * self.interval

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HostHeartbeat:
        data = dict(data)
        data["locations"] = [ServedLocation(**loc) for loc in data.get("locations", [])]
        return cls(**data)


def write_heartbeat(store: Store, heartbeat: HostHeartbeat) -> None:
    key = host_key(heartbeat.deployment, heartbeat.host_id)
    store.put_document(key, json.dumps(heartbeat.to_dict(), indent=1).encode())


def remove_heartbeat(store: Store, deployment: str, host_id: str) -> None:
    store.delete_document(host_key(deployment, host_id))


def read_heartbeat(store: Store, deployment: str, host_id: str) -> HostHeartbeat | None:
    key = host_key(deployment, host_id)
    found = store.get_document(key)
    if found is None or found.data is None:
        return None
    return _parse(found.data, f"{store.url}/{key}")


def read_hosts(store: Store, deployment: str) -> list[HostHeartbeat]:
    """Every registered host of the deployment, alive or stale, sorted by host id."""
    hosts = []
    for host_id in sorted(store.list_documents(hosts_prefix(deployment))):
        heartbeat = read_heartbeat(store, deployment, host_id)
        if heartbeat is not None:
            hosts.append(heartbeat)
    return hosts


def forget_dead_hosts(store: Store, deployment: str, older_than: float = FORGET_AFTER) -> int:
    """Remove heartbeats older than `older_than` seconds; returns how many went."""
    removed = 0
    for heartbeat in read_hosts(store, deployment):
        if heartbeat.age() > older_than:
            remove_heartbeat(store, deployment, heartbeat.host_id)
            removed += 1
    return removed


def _parse(data: bytes, where: str) -> HostHeartbeat:
    document = parse_document(data, where)
    try:
        return HostHeartbeat.from_dict(document)
    except (KeyError, TypeError, ValueError) as e:
        raise StoreError(
            f"{where} is not a host heartbeat ({e!r}): delete it, the host writes it again"
        ) from e
