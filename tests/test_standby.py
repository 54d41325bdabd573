"""The standby pool end to end: real `serve` processes, real standbys (one fork server per deps
environment) and the code servers forked from them, Dagster's own client on the endpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from dagster_fastdeploy.host_api import LocationStatus, StandbyPoolStatus
from tests.fixtures_runtime import OTHER_PYTHON, VENV_BIN, ProjectCopy, publish
from tests.test_host import asset_keys_through_dagster, endpoint_port, run_cli, wait_until_gone

LOCATION = "example_project"


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def standbys(host: Any) -> StandbyPoolStatus:
    with host.client() as control:
        return control.status().standby


def deploy(host: Any, version: int) -> LocationStatus:
    with host.client() as control:
        result = control.deploy(LOCATION, version, timeout=300)
    assert result.state == "serving", result.error
    return result


def test_a_source_only_deploy_is_served_by_the_standby_which_stays_ready(
    file_store: Any, project_copy: ProjectCopy, start_host: Any
) -> None:
    host = start_host(file_store)
    first = deploy(host, project_copy.publish(file_store).version)
    # the environment had no standby yet: it is started, then the code server forked from it
    assert {"standby_start", "handover", "load"} <= set(first.steps)
    assert "start" not in first.steps
    (standby,) = standbys(host).environments
    assert standby.state == "ready"
    assert parent_of(first.code_server_pid) == standby.pid

    project_copy.add_asset("added_by_the_standby")
    second_version = project_copy.publish(file_store).version
    deploy_started = time.time()
    second = deploy(host, second_version)
    assert {"handover", "load"} <= set(second.steps)
    assert not {"start", "standby_start"} & set(second.steps)
    # the process that serves v2 is a fork of the standby, which was ready before the deploy
    assert parent_of(second.code_server_pid) == standby.pid
    assert standby.ready_since < deploy_started
    keys, server_id = asset_keys_through_dagster(endpoint_port(second))
    assert "added_by_the_standby" in keys and server_id == second.server_id

    # a standby is ready after the hand-over, for the next edit
    (after,) = standbys(host).environments
    assert after.state == "ready" and after.pid == standby.pid
    assert after.handovers == 2
    events = [e["event"] for e in host.log() if e.get("event", "").startswith("standby.")]
    assert events.count("standby.handover") == 2 and "standby.ready" in events
    wait_until_gone(first.code_server_pid)  # v1 drains and stops after the switch
    readable = run_cli("status", "--server", host.address).stdout
    assert f"ready, pid {standby.pid}, 1 code servers forked from it" in readable


def test_the_standby_never_imports_user_code_and_preloads_what_the_last_version_used(
    file_store: Any, project_copy: ProjectCopy, start_host: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "imported-by.txt"
    definitions = project_copy.package / "definitions.py"
    definitions.write_text(
        f"import os as _os\nopen({str(marker)!r}, 'a').write(f'{{_os.getpid()}}\\n')\n"
        + definitions.read_text()
    )
    host = start_host(file_store)
    first = deploy(host, project_copy.publish(file_store).version)
    (standby,) = standbys(host).environments
    project_copy.add_asset("second_version")
    second = deploy(host, project_copy.publish(file_store).version)

    importers = {int(line) for line in marker.read_text().split()}
    assert importers == {first.code_server_pid, second.code_server_pid}
    assert standby.pid not in importers
    # the first version's imports from the deps environment are remembered for the standby
    remembered = json.loads((host.data_dir / "preload" / f"{standby.environment}.json").read_text())
    assert remembered and not [m for m in remembered if m.startswith("example_project")]
    deadline = time.monotonic() + 120  # the standby imports them in the background
    while standbys(host).environments[0].preloaded_modules < len(remembered):
        assert time.monotonic() < deadline, standbys(host)
        time.sleep(0.1)


def test_a_dagster_112_location_runs_through_its_standby_and_a_deps_change_replaces_it(
    file_store: Any, deps_pex_112: Path, project_copy: ProjectCopy, tmp_path: Path, start_host: Any
) -> None:
    project = tmp_path / "legacy"
    project.mkdir()
    (project / "legacy_defs.py").write_text(
        "import dagster as dg\n\n\n@dg.asset\ndef legacy_asset() -> int:\n    return 1\n\n\n"
        "defs = dg.Definitions(assets=[legacy_asset])\n"
    )
    source = tmp_path / "legacy-source.pex"
    subprocess.run([str(VENV_BIN / "pex"), "-D", str(project), "-o", str(source)], check=True)
    target = {"python_file": "legacy_defs.py", "attribute": "defs"}
    host = start_host(file_store)
    old = publish(file_store, "prod", LOCATION, deps_pex_112, source, target, python=OTHER_PYTHON)
    on_112 = deploy(host, old.version)
    assert on_112.dagster_version.startswith("1.12.") and "handover" in on_112.steps
    (standby_112,) = standbys(host).environments
    assert parent_of(on_112.code_server_pid) == standby_112.pid
    assert asset_keys_through_dagster(endpoint_port(on_112))[0] == {"legacy_asset"}

    # the same code on another deps.pex (dagster 1.13): a new environment, a new standby
    new_deps = project_copy.build().deps_path
    new = publish(file_store, "prod", LOCATION, new_deps, source, target)
    # as on a host that never served this deps.pex (the data dir is shared by the session)
    new_environment = new_deps.name.removesuffix(".pex")
    (host.data_dir / "preload" / f"{new_environment}.json").unlink(missing_ok=True)
    on_113 = deploy(host, new.version)
    assert on_113.dagster_version.startswith("1.13.")
    assert {"standby_start", "handover"} <= set(on_113.steps)
    # The new environment's standby started inside the materialize step (as soon as its deps
    # venv existed); it inherits the previous environment's modules (the new one has none
    # remembered yet) and imports them once the first code server is forked, not before.
    events = host.log()
    starting = [
        i
        for i, e in enumerate(events)
        if e.get("event") == "standby.starting" and e["environment"] != standby_112.environment
    ]
    materialized = [
        i
        for i, e in enumerate(events)
        if e.get("event") == "rollout.step"
        and e.get("step") == "materialize"
        and e.get("version") == new.version
    ]
    assert starting and materialized and starting[0] < materialized[0]
    remembered = json.loads(
        (host.data_dir / "preload" / f"{standby_112.environment}.json").read_text()
    )
    inherited = events[starting[0]]["preload_after_handover"]
    assert remembered and inherited > 0 and events[starting[0]]["preload"] == 0
    wait_until_gone(on_112.code_server_pid)
    wait_until_gone(standby_112.pid)  # its environment serves nothing any more
    deadline = time.monotonic() + 60
    while len(standbys(host).environments) != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    (standby_113,) = standbys(host).environments
    assert standby_113.environment != standby_112.environment
    while standbys(host).environments[0].preloaded_modules < inherited:
        assert time.monotonic() < deadline, "the inherited modules were never preloaded"
        time.sleep(0.1)
    assert parent_of(on_113.code_server_pid) == standby_113.pid
    deadline = time.monotonic() + 60
    while not (stopped := [e for e in host.log() if e.get("event") == "standby.stopped"]):
        assert time.monotonic() < deadline, "no standby.stopped event"  # logged after its exit
        time.sleep(0.1)
    assert [e["environment"] for e in stopped] == [standby_112.environment]


def test_no_standby_starts_every_version_cold(
    file_store: Any, project_copy: ProjectCopy, start_host: Any
) -> None:
    host = start_host(file_store, extra_args=["--no-standby"])
    result = deploy(host, project_copy.publish(file_store).version)
    assert "start" in result.steps
    assert not {"handover", "standby_start"} & set(result.steps)
    assert standbys(host) == StandbyPoolStatus(enabled=False, environments=[])
    assert host.process is not None
    assert parent_of(result.code_server_pid) == host.process.pid


@pytest.mark.faults
def test_kill_9_of_the_host_leaves_no_standby_or_forked_code_server_behind(
    file_store: Any, project_copy: ProjectCopy, start_host: Any
) -> None:
    host = start_host(file_store)
    result = deploy(host, project_copy.publish(file_store).version)
    (standby,) = standbys(host).environments
    assert os.path.exists(f"/proc/{standby.pid}")
    host.kill9()
    wait_until_gone(standby.pid)
    wait_until_gone(result.code_server_pid)


@pytest.mark.faults
def test_a_standby_that_dies_is_replaced_and_its_code_servers_keep_serving(
    file_store: Any, project_copy: ProjectCopy, start_host: Any
) -> None:
    host = start_host(file_store)
    first = deploy(host, project_copy.publish(file_store).version)
    (standby,) = standbys(host).environments
    os.kill(standby.pid, signal.SIGKILL)
    wait_until_gone(standby.pid)
    # the code server forked from it still answers
    keys, server_id = asset_keys_through_dagster(endpoint_port(first))
    assert "raw_orders" in keys and server_id == first.server_id

    project_copy.add_asset("after_the_standby_died")
    second = deploy(host, project_copy.publish(file_store).version)
    assert {"standby_start", "handover"} <= set(second.steps)
    (replacement,) = standbys(host).environments
    assert replacement.pid != standby.pid and replacement.state == "ready"
    assert parent_of(second.code_server_pid) == replacement.pid
    assert "after_the_standby_died" in asset_keys_through_dagster(endpoint_port(second))[0]
    assert any(e.get("event") == "standby.exited" for e in host.log())


@pytest.mark.faults
def test_killing_a_code_server_that_does_not_lead_its_own_process_group_yet_returns(
    tmp_path: Path,
) -> None:
    """A child forked a moment ago calls setsid first thing; killed before that (a rollout whose
    environment failed while its code server was forked ahead), killing its group finds no
    group. The kill must still end it, not wait for it forever."""
    import threading

    from dagster_fastdeploy.runtime.code_server_process import CodeServerProcess

    child = subprocess.Popen(["sleep", "300"])  # in our process group, as before its setsid
    with pytest.raises(ProcessLookupError):
        os.killpg(child.pid, 0)  # no group of its own
    process = CodeServerProcess(child, tmp_path, tmp_path / "code_server.log")
    killer = threading.Thread(target=process.kill, daemon=True)
    killer.start()
    killer.join(10)
    try:
        assert not killer.is_alive(), "kill() waited for a process it never signalled"
        assert child.returncode == -signal.SIGKILL
    finally:
        child.kill()
        child.wait()
