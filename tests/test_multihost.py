"""Several hosts on one store, as cattle: real `serve` processes on moto's S3 server over HTTP.
Locations are sharded over hosts with `--locations` and `host_group`; a host that dies is
replaced by one with an empty data dir that rebuilds from the store alone; a recorded version
goes live on every host that serves the location without anyone telling the hosts."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from dagster_fastdeploy.errors import HostError
from dagster_fastdeploy.host_api import LocationStatus
from dagster_fastdeploy.store import open_store
from dagster_fastdeploy.store.heartbeats import read_hosts
from tests.fixtures_runtime import ProjectCopy, free_port, free_port_range
from tests.test_host import (
    all_serving,
    asset_keys_through_dagster,
    endpoint_port,
    run_cli,
    wait_for_status,
    wait_until_gone,
)

HOST_GROUP_ETL = '[tool.dagster-fastdeploy]\nhost_group = "etl"\n'


def one_serving(locations: list[LocationStatus]) -> bool:
    return len(locations) == 1 and all_serving(locations)


def served(locations: list[LocationStatus]) -> list[tuple[str, int | None, str]]:
    return [(loc.name, loc.version, loc.state.value) for loc in locations]


def first_event(host: Any, event: str, **fields: Any) -> dict[str, Any] | None:
    for line in host.log():
        if line.get("event") == event and all(line.get(k) == v for k, v in fields.items()):
            return line
    return None


def test_three_hosts_shard_two_locations_and_a_replaced_host_rebuilds_from_the_store(
    s3_store_url: str, project_copy: ProjectCopy, start_host: Any, tmp_path: Path
) -> None:
    store = open_store(s3_store_url)
    project_copy.publish(store, "alpha")
    project_copy.add_asset("only_in_beta")
    project_copy.publish(store, "beta")

    alpha = start_host(store, extra_args=["--locations", "alpha", "--host-id", "host-alpha"])
    # something else holds the first port of beta's range while beta's host starts
    beta_ports = free_port_range(4)
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", beta_ports[0]))
    beta = start_host(
        store,
        data_dir=tmp_path / "beta-data",
        location_ports=beta_ports,
        extra_args=["--locations", "beta", "--host-id", "host-beta"],
    )
    both = start_host(store, extra_args=["--host-id", "host-both"])

    assert served(wait_for_status(alpha, one_serving)) == [("alpha", 1, "serving")]
    before = wait_for_status(beta, one_serving)
    assert served(before) == [("beta", 1, "serving")]
    assert endpoint_port(before[0]) == beta_ports[0] + 1
    assert served(wait_for_status(both, lambda locs: len(locs) == 2 and all_serving(locs))) == [
        ("alpha", 1, "serving"),
        ("beta", 1, "serving"),
    ]

    # the store knows which hosts serve what, without asking any of them
    def registered() -> dict[str, list[str]]:
        return {
            h.host_id: sorted(loc.name for loc in h.locations if loc.state == "serving")
            for h in read_hosts(store, "prod")
            if h.alive()
        }

    deadline = time.monotonic() + 60
    while registered() != {
        "host-alpha": ["alpha"],
        "host-beta": ["beta"],
        "host-both": ["alpha", "beta"],
    }:
        assert time.monotonic() < deadline, registered()
        time.sleep(0.2)

    # the shard of beta dies; a replacement with the same host id and an empty disk takes over
    code_server = before[0].code_server_pid
    beta.kill9()
    wait_until_gone(code_server)
    squatter.close()  # the first port is free now: a fresh host would take it
    replacement = start_host(  # the same flags, as a StatefulSet's replacement pod has
        store,
        port=beta.port,
        location_ports=beta.location_ports,
        data_dir=tmp_path / "replacement-data",
        extra_args=["--locations", "beta", "--host-id", "host-beta"],
    )
    after = wait_for_status(replacement, one_serving)
    assert served(after) == [("beta", 1, "serving")]
    # same endpoint: the port came from its predecessor's heartbeat, not from a local file
    assert after[0].endpoint == before[0].endpoint
    assert "only_in_beta" in asset_keys_through_dagster(endpoint_port(after[0]), "beta")[0]
    assert not (tmp_path / "beta-data").samefile(tmp_path / "replacement-data")

    # a workspace for the Dagster webserver from the store: one entry per location, alive hosts
    workspace = run_cli("workspace", "--store", store.url, "--deployment", "prod").stdout
    assert workspace.count("grpc_server") == 2
    assert 'location_name: "alpha"' in workspace and 'location_name: "beta"' in workspace
    hosts = json.loads(run_cli("status", "--store", store.url, "--json").stdout)["hosts"]
    assert {h["host_id"] for h in hosts if h["alive"]} == {"host-alpha", "host-beta", "host-both"}


def test_two_hosts_serving_a_location_both_switch_to_a_recorded_version_by_themselves(
    s3_store_url: str, project_copy: ProjectCopy, start_host: Any
) -> None:
    store = open_store(s3_store_url)
    pyproject = project_copy.root / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace("[tool.dagster-fastdeploy]\n", HOST_GROUP_ETL, 1))
    project_copy.publish(store, "etl")
    project_copy.publish(store, "etl_reports")  # the same group: served by both hosts too

    health_port = free_port()
    hosts = [
        start_host(store, extra_args=["--host-group", "etl", "--health-port", str(health_port)]),
        start_host(store, extra_args=["--host-group", "etl"]),
    ]
    other = start_host(store, extra_args=["--host-group", "reports"])
    for host in hosts:
        wait_for_status(host, lambda locs: len(locs) == 2 and all_serving(locs))

    # a source-only edit, recorded in the store; nobody tells the hosts
    project_copy.add_asset("recorded_only")
    recorded = project_copy.publish(store, "etl")
    recorded_at = time.time()
    for host in hosts:
        wait_for_status(
            host,
            lambda locs: ("etl", recorded.version, "serving") in served(locs),
            timeout=120,
        )
        with host.client() as control:
            (etl,) = [loc for loc in control.status().locations if loc.name == "etl"]
        keys, _ = asset_keys_through_dagster(endpoint_port(etl), "etl")
        assert "recorded_only" in keys
        # each host noticed the record through the change marker, within its poll interval
        begin = first_event(host, "rollout.begin", location="etl", version=recorded.version)
        assert begin is not None
        assert begin["ts"] - recorded_at < 5.0
        serving = first_event(host, "rollout.serving", location="etl", version=recorded.version)
        assert serving is not None
        print(f"{host.address}: serving {serving['ts'] - recorded_at:.2f} s after the record")

    # the host of another group serves neither, and says so when asked to
    with other.client() as control:
        assert control.status().locations == []
        with pytest.raises(HostError, match="does not serve 'etl'.*--host-group reports"):
            control.deploy("etl")

    # probes: alive, and ready once every location it serves has come up
    for path in ("/healthz", "/readyz"):
        with urllib.request.urlopen(f"http://127.0.0.1:{health_port}{path}", timeout=10) as r:
            assert r.status == 200 and json.loads(r.read())["ok"] is True
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"http://127.0.0.1:{health_port}/nothing", timeout=10)
    assert missing.value.code == 404
