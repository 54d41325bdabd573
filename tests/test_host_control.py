"""The control API's guard: a token when the host listens beyond loopback, refusal otherwise."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dagster_fastdeploy.errors import HostError
from dagster_fastdeploy.runtime.control_client import ControlClient
from tests.fixtures_runtime import VENV_BIN, free_port


@pytest.mark.faults
def test_a_call_with_a_wrong_token_is_refused(
    file_store: Any, start_host: Any, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    host = start_host(file_store, extra_args=["--token-file", str(token_file)],
                      env={"DAGSTER_FASTDEPLOY_TOKEN": "s3cret-token"})  # fmt: skip
    with ControlClient(host.address, token="s3cret-token") as client:
        assert client.health().ok is True
    for wrong, said in (("guess", "refused the token"), ("", "none was given")):
        with ControlClient(host.address, token=wrong) as client, pytest.raises(HostError) as e:
            client.status()
        assert said in str(e.value)


def test_status_and_workspace_send_the_token_from_token_file(
    file_store: Any, start_host: Any, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    host = start_host(file_store, extra_args=["--token-file", str(token_file)],
                      env={"DAGSTER_FASTDEPLOY_TOKEN": "s3cret-token"})  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_FASTDEPLOY_TOKEN"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [str(VENV_BIN / "dagster-fastdeploy"), *args, "--server", host.address]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)

    status = cli("status", "--json", "--token-file", str(token_file))
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["locations"] == []
    workspace = cli("workspace", "--token-file", str(token_file))
    assert workspace.returncode == 0, workspace.stderr
    assert workspace.stdout == "load_from: []\n"
    for command in ("status", "workspace"):
        refused = cli(command)
        assert refused.returncode != 0
        assert "none was given" in refused.stderr and "--token-file" in refused.stderr


@pytest.mark.faults
def test_serve_beyond_loopback_without_a_token_refuses_to_start(
    file_store: Any, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_FASTDEPLOY_TOKEN"}
    result = subprocess.run(
        [str(VENV_BIN / "dagster-fastdeploy"), "serve", "--store", file_store.url,
         "--data-dir", str(tmp_path / "data"), "--host", "0.0.0.0", "--port", str(free_port())],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert "without a token" in result.stderr and "Traceback" not in result.stderr


def test_status_says_what_to_do_when_no_host_answers() -> None:
    result = subprocess.run(
        [str(VENV_BIN / "dagster-fastdeploy"), "status", "--server", f"127.0.0.1:{free_port()}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "dagster-fastdeploy serve" in result.stderr and "Traceback" not in result.stderr
