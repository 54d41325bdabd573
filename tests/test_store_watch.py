"""Watching a deployment from several hosts: one small change marker per deployment, read with a
conditional GET, so an idle host's requests do not grow with the number of locations; and the
hosts' heartbeats, which tell who serves what. Both stores; S3 on the real moto server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

from dagster_fastdeploy.store import open_store
from dagster_fastdeploy.store.base import Store
from dagster_fastdeploy.store.heartbeats import (
    HostHeartbeat,
    ServedLocation,
    forget_dead_hosts,
    read_heartbeat,
    read_hosts,
    remove_heartbeat,
    write_heartbeat,
)
from dagster_fastdeploy.store.s3 import S3Store
from dagster_fastdeploy.store.watch import RecordWatch
from tests.test_host import run_cli
from tests.test_store import entry


def record(store: Store, location: str, deployment: str = "prod") -> int:
    written = store.append_version(deployment, location, entry)
    assert written.current is not None
    return written.current.version


@contextmanager
def counting_requests(store: S3Store) -> Iterator[list[str]]:
    """The S3 operations the store sends while the block runs."""
    sent: list[str] = []

    def count(**kwargs: object) -> None:
        sent.append(str(kwargs.get("event_name", "")).split(".")[-1])

    store.client.meta.events.register("before-send.s3", count)
    try:
        yield sent
    finally:
        store.client.meta.events.unregister("before-send.s3", count)


def test_a_watch_sees_every_record_written_between_two_polls(store_url: str) -> None:
    writer, host = open_store(store_url), open_store(store_url)
    record(writer, "etl")
    watch = RecordWatch(host, "prod")
    changed, gone = watch.poll()
    assert set(changed) == {"etl"} and gone == []
    assert watch.poll() == ({}, [])  # nothing new

    # two deploys of two locations between polls: the marker names only the last one
    record(writer, "etl")
    record(writer, "reports")
    changed, gone = watch.poll()
    assert {name: r.current.version for name, r in changed.items() if r.current} == {
        "etl": 2,
        "reports": 1,
    }
    writer.remove_location("prod", "etl")
    assert watch.poll() == ({}, ["etl"])
    assert set(watch.records) == {"reports"}


def test_another_deployment_does_not_wake_the_watch(store_url: str) -> None:
    store = open_store(store_url)
    record(store, "etl")
    watch = RecordWatch(store, "prod")
    watch.poll()
    record(store, "etl", deployment="staging")
    assert watch.poll() == ({}, [])


def test_an_idle_watch_costs_one_conditional_get_whatever_the_number_of_locations(
    s3_store_url: str,
) -> None:
    store = open_store(s3_store_url)
    assert isinstance(store, S3Store)
    costs = {}
    for count in (3, 30):
        for i in range(count):
            record(store, f"loc{count}-{i}", deployment=f"d{count}")
        watch = RecordWatch(store, f"d{count}")
        assert len(watch.poll()[0]) == count
        with counting_requests(store) as sent:
            for _ in range(5):
                assert watch.poll() == ({}, [])
        costs[count] = sent
    assert costs[3] == costs[30] == ["GetObject"] * 5

    # a change costs the marker, one listing and the one record that moved
    record(store, "loc30-7", deployment="d30")
    with counting_requests(store) as sent:
        changed, _ = watch.poll()
    assert list(changed) == ["loc30-7"]
    assert sent == ["GetObject", "ListObjectsV2", "GetObject"]


def heartbeat(host_id: str, age: float = 0.0, interval: float = 5.0) -> HostHeartbeat:
    at = datetime.now(timezone.utc) - timedelta(seconds=age)
    return HostHeartbeat(
        host_id=host_id,
        deployment="prod",
        control=f"{host_id}:4270",
        tls=False,
        hostname=host_id,
        pid=1,
        package_version="0",
        started_at=at.isoformat(),
        heartbeat_at=at.isoformat(),
        interval=interval,
        selection={"locations": ["etl"], "host_group": None},
        locations=[ServedLocation("etl", f"{host_id}:4300", 4300, 3, 3, "serving")],
    )


def test_hosts_register_with_a_heartbeat_and_dead_ones_are_forgotten(store_url: str) -> None:
    store = open_store(store_url)
    write_heartbeat(store, heartbeat("host-a"))
    write_heartbeat(store, heartbeat("host-b", age=60))
    write_heartbeat(store, heartbeat("host-c", age=3600))
    hosts = read_hosts(store, "prod")
    assert [(h.host_id, h.alive()) for h in hosts] == [
        ("host-a", True),
        ("host-b", False),
        ("host-c", False),
    ]
    found = read_heartbeat(store, "prod", "host-a")
    assert found is not None and found.locations[0].endpoint == "host-a:4300"
    assert read_hosts(store, "staging") == []

    assert forget_dead_hosts(store, "prod", older_than=600) == 1
    assert [h.host_id for h in read_hosts(store, "prod")] == ["host-a", "host-b"]
    remove_heartbeat(store, "prod", "host-a")
    assert [h.host_id for h in read_hosts(store, "prod")] == ["host-b"]
    # heartbeats are not deployment records
    assert store.list_locations("prod") == []
    assert store.list_deployments() == []


def test_status_and_workspace_from_the_store_name_alive_hosts_only(
    store_url: str, tmp_path: Path
) -> None:
    store = open_store(store_url)
    record(store, "etl")
    record(store, "etl")  # recorded: v2
    record(store, "reports")
    behind = heartbeat("host-a")  # still on etl v1
    behind.locations = [ServedLocation("etl", "host-a:4300", 4300, 2, 1, "starting")]
    current = heartbeat("host-b")
    current.locations = [
        ServedLocation("etl", "host-b:4301", 4301, 2, 2, "serving"),
        ServedLocation("reports", "host-b:4302", 4302, 1, 1, "serving"),
    ]
    dead = heartbeat("host-0", age=120)  # first by id, but its heartbeat stopped
    for written in (behind, current, dead):
        write_heartbeat(store, written)

    workspace = run_cli("workspace", "--store", store.url, "-o", str(tmp_path / "w.yaml"))
    assert workspace.returncode == 0
    text = (tmp_path / "w.yaml").read_text()
    assert text.count("grpc_server") == 2
    assert '"host-b"' in text and "port: 4301" in text and "port: 4302" in text
    assert "host-0" not in text and "host-a" not in text  # dead; behind the recorded version

    shown = run_cli("status", "--store", store.url).stdout
    assert (
        "host host-0 at host-0:4270: stale" in shown
        and "host host-b at host-b:4270: alive" in shown
    )
    assert [line.split()[:2] for line in shown.splitlines() if line.startswith("etl ")] == [
        ["etl", "v2"],
        ["etl", "v2"],
        ["etl", "v2"],
    ]
    data = json.loads(run_cli("status", "--store", store.url, "--json").stdout)
    assert {loc["name"]: loc["endpoint"] for loc in data["locations"]} == {
        "etl": "host-b:4301",
        "reports": "host-b:4302",
    }
