"""`dagster-fastdeploy dev`: one command for the local loop, seen through the Dagster UI."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from tests.fixtures_runtime import ProjectCopy, free_port, free_port_range


def graphql_asset_keys(ui_port: int) -> set[str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{ui_port}/graphql",
        data=json.dumps({"query": "{ assetNodes { assetKey { path } } }"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        data = json.loads(response.read())
    return {"/".join(n["assetKey"]["path"]) for n in data["data"]["assetNodes"]}


class Lines:
    """The dev command's output, line by line, read on a thread."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.reader.start()

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if not self.reader.is_alive() and self.lines.empty():
                    break  # its output is closed: nothing more will be printed
                continue
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(
            f"{text!r} not printed (exit code {self.proc.poll()}, waited up to {timeout}s); "
            "got:\n" + "\n".join(self.seen)
        )


def processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline:
                found.append(f"{entry.name}: {cmdline}")
    return found


def test_dev_serves_the_project_in_the_ui_deploys_each_save_and_stops_everything(
    project_copy: ProjectCopy, host_data_dir: Path, tmp_path: Path
) -> None:
    ui_port, host_port = free_port(), free_port()
    low, high = free_port_range(8)
    store = (tmp_path / "dev-store").as_uri()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dagster_fastdeploy.cli", "dev", str(project_copy.root),
         "--store", store, "--data-dir", str(host_data_dir), "--port", str(host_port),
         "--location-ports", f"{low}-{high}", "--ui-port", str(ui_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    out = Lines(proc)
    try:
        first = out.wait_for("serving in", timeout=600)
        assert "+asset orders_by_region" in first and "+job daily_refresh" in first
        out.wait_for("watching", timeout=180)
        assert "orders_by_region" in graphql_asset_keys(ui_port)

        project_copy.add_asset("added_in_dev")
        line = out.wait_for("serving in", timeout=300)
        assert "v2" in line and "+asset added_in_dev" in line and "fast path" in line
        # the webserver notices the new server id by itself: no reload is asked for
        deadline = time.monotonic() + 60
        while "added_in_dev" not in graphql_asset_keys(ui_port):
            assert time.monotonic() < deadline, "the UI never showed the new asset"
            time.sleep(0.5)

        project_copy.break_syntax()
        failed = out.wait_for("✗", timeout=300)
        assert "still serving the previous version" in failed
        assert "added_in_dev" in graphql_asset_keys(ui_port)
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
    out.wait_for("stopped", timeout=10)
    assert code == 0
    assert processes_mentioning(str(host_data_dir)) == []
    assert processes_mentioning(f"-p {ui_port}") == []
