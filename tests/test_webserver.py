"""A real dagster-webserver on loopback loads the host's stable endpoint from the workspace file
that `dagster-fastdeploy workspace` writes, and shows a new version without being told."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_runtime import VENV_BIN, ProjectCopy, free_port
from tests.test_host import LOCATION, run_cli

ASSET_KEYS = "{ assetNodes { assetKey { path } } }"


@pytest.fixture
def start_webserver(tmp_path: Path) -> Iterator[Any]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(workspace: Path) -> str:
        port = free_port()
        home = tmp_path / "dagster_home"
        home.mkdir(exist_ok=True)
        log = open(tmp_path / "webserver.log", "ab")  # noqa: SIM115
        processes.append(
            subprocess.Popen(
                [str(VENV_BIN / "dagster-webserver"), "-w", str(workspace),
                 "-h", "127.0.0.1", "-p", str(port)],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "DAGSTER_HOME": str(home)},
            )
        )  # fmt: skip
        log.close()
        return f"http://127.0.0.1:{port}/graphql"

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def graphql(url: str, query: str) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.load(response))


def wait_for_assets(url: str, wanted: set[str], timeout: float = 300.0) -> set[str]:
    """Poll the webserver's GraphQL API until it lists every asset in `wanted`."""
    deadline = time.monotonic() + timeout
    keys: set[str] = set()
    while True:
        try:
            data = graphql(url, ASSET_KEYS).get("data") or {}
            keys = {"/".join(n["assetKey"]["path"]) for n in data.get("assetNodes") or []}
            if wanted <= keys:
                return keys
        except OSError:
            pass  # the webserver is still starting
        assert time.monotonic() < deadline, f"the webserver shows {keys}, not {wanted}"
        time.sleep(0.5)


def test_webserver_shows_the_new_asset_after_a_deploy_without_a_reload(
    file_store: Any,
    project_copy: ProjectCopy,
    start_host: Any,
    start_webserver: Any,
    tmp_path: Path,
) -> None:
    host = start_host(file_store)
    v1 = project_copy.publish(file_store)
    with host.client() as control:
        assert control.deploy(LOCATION, v1.version, timeout=300)["state"] == "serving"

    workspace = tmp_path / "workspace.yaml"
    run_cli("workspace", "--server", host.address, "-o", str(workspace))
    assert "grpc_server" in workspace.read_text()
    url = start_webserver(workspace)
    wait_for_assets(url, {"raw_orders", "raw_customers", "orders_by_region"})

    project_copy.add_asset("weekly_summary")
    v2 = project_copy.publish(file_store)
    with host.client() as control:
        assert control.deploy(LOCATION, v2.version, timeout=300)["state"] == "serving"
    # no reload call: the webserver notices the endpoint's new server id by itself
    assert "weekly_summary" in wait_for_assets(url, {"weekly_summary"})
