"""Draining: a call that is running on the old version when the endpoint switches finishes
there, and the old code server stops only after it."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from tests.fixtures_runtime import ProjectCopy
from tests.test_host import LOCATION, endpoint_port, wait_until_gone

SLOW_SENSOR = """

import os as _os
import time as _time


@dg.sensor(job=daily_refresh)
def slow_sensor(context):
    # tells the test it is running, then waits until the test lets it finish
    with open(_os.environ["SLOW_SENSOR_STARTED"], "w") as f:
        f.write("started")
    deadline = _time.monotonic() + 300
    while not _os.path.exists(_os.environ["SLOW_SENSOR_RELEASE"]) and _time.monotonic() < deadline:
        _time.sleep(0.05)
    return dg.SkipReason("evaluated by VERSION")


defs = dg.Definitions(
    assets=defs.assets,
    asset_checks=defs.asset_checks,
    jobs=defs.jobs,
    schedules=defs.schedules,
    sensors=[*defs.sensors, slow_sensor],
    resources=defs.resources,
)
"""


def evaluate_sensor(port: int, instance_dir: Path) -> str:
    """Evaluate slow_sensor through the endpoint with Dagster's own client."""
    from dagster import DagsterInstance
    from dagster._core.remote_origin import GrpcServerCodeLocationOrigin

    origin = GrpcServerCodeLocationOrigin(host="127.0.0.1", port=port, location_name=LOCATION)
    instance_dir.mkdir(parents=True, exist_ok=True)
    with (
        DagsterInstance.local_temp(str(instance_dir)) as instance,
        origin.create_location(instance) as code_location,
    ):
        (repo,) = code_location.get_repositories().values()
        data = code_location.get_sensor_execution_data(
            instance, repo.handle, "slow_sensor", None, None, None, None, None
        )
    return str(data.skip_message)


def wait_for_file(path: Path, caller: threading.Thread, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert caller.is_alive(), "the sensor call ended before the sensor started"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_a_call_running_during_the_swap_finishes_on_the_old_version(
    file_store: Any, project_copy: ProjectCopy, start_host: Any, tmp_path: Path
) -> None:
    started, release = tmp_path / "sensor-started", tmp_path / "sensor-release"
    host = start_host(
        file_store,
        env={"SLOW_SENSOR_STARTED": str(started), "SLOW_SENSOR_RELEASE": str(release)},
    )
    definitions = project_copy.package / "definitions.py"
    plain = definitions.read_text()
    definitions.write_text(plain + SLOW_SENSOR.replace("VERSION", "v1"))
    v1 = project_copy.publish(file_store)
    with host.client() as control:
        old = control.deploy(LOCATION, v1.version, timeout=300)
    assert old.state == "serving", old.error

    answers: list[str] = []
    caller = threading.Thread(
        target=lambda: answers.append(evaluate_sensor(endpoint_port(old), tmp_path / "dagster"))
    )
    caller.start()
    wait_for_file(started, caller)  # the evaluation is running on v1 now

    definitions.write_text(plain + SLOW_SENSOR.replace("VERSION", "v2"))
    v2 = project_copy.publish(file_store)
    with host.client() as control:
        new = control.deploy(LOCATION, v2.version, timeout=300)
    assert new.state == "serving" and new.server_id != old.server_id
    # switched, but the old code server is still there, serving the call it started
    assert Path(f"/proc/{old.code_server_pid}").exists()

    release.write_text("go")
    caller.join(300)
    assert answers == ["evaluated by v1"]
    wait_until_gone(old.code_server_pid)  # stopped once the call finished
    deadline = time.monotonic() + 60  # the stop step is logged once the host saw the exit
    while True:
        steps = [e for e in host.log() if e.get("event") == "rollout.step" and e["version"] == 1]
        if {"drain", "stop"} <= {e["step"] for e in steps} or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert {"drain", "stop"} <= {e["step"] for e in steps}
