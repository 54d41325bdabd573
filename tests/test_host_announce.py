"""A running host announces its control address; `status` and `workspace` find it without
`--server` (the session's DAGSTER_FASTDEPLOY_HOME is a tmp dir, see conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_runtime import VENV_BIN


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [str(VENV_BIN / "dagster-fastdeploy"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def hosts_dir() -> Path:
    return Path(os.environ["DAGSTER_FASTDEPLOY_HOME"]) / "hosts"


def announced(count: int) -> list[dict[str, Any]]:
    """The announce files once `count` are there: a host answers its control API a moment
    before it has announced itself (it starts the control server first)."""
    deadline = time.monotonic() + 60
    while True:
        files = sorted(hosts_dir().glob("*.json"))
        if len(files) >= count or time.monotonic() > deadline:
            return [json.loads(p.read_text()) for p in files]
        time.sleep(0.05)


def test_status_and_workspace_find_the_one_running_host(
    file_store: Any, start_host: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a home of this test's own: hosts other tests of the session keep running announce too
    monkeypatch.setenv("DAGSTER_FASTDEPLOY_HOME", str(tmp_path / "home"))
    host = start_host(file_store)
    (first,) = announced(1)
    assert first["address"] == host.address and first["store"] == file_store.url

    # a file left by a host killed with -9 (its pid is gone) is ignored, and removed
    stale = hosts_dir() / "999999999.json"
    stale.write_text(json.dumps({**first, "pid": 999999999, "address": "127.0.0.1:1"}))

    status = cli("status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["locations"] == []
    assert cli("workspace").stdout == "load_from: []\n"
    assert not stale.exists()

    second = start_host(file_store)
    assert len(announced(2)) == 2
    several = cli("status")
    assert several.returncode != 0
    assert "--server" in several.stderr
    assert host.address in several.stderr and second.address in several.stderr

    host.stop()
    second.stop()
    assert list(hosts_dir().glob("*.json")) == []  # each removed its file on exit
