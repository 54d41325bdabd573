"""The warm host end to end: real `serve` processes, real code servers from PEX artifacts, real
gRPC through the stable endpoint, Dagster's own client on the other side."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dagster_fastdeploy.host_api import LocationStatus, RemoveAnswer
from tests.fixtures_runtime import OTHER_PYTHON, VENV_BIN, ProjectCopy, publish

LOCATION = "example_project"


def endpoint_port(status_entry: LocationStatus) -> int:
    assert status_entry.endpoint is not None
    return int(status_entry.endpoint.rpartition(":")[2])


def asset_keys_through_dagster(port: int, location: str = LOCATION) -> tuple[set[str], str]:
    """Load the location the way the webserver does (Dagster's gRPC client), return its asset
    keys and the server id it answered with."""
    from dagster import DagsterInstance
    from dagster._core.remote_origin import GrpcServerCodeLocationOrigin

    origin = GrpcServerCodeLocationOrigin(host="127.0.0.1", port=port, location_name=location)
    with DagsterInstance.ephemeral() as instance, origin.create_location(instance) as code_location:
        keys = set()
        for repo in code_location.get_repositories().values():
            keys |= {n.asset_key.to_user_string() for n in repo.get_asset_node_snaps()}
        server_id = code_location.client.get_server_id()
    return keys, server_id


def test_deploy_serves_through_stable_endpoint_and_swaps_without_a_failed_call(
    file_store: Any, project_copy: ProjectCopy, start_host: Any
) -> None:
    host = start_host(file_store)
    v1 = project_copy.publish(file_store)
    with host.client() as control:
        first = control.deploy(LOCATION, v1.version, timeout=300)
    assert first.state == "serving", first.error
    assert first.version == 1
    assert set(first.steps) >= {"fetch", "materialize", "load", "switch"}
    assert "handover" in first.steps  # forked from the environment's standby

    port = endpoint_port(first)
    keys, server_id = asset_keys_through_dagster(port)
    assert keys == {"raw_orders", "raw_customers", "orders_by_region"}
    assert server_id == first.server_id

    from dagster._grpc.client import DagsterGrpcClient

    # a server-streaming method passes through the endpoint too
    events = list(DagsterGrpcClient(port=port, host="127.0.0.1").streaming_ping(3, "echo"))
    assert [e["sequence_number"] for e in events] == [0, 1, 2]

    # A client calling the endpoint in a loop during the swap sees no failed call.
    failures: list[BaseException] = []
    calls = 0
    stop = threading.Event()

    def call_in_a_loop() -> None:
        nonlocal calls
        client = DagsterGrpcClient(port=port, host="127.0.0.1")
        deadline = time.monotonic() + 600
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                client.list_repositories()
                client.get_server_id()
                calls += 1
            except BaseException as e:  # noqa: BLE001 - any failure is what we look for
                failures.append(e)

    looper = threading.Thread(target=call_in_a_loop)
    looper.start()
    try:
        project_copy.add_asset("new_orders_report")
        v2 = project_copy.publish(file_store)
        with host.client() as control:
            second = control.deploy(LOCATION, v2.version, timeout=300)
        calls_at_switch = calls
        # keep calling while the old version drains and stops
        wait_until_gone(first.code_server_pid)
        deadline = time.monotonic() + 60
        while calls <= calls_at_switch and not failures:
            assert time.monotonic() < deadline, "no call went through after the switch"
            time.sleep(0.05)
    finally:
        stop.set()
        looper.join()
    assert second.state == "serving", second.error
    assert failures == []
    assert calls > calls_at_switch > 0

    keys, new_server_id = asset_keys_through_dagster(port)
    assert "new_orders_report" in keys
    assert new_server_id == second.server_id != server_id

    # the source-only change reused the deps environment: nothing to materialize but the source
    events = [e for e in host.log() if e.get("event") == "rollout.step" and e["version"] == 2]
    assert {e["step"] for e in events} >= {"fetch", "materialize", "handover", "load", "switch"}

    with host.client() as control:
        status = control.status().locations
    (entry,) = status
    assert entry.name == LOCATION and entry.state == "serving" and entry.version == 2
    definitions = entry.definitions
    assert "new_orders_report" in {a["key"] for a in definitions["assets"]}
    assert {
        "key": "orders_by_region",
        "group": "analytics",
        "deps": ["raw_customers", "raw_orders"],
        "kinds": ["pandas"],
    } in definitions["assets"]
    assert definitions["schedules"] == [
        {"name": "daily_refresh_schedule", "cron": "0 6 * * *", "job": "daily_refresh"}
    ]
    assert definitions["jobs"] == ["daily_refresh"]
    assert definitions["resources"] == ["warehouse"]
    assert [c["name"] for c in definitions["asset_checks"]] == ["orders_have_positive_amounts"]
    assert [s["name"] for s in definitions["sensors"]] == ["new_orders_sensor"]
    # the host process itself never imported dagster
    with host.client() as control:
        assert control.health().dagster_imported is False


def test_a_syntax_error_keeps_the_old_version_serving_and_status_shows_file_and_line(
    file_store: Any, project_copy: ProjectCopy, start_host: Any
) -> None:
    host = start_host(file_store)
    good = project_copy.publish(file_store)
    with host.client() as control:
        serving = control.deploy(LOCATION, good.version, timeout=300)
    assert serving.state == "serving", serving.error

    line = project_copy.break_syntax()
    bad = project_copy.publish(file_store)
    with host.client() as control:
        failed = control.deploy(LOCATION, bad.version, timeout=300)
    assert failed.state == "failed"
    assert failed.error.type == "SyntaxError"
    assert failed.error.file.endswith("example_project/assets.py")
    assert failed.error.line == line

    # the old version still answers on the same endpoint
    keys, server_id = asset_keys_through_dagster(endpoint_port(serving))
    assert server_id == serving.server_id
    assert "raw_orders" in keys

    status = run_cli("status", "--server", host.address, "--json")
    (entry,) = json.loads(status.stdout)["locations"]
    assert entry["state"] == "failed" and entry["version"] == bad.version
    assert entry["serving_version"] == good.version
    assert entry["error"]["line"] == line
    assert entry["error"]["file"] == "src/example_project/assets.py"
    readable = run_cli("status", "--server", host.address).stdout
    assert f"assets.py:{line}" in readable and "SyntaxError" in readable


@pytest.mark.faults
def test_deploy_command_exits_non_zero_when_the_new_version_fails(
    file_store: Any, project_copy: ProjectCopy, start_host: Any
) -> None:
    host = start_host(file_store)
    ok = run_cli("deploy", str(project_copy.root), "--store", file_store.url,
                 "--server", host.address, "--timeout", "600", check=False)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    # not a terminal: one line per step on stderr
    steps = [line for line in ok.stderr.splitlines() if line.startswith("[")]
    assert any("Building example_project" in step for step in steps), ok.stderr
    assert any("Uploading deps-" in step and "MB to send" in step for step in steps), ok.stderr
    line = project_copy.break_syntax()
    broken = run_cli("deploy", str(project_copy.root), "--store", file_store.url,
                     "--server", host.address, "--timeout", "600", check=False)  # fmt: skip
    assert broken.returncode != 0
    # the user's file and line, the offending code, their frames only; v1 still serves
    assert f"src/example_project/assets.py:{line}: SyntaxError" in broken.stdout
    assert "def broken(:" in broken.stdout and "site-packages" not in broken.stdout
    assert "keeps serving v1" in broken.stderr
    as_json = run_cli("deploy", str(project_copy.root), "--store", file_store.url, "--json",
                      "--server", host.address, "--timeout", "600", check=False)  # fmt: skip
    assert not [line for line in as_json.stderr.splitlines() if line.startswith("[")]
    error = json.loads(as_json.stdout)["error"]  # stdout is the JSON, nothing else
    assert error["file"] == "src/example_project/assets.py" and error["line"] == line
    assert error["materialized_file"].endswith("/example_project/assets.py")
    with host.client() as control:
        (entry,) = control.status().locations
    assert entry.state == "failed" and entry.serving_version == 1


@pytest.mark.faults
def test_kill_9_and_restart_serves_every_recorded_version_on_its_old_port(
    file_store: Any, project_copy: ProjectCopy, start_host: Any
) -> None:
    host = start_host(file_store)
    for name in (LOCATION, "second_location"):
        project_copy.publish(file_store, name)
    before = wait_for_status(host, lambda locs: len(locs) == 2 and all_serving(locs))
    endpoint_ports = [endpoint_port(loc) for loc in before]
    old_code_servers = [loc.code_server_pid for loc in before]

    host.kill9()
    # the orphaned code servers notice (their pipe from the host closes) and exit
    for pid in old_code_servers:
        wait_until_gone(pid)
    restarted = start_host(
        file_store, port=host.port, location_ports=host.location_ports, data_dir=host.data_dir
    )
    # nobody calls Deploy: the host converges from the store's records by itself
    after = wait_for_status(restarted, lambda locs: len(locs) == 2 and all_serving(locs))
    assert [(loc.name, loc.endpoint, loc.version) for loc in after] == [
        (loc.name, loc.endpoint, loc.version) for loc in before
    ]
    for port in endpoint_ports:
        keys, _ = asset_keys_through_dagster(port)
        assert "raw_orders" in keys

    # a version recorded later (no Deploy call either) is picked up by the reconcile loop
    project_copy.add_asset("late_asset")
    project_copy.publish(file_store)
    wait_for_status(
        restarted,
        lambda locs: any(loc.name == LOCATION and loc.version == 2 and
                         loc.state == "serving" for loc in locs),
    )  # fmt: skip
    keys, _ = asset_keys_through_dagster(endpoint_ports[0])
    assert "late_asset" in keys

    # a second host on the same store (and environment cache) converges to the same versions
    second = start_host(file_store, data_dir=host.data_dir)
    converged = wait_for_status(
        second, lambda locs: [(loc.name, loc.version, loc.state) for loc in locs]
        == [(LOCATION, 2, "serving"), ("second_location", 1, "serving")],
    )  # fmt: skip
    keys, _ = asset_keys_through_dagster(endpoint_port(converged[0]))
    assert "late_asset" in keys


def test_a_location_can_pin_another_dagster_and_python_version_than_the_host(
    file_store: Any, deps_pex_112: Path, tmp_path: Path, start_host: Any
) -> None:
    project = tmp_path / "legacy"
    project.mkdir()
    (project / "legacy_defs.py").write_text(
        "import dagster as dg\n\n\n@dg.asset\ndef legacy_asset() -> int:\n    return 1\n\n\n"
        "defs = dg.Definitions(assets=[legacy_asset])\n"
    )
    source = tmp_path / "legacy-source.pex"
    subprocess.run([str(VENV_BIN / "pex"), "-D", str(project), "-o", str(source)], check=True)
    host = start_host(file_store)
    version = publish(file_store, "prod", "legacy", deps_pex_112, source,
                      {"python_file": "legacy_defs.py", "attribute": "defs"},
                      python=OTHER_PYTHON)  # fmt: skip
    with host.client() as control:
        result = control.deploy("legacy", version.version, timeout=600)
    assert result.state == "serving", result.error
    assert result.dagster_version.startswith("1.12.")
    assert result.python_version.startswith(OTHER_PYTHON + ".")
    keys, server_id = asset_keys_through_dagster(endpoint_port(result), "legacy")
    assert keys == {"legacy_asset"} and server_id == result.server_id


def test_rollback_serves_an_old_version_again_and_remove_frees_the_endpoint(
    file_store: Any, project_copy: ProjectCopy, start_host: Any
) -> None:
    host = start_host(file_store)
    first = project_copy.publish(file_store)
    project_copy.add_asset("short_lived")
    second = project_copy.publish(file_store)
    with host.client() as control:
        assert control.deploy(LOCATION, second.version, timeout=300).state == "serving"
        rolled = control.rollback(LOCATION, first.version, timeout=300)
    assert rolled.state == "serving" and rolled.version == 3
    assert rolled.pex_tag == first.pex_tag
    keys, server_id = asset_keys_through_dagster(endpoint_port(rolled))
    assert "short_lived" not in keys and server_id == rolled.server_id
    record = file_store.read_record("prod", LOCATION)
    assert record.current.version == 3 and record.current.rollback_of == first.version

    with host.client() as control:
        by_tag = control.deploy(LOCATION, pex_tag=first.pex_tag, timeout=300)
        assert by_tag.version == 3 and by_tag.state == "serving"
        assert control.remove(LOCATION) == RemoveAnswer(location=LOCATION, removed=True)
        assert control.status().locations == []
    assert file_store.read_record("prod", LOCATION) is None
    from dagster._grpc.client import DagsterGrpcClient

    with pytest.raises(Exception, match="UNAVAILABLE|failed to connect|Connection refused"):
        DagsterGrpcClient(port=endpoint_port(rolled), host="127.0.0.1").ping("x")


def all_serving(locations: list[LocationStatus]) -> bool:
    return all(loc.state == "serving" for loc in locations)


def wait_for_status(host: Any, done: Any, timeout: float = 600.0) -> list[LocationStatus]:
    """Poll the host's status until `done(locations)`; fails with the last status otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        with host.client() as control:
            locations = control.status().locations
        if done(locations):
            return locations
        assert time.monotonic() < deadline, locations
        time.sleep(0.2)


def wait_until_gone(pid: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and "zombie" not in _proc_state(pid):
        assert time.monotonic() < deadline, f"process {pid} is still running"
        time.sleep(0.1)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(VENV_BIN / "dagster-fastdeploy"), *args], capture_output=True, text=True
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_a_host_on_an_s3_store_fetches_verifies_and_serves(
    s3_store_url: str, project_copy: ProjectCopy, start_host: Any
) -> None:
    from dagster_fastdeploy.store import open_store

    store = open_store(s3_store_url)  # moto's S3 server over HTTP (AWS_ENDPOINT_URL is set)
    project_copy.add_asset("only_in_s3")  # a source.pex no other test has: it must be fetched
    version = project_copy.publish(store)
    host = start_host(store)
    with host.client() as control:
        result = control.deploy(LOCATION, version.version, timeout=300)
    assert result.state == "serving", result.error
    assert result.steps["fetch"] > 0
    keys, _ = asset_keys_through_dagster(endpoint_port(result))
    assert keys == {"raw_orders", "raw_customers", "orders_by_region", "only_in_s3"}
    assert not any((host.data_dir / "blobs").glob("source-*.pex"))  # fetched copy cleaned up
