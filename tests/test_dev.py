"""`dagster-fastdeploy dev`: a whole local Dagster (UI, daemon, runs, sensors) on a warm host,
seen through the Dagster webserver's GraphQL API. One dev session serves every test here, in
order: it starts on a project whose first version fails, is fixed, runs a job and a sensor,
takes an edit and a syntax error, and is stopped with SIGTERM."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_runtime import ProjectCopy, free_port, free_port_range
from tests.test_webserver import graphql, launch_run, wait_for_run

LOCATION = "example_project"


def graphql_asset_keys(url: str) -> set[str]:
    data = graphql(url, "{ assetNodes { assetKey { path } } }")
    return {"/".join(n["assetKey"]["path"]) for n in data["data"]["assetNodes"]}


def wait_until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
            if last:
                return last
        except OSError as e:  # the webserver is (re)loading
            last = e
        assert time.monotonic() < deadline, f"{what} (last: {last!r})"
        time.sleep(0.5)


class Lines:
    """The dev command's output, line by line, read on a thread."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.pushed_back: list[str] = []
        self.reader = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.reader.start()

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def _next(self, timeout: float) -> str:
        if self.pushed_back:
            return self.pushed_back.pop()
        return self.lines.get(timeout=timeout)

    def wait_for(self, text: str, timeout: float) -> str:
        """The next line holding `text`, with the indented lines printed right after it (a
        failure spans several lines)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._next(timeout=0.5)
            except queue.Empty:
                if not self.reader.is_alive() and self.lines.empty():
                    break  # its output is closed: nothing more will be printed
                continue
            self.seen.append(line)
            if text in line:
                block = [line]
                while True:
                    try:
                        more = self._next(timeout=0.3)
                    except queue.Empty:
                        return "\n".join(block)
                    if not more.startswith(" "):
                        self.pushed_back.append(more)
                        return "\n".join(block)
                    self.seen.append(more)
                    block.append(more)
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


@dataclass
class DevSession:
    proc: subprocess.Popen
    out: Lines
    project: ProjectCopy
    data_dir: Path
    dagster_home: Path
    url: str
    ui_port: int


MISSING_MODULE_LINE = "import example_project.not_written_yet\n"


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory, example_project_dir: Path, host_data_dir: Path):
    import shutil

    root = tmp_path_factory.mktemp("dev") / "example_project"
    shutil.copytree(example_project_dir, root, ignore=shutil.ignore_patterns("__pycache__"))
    project = ProjectCopy(root)
    # the very first version does not load: the user's import of a module that is not there
    definitions = project.package / "definitions.py"
    definitions.write_text(MISSING_MODULE_LINE + definitions.read_text())
    ui_port, host_port = free_port(), free_port()
    low, high = free_port_range(8)
    home = root.parent / "dagster-home"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dagster_fastdeploy.cli", "dev", str(root),
         "--store", (root.parent / "store").as_uri(), "--data-dir", str(host_data_dir),
         "--port", str(host_port), "--location-ports", f"{low}-{high}",
         "--ui-port", str(ui_port), "--dagster-home", str(home)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    session = DevSession(
        proc, Lines(proc), project, host_data_dir, home, f"http://127.0.0.1:{ui_port}/graphql",
        ui_port,
    )  # fmt: skip
    yield session
    if proc.poll() is None:  # a test failed before the last one stopped dev
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


LOCATION_ERRORS = """{ workspaceOrError { ... on Workspace { locationEntries { name
  locationOrLoadError { __typename ... on PythonError { message stack } } } } } }"""


def test_a_first_version_that_fails_is_reported_as_serving_nothing(dev: DevSession) -> None:
    failed = dev.out.wait_for("✗", timeout=600)
    assert "v1 failed" in failed and "nothing serves it yet" in failed
    assert "still serving" not in failed
    # the user's file (its path in the project), line, the offending line; their frames only
    headline = "src/example_project/definitions.py:1: ModuleNotFoundError"
    assert headline in failed and MISSING_MODULE_LINE.strip() in failed
    assert "site-packages" not in failed and "/sources/source-" not in failed


def test_the_ui_shows_the_users_error_on_the_location(dev: DevSession) -> None:
    """The location's endpoint answers as a Dagster code server whose code failed to load."""

    def location_error() -> dict[str, Any] | None:
        data = graphql(dev.url, LOCATION_ERRORS)["data"]["workspaceOrError"]
        (entry,) = [e for e in data["locationEntries"] if e["name"] == LOCATION]
        return entry["locationOrLoadError"]

    error = wait_until(location_error, 180, "the UI shows no error on the location")
    assert error["__typename"] == "PythonError", error
    assert "ModuleNotFoundError" in error["message"] and "not_written_yet" in error["message"]
    stack = "".join(error["stack"])
    assert "src/example_project/definitions.py" in stack and "site-packages" not in stack


def test_the_fix_serves_and_the_ui_shows_its_assets(dev: DevSession) -> None:
    definitions = dev.project.package / "definitions.py"
    definitions.write_text(definitions.read_text().replace(MISSING_MODULE_LINE, ""))
    line = dev.out.wait_for("serving in", timeout=300)
    assert "v2" in line and "+asset orders_by_region" in line and "+job daily_refresh" in line
    wait_until(
        lambda: "orders_by_region" in graphql_asset_keys(dev.url), 120, "the UI shows the assets"
    )


def test_a_run_launched_in_the_ui_is_run_by_the_daemon_to_success(dev: DevSession) -> None:
    run_id = launch_run(dev.url, "daily_refresh")  # queued: dagster-daemon launches it
    assert wait_for_run(dev.url, run_id) == "SUCCESS"
    assert (dev.dagster_home / "history").is_dir()  # on the --dagster-home instance


SENSOR = """{repositoryLocationName: "example_project", repositoryName: "__repository__",
  sensorName: "new_orders_sensor"}"""
START_SENSOR = (
    "mutation { startSensor(sensorSelector: " + SENSOR + ") { __typename "
    "... on PythonError { message } } }"
)
SENSOR_TICKS = (
    "{ sensorOrError(sensorSelector: " + SENSOR + ") { __typename "
    "... on Sensor { sensorState { status ticks(limit: 5) { status runIds } } } } }"
)


def test_the_example_sensor_ticks_once_started(dev: DevSession) -> None:
    started = graphql(dev.url, START_SENSOR)["data"]["startSensor"]
    assert started["__typename"] == "Sensor", started

    def ticked() -> list[dict[str, Any]]:
        state = graphql(dev.url, SENSOR_TICKS)["data"]["sensorOrError"]["sensorState"]
        return [t for t in state["ticks"] if t["status"] == "SUCCESS"]

    ticks = wait_until(ticked, 180, "the sensor never ticked")
    assert ticks[0]["runIds"]  # its RunRequest became a run
    assert wait_for_run(dev.url, ticks[0]["runIds"][0]) == "SUCCESS"


def test_an_edit_is_live_in_the_ui_without_a_reload(dev: DevSession) -> None:
    dev.project.add_asset("added_in_dev")
    line = dev.out.wait_for("serving in", timeout=300)
    assert "v3" in line and "+asset added_in_dev" in line and "fast path" in line
    # the webserver notices the new server id by itself: no reload is asked for
    wait_until(
        lambda: "added_in_dev" in graphql_asset_keys(dev.url), 60, "the UI shows the new asset"
    )


def test_a_syntax_error_keeps_the_previous_version_serving(dev: DevSession) -> None:
    line = dev.project.break_syntax()
    failed = dev.out.wait_for("✗", timeout=300)
    assert "v4 failed" in failed and "still serving v3" in failed
    assert f"src/example_project/assets.py:{line}: SyntaxError" in failed
    assert "def broken(:" in failed and "site-packages" not in failed
    assert "added_in_dev" in graphql_asset_keys(dev.url)


def test_status_finds_devs_host_without_server(dev: DevSession) -> None:
    import json

    from tests.test_host import run_cli

    (entry,) = json.loads(run_cli("status", "--json").stdout)["locations"]
    assert entry["name"] == LOCATION and entry["serving_version"] == 3
    assert entry["state"] == "failed" and entry["error"]["file"] == "src/example_project/assets.py"


def test_dev_writes_no_build_into_the_project(dev: DevSession) -> None:
    assert not (dev.project.root / "dist").exists()
    builds = dev.data_dir / "builds" / LOCATION
    assert len(list(builds.glob("source-*.pex"))) == 1  # only the newest build is kept


def test_sigterm_stops_everything(dev: DevSession) -> None:
    dev.proc.send_signal(signal.SIGTERM)
    code = dev.proc.wait(60)
    dev.out.wait_for("stopped", timeout=10)
    assert code == 0
    assert processes_mentioning(str(dev.data_dir)) == []
    assert processes_mentioning(f"-p {dev.ui_port}") == []
