"""Plain `dagster dev -w` on both workspace forms `dagster-fastdeploy workspace` writes: the
grpc_server form (a running host's stable endpoint) and `--local` (no host: dagster dev starts
the code server itself in the environment materialized from the deployed PEX files)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.fixtures_runtime import VENV_BIN, ProjectCopy, free_port
from tests.test_host import LOCATION, run_cli
from tests.test_webserver import launch_run, wait_for_assets, wait_for_run

EXAMPLE_ASSETS = {"raw_orders", "raw_customers", "orders_by_region"}


@pytest.fixture
def dagster_dev(tmp_path: Path) -> Iterator[Callable[[Path], str]]:
    """dagster_dev(workspace) -> the GraphQL URL of a `dagster dev -w workspace` (its webserver,
    daemon and any code servers it starts are stopped at teardown)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(workspace: Path) -> str:
        port = free_port()
        home = tmp_path / f"dagster-home-{len(started)}"
        home.mkdir()
        with open(tmp_path / f"dagster-dev-{len(started)}.log", "ab") as log:
            started.append(
                subprocess.Popen(
                    [str(VENV_BIN / "dagster"), "dev", "-w", str(workspace),
                     "-h", "127.0.0.1", "-p", str(port)],
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                    env={**os.environ, "DAGSTER_HOME": str(home)},
                )
            )  # fmt: skip
        return f"http://127.0.0.1:{port}/graphql"

    yield start
    for process in started:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        with suppress(subprocess.TimeoutExpired):
            process.wait(60)
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_dagster_dev_runs_the_deployed_pex_files_without_a_host(
    file_store: Any, project_copy: ProjectCopy, host_data_dir: Path, tmp_path: Path,
    dagster_dev: Callable[[Path], str],
) -> None:  # fmt: skip
    project_copy.add_asset("only_in_the_deployed_version")
    project_copy.publish(file_store)
    workspace = tmp_path / "workspace.yaml"
    run_cli("workspace", "--local", "--store", file_store.url, "--data-dir", str(host_data_dir),
            "-o", str(workspace))  # fmt: skip
    text = workspace.read_text()
    assert "python_module" in text and "executable_path" in text
    assert str(host_data_dir / "sources") in text  # the materialized source.pex

    url = dagster_dev(workspace)
    wait_for_assets(url, {*EXAMPLE_ASSETS, "only_in_the_deployed_version"})
    # the run runs in the PEX environment too (dagster dev's daemon launches it with the
    # entry's executable_path)
    run_id = launch_run(url, "daily_refresh")
    assert wait_for_run(url, run_id) == "SUCCESS"


def test_dagster_dev_loads_a_running_hosts_endpoint(
    file_store: Any, project_copy: ProjectCopy, start_host: Any, tmp_path: Path,
    dagster_dev: Callable[[Path], str],
) -> None:  # fmt: skip
    host = start_host(file_store)
    version = project_copy.publish(file_store)
    with host.client() as control:
        assert control.deploy(LOCATION, version.version, timeout=300).state == "serving"
    workspace = tmp_path / "workspace.yaml"
    run_cli("workspace", "-o", str(workspace))  # no --server: the one running host
    assert "grpc_server" in workspace.read_text()
    wait_for_assets(dagster_dev(workspace), EXAMPLE_ASSETS)
