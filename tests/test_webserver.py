"""A real dagster-webserver on loopback loads the host's stable endpoint from the workspace file
that `dagster-fastdeploy workspace` writes, and shows a new version without being told."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
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
        # launch runs right away (the default queue needs dagster-daemon)
        (home / "dagster.yaml").write_text(
            "run_coordinator:\n  module: dagster._core.run_coordinator\n"
            "  class: DefaultRunCoordinator\n"
        )
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
        assert control.deploy(LOCATION, v1.version, timeout=300).state == "serving"

    workspace = tmp_path / "workspace.yaml"
    run_cli("workspace", "--server", host.address, "-o", str(workspace))
    assert "grpc_server" in workspace.read_text()
    url = start_webserver(workspace)
    wait_for_assets(url, {"raw_orders", "raw_customers", "orders_by_region"})

    project_copy.add_asset("weekly_summary")
    v2 = project_copy.publish(file_store)
    with host.client() as control:
        assert control.deploy(LOCATION, v2.version, timeout=300).state == "serving"
    # no reload call: the webserver notices the endpoint's new server id by itself
    assert "weekly_summary" in wait_for_assets(url, {"weekly_summary"})

    # a run launched from the webserver goes through the endpoint (StartRun) to the new version
    # and runs in the location's PEX environment
    run_id = launch_run(url, "daily_refresh")
    assert wait_for_run(url, run_id) == "SUCCESS"


LAUNCH_RUN = """
mutation($job: String!, $location: String!) {
  launchRun(executionParams: {selector: {repositoryLocationName: $location,
      repositoryName: "__repository__", jobName: $job}, runConfigData: {}}) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""


def launch_run(url: str, job: str) -> str:
    request = urllib.request.Request(
        url,
        data=json.dumps(
            {"query": LAUNCH_RUN, "variables": {"job": job, "location": LOCATION}}
        ).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            result = json.load(response)["data"]["launchRun"]
    except urllib.error.HTTPError as e:
        raise AssertionError(e.read().decode()[-3000:]) from e
    assert result["__typename"] == "LaunchRunSuccess", result
    return str(result["run"]["runId"])


def wait_for_run(url: str, run_id: str, timeout: float = 300.0) -> str:
    query = '{ runOrError(runId: "' + run_id + '") { ... on Run { status } } }'
    deadline = time.monotonic() + timeout
    while True:
        status = graphql(url, query)["data"]["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return str(status)
        assert time.monotonic() < deadline, f"run {run_id} is still {status}"
        time.sleep(0.5)
