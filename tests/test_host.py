"""The warm host end to end: real `serve` processes, real code servers from PEX artifacts, real
gRPC through the stable endpoint, Dagster's own client on the other side."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_runtime import EXAMPLE_TARGET, ProjectCopy, publish

LOCATION = "example_project"


def endpoint_port(status_entry: dict[str, Any]) -> int:
    return int(status_entry["endpoint"].rpartition(":")[2])


def asset_keys_through_dagster(port: int, location: str = LOCATION) -> tuple[set[str], str]:
    """Load the location the way the webserver does (Dagster's gRPC client), return its asset
    keys and the server id it answered with."""
    from dagster import DagsterInstance
    from dagster._core.remote_origin import GrpcServerCodeLocationOrigin

    origin = GrpcServerCodeLocationOrigin(host="127.0.0.1", port=port, location_name=location)
    with DagsterInstance.ephemeral() as instance, origin.create_location(instance) as code_location:
        keys = set()
        for repo in code_location.get_repositories().values():
            keys |= {n.asset_key.to_user_string() for n in repo.get_asset_node_snaps()}
        server_id = code_location.client.get_server_id()
    return keys, server_id


def test_deploy_serves_through_stable_endpoint_and_swaps_without_a_failed_call(
    file_store: Any, deps_pex_113: Path, project_copy: ProjectCopy, start_host: Any
) -> None:
    host = start_host(file_store)
    v1 = publish(
        file_store, "prod", LOCATION, deps_pex_113, project_copy.source_pex(), EXAMPLE_TARGET
    )
    with host.client() as control:
        first = control.deploy(LOCATION, v1.version, timeout=300)
    assert first["state"] == "serving", first["error"]
    assert first["version"] == 1
    assert set(first["steps"]) >= {"fetch", "materialize", "start", "load", "switch"}

    port = endpoint_port(first)
    keys, server_id = asset_keys_through_dagster(port)
    assert keys == {"raw_orders", "raw_customers", "orders_by_region"}
    assert server_id == first["server_id"]

    from dagster._grpc.client import DagsterGrpcClient

    # A client calling the endpoint in a loop during the swap sees no failed call.
    failures: list[BaseException] = []
    calls = 0
    stop = threading.Event()

    def call_in_a_loop() -> None:
        nonlocal calls
        client = DagsterGrpcClient(port=port, host="127.0.0.1")
        deadline = time.monotonic() + 600
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                client.list_repositories()
                client.get_server_id()
                calls += 1
            except BaseException as e:  # noqa: BLE001 - any failure is what we look for
                failures.append(e)

    looper = threading.Thread(target=call_in_a_loop)
    looper.start()
    try:
        project_copy.add_asset("new_orders_report")
        v2 = publish(
            file_store, "prod", LOCATION, deps_pex_113, project_copy.source_pex(), EXAMPLE_TARGET
        )
        with host.client() as control:
            second = control.deploy(LOCATION, v2.version, timeout=300)
        calls_at_switch = calls
        # keep calling while the old version drains and stops
        time.sleep(2.0)
    finally:
        stop.set()
        looper.join()
    assert second["state"] == "serving", second["error"]
    assert failures == []
    assert calls > calls_at_switch > 0

    keys, new_server_id = asset_keys_through_dagster(port)
    assert "new_orders_report" in keys
    assert new_server_id == second["server_id"] != server_id

    # the source-only change reused the deps environment: nothing to materialize but the source
    events = [e for e in host.log() if e.get("event") == "rollout.step" and e["version"] == 2]
    assert {e["step"] for e in events} >= {"fetch", "materialize", "start", "load", "switch"}

    with host.client() as control:
        status = control.status()["locations"]
    (entry,) = status
    assert entry["name"] == LOCATION and entry["state"] == "serving" and entry["version"] == 2
    definitions = entry["definitions"]
    assert "new_orders_report" in {a["key"] for a in definitions["assets"]}
    assert {
        "key": "orders_by_region",
        "group": "analytics",
        "deps": ["raw_customers", "raw_orders"],
        "kinds": ["pandas"],
    } in definitions["assets"]
    assert definitions["schedules"] == [
        {"name": "daily_refresh_schedule", "cron": "0 6 * * *", "job": "daily_refresh"}
    ]
    assert definitions["jobs"] == ["daily_refresh"]
    assert definitions["resources"] == ["warehouse"]
    assert [c["name"] for c in definitions["asset_checks"]] == ["orders_have_positive_amounts"]
    assert [s["name"] for s in definitions["sensors"]] == ["new_orders_sensor"]
    # the host process itself never imported dagster
    with host.client() as control:
        assert control.health()["dagster_imported"] is False
