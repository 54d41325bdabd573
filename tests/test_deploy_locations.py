"""`deploy` at a repository whose dagster_cloud.yaml lists two locations (example_locations):
each location its own record, one deps.pex stored once, and a warm host serving both, which
`workspace` lists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from dagster_fastdeploy.builder import BuildResult
from dagster_fastdeploy.store import open_store
from tests.test_deploy import run_cli
from tests.test_host import asset_keys_through_dagster


def test_every_location_is_deployed_and_the_shared_deps_are_stored_once(
    example_build: BuildResult, file_store_url: str, copy_project: Callable[..., Path]
) -> None:
    root = copy_project("example_locations")
    done = run_cli("deploy", str(root), "--store", file_store_url, "--json")
    assert done.returncode == 0, done.stderr
    a, b = json.loads(done.stdout)["locations"]
    assert (a["location"], a["version"], b["location"], b["version"]) == ("loc_a", 1, "loc_b", 1)
    assert a["pex_tag"].split(":")[0] == b["pex_tag"].split(":")[0]  # one deps.pex
    sent = [name.split("-")[0] for name in a["uploaded"] + b["uploaded"]]
    assert sent.count("deps") == 1 and sent.count("source") == 2
    store = open_store(file_store_url)
    assert {"loc_a", "loc_b"} <= set(store.list_locations("prod"))

    (root / "loc_b" / "loc_b" / "__init__.py").write_text(
        (root / "loc_b" / "loc_b" / "__init__.py").read_text() + "\n# edited\n"
    )
    text = run_cli("deploy", str(root), "--store", file_store_url, "--location", "loc_b")
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("Deployed loc_b v1 -> v2 to prod")  # loc_b alone
    assert store.read_record("prod", "loc_a").current.version == 1


def test_a_host_serves_both_locations_and_workspace_lists_them(
    example_build: BuildResult,
    file_store_url: str,
    copy_project: Callable[..., Path],
    start_host: Any,
) -> None:
    host = start_host(open_store(file_store_url))
    root = copy_project("example_locations")
    done = run_cli(
        "deploy", str(root), "--store", file_store_url, "--server", host.address, "--timeout", "300"
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[1] for line in lines] == ["loc_a", "loc_b"]
    assert all("host: serving" in line for line in lines)

    workspace = run_cli("workspace", "--server", host.address)
    assert workspace.returncode == 0, workspace.stderr
    ports = {}
    for entry in workspace.stdout.split("- grpc_server:")[1:]:
        fields = dict(
            line.strip().split(": ", 1) for line in entry.strip().splitlines() if ": " in line
        )
        ports[json.loads(fields["location_name"])] = int(fields["port"])
    assert set(ports) == {"loc_a", "loc_b"}
    assert asset_keys_through_dagster(ports["loc_a"], "loc_a")[0] == {"a_orders"}
    assert asset_keys_through_dagster(ports["loc_b"], "loc_b")[0] == {"b_revenue"}
