"""Faults of the warm host: a restart when the newest version is bad, a code server killed or
crashing in a loop, user code reading the host's secrets. Real `serve` processes, real code
servers, the stable endpoint called through Dagster's own gRPC client."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from dagster_fastdeploy.host_api import LocationStatus
from tests.fixtures_runtime import ProjectCopy
from tests.test_host import (
    LOCATION,
    asset_keys_through_dagster,
    endpoint_port,
    wait_for_status,
)


def _location(host: Any) -> LocationStatus:
    with host.client() as control:
        (location,) = control.status().locations
    return location


def _answers(port: int) -> bool:
    from dagster._grpc.client import DagsterGrpcClient

    return DagsterGrpcClient(port=port, host="127.0.0.1").ping("x")["echo"] == "x"


def _serving_and_failed(locations: list[LocationStatus]) -> bool:
    """An older version serves and the newest has failed (a restarted host serves the last
    version at once, then tries the newest: `starting` in between)."""
    return bool(locations) and bool(locations[0].serving_version) and locations[0].state == "failed"


def test_a_restarted_host_serves_the_last_good_version_when_the_newest_fails(
    file_store: Any, project_copy: ProjectCopy, start_host: Any, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    host = start_host(file_store, data_dir=data_dir)
    good = project_copy.publish(file_store)
    with host.client() as control:
        assert control.deploy(LOCATION, good.version, timeout=300).state == "serving"
    project_copy.break_syntax()
    bad = project_copy.publish(file_store)
    with host.client() as control:
        answer = control.deploy(LOCATION, bad.version, timeout=300)
    assert (answer.state, answer.serving_version) == ("failed", good.version)
    host.stop()

    # the same data dir: it remembers what served last
    again = start_host(file_store, data_dir=data_dir)
    (now,) = wait_for_status(again, _serving_and_failed)
    assert (now.version, now.state, now.serving_version) == (bad.version, "failed", good.version)
    assert "SyntaxError" in (now.error.type or "") + now.error.message
    assert _answers(endpoint_port(now))
    again.stop()

    # a fresh host (nothing remembered): the newest recorded version that loads
    (data_dir / "last-served-prod.json").unlink()
    fresh = start_host(file_store, data_dir=data_dir)
    (now,) = wait_for_status(fresh, _serving_and_failed)
    assert (now.version, now.state, now.serving_version) == (bad.version, "failed", good.version)
    assert _answers(endpoint_port(now))


def test_a_restarted_host_serves_the_last_version_at_once_while_the_newest_rolls_out(
    file_store: Any, project_copy: ProjectCopy, start_host: Any, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    host = start_host(file_store, data_dir=data_dir)
    good = project_copy.publish(file_store)
    with host.client() as control:
        assert control.deploy(LOCATION, good.version, timeout=300).state == "serving"
    host.stop()

    # recorded while the host was down: a version whose load takes as long as the test wants
    # (a big import, a slow materialize), here until a file exists
    loaded = tmp_path / "let-the-newest-load"
    project_copy.add_asset("added_while_down")
    definitions = project_copy.package / "definitions.py"
    definitions.write_text(
        f"import os as _o, time as _t\nwhile not _o.path.exists({str(loaded)!r}):\n"
        f"    _t.sleep(0.05)\n{definitions.read_text()}"
    )
    newest = project_copy.publish(file_store)

    again = start_host(file_store, data_dir=data_dir)
    (now,) = wait_for_status(again, lambda locs: bool(locs) and locs[0].serving_version)
    assert now.serving_version == good.version  # the last version served, not dark
    assert now.version == newest.version and now.state == "starting"
    assert _answers(endpoint_port(now))
    loaded.touch()
    (now,) = wait_for_status(again, lambda locs: locs[0].serving_version == newest.version)
    assert now.state == "serving"


def test_code_servers_and_the_standby_never_see_the_host_secrets(
    file_store: Any, project_copy: ProjectCopy, start_host: Any
) -> None:
    secrets = {"DAGSTER_FASTDEPLOY_TOKEN": "s3cret-token", "AWS_SECRET_ACCESS_KEY": "s3cret-key"}
    host = start_host(file_store, env=secrets)
    version = project_copy.publish(file_store)
    with host.client() as control:
        served = control.deploy(LOCATION, version.version, timeout=300)
        standbys = control.status().standby.environments
    assert served.state == "serving" and served.code_server_pid
    pids = [served.code_server_pid] + [s.pid for s in standbys if s.pid]
    assert len(pids) >= 2  # the forked code server and its standby
    for pid in pids:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        names = {line.split(b"=", 1)[0].decode() for line in environ if line}
        assert "PATH" in names
        assert not names & set(secrets), (pid, names & set(secrets))
        assert b"s3cret" not in b"\0".join(environ)


def test_a_killed_code_server_is_replaced_without_the_location_going_dark(
    file_store: Any, project_copy: ProjectCopy, start_host: Any
) -> None:
    host = start_host(file_store)
    version = project_copy.publish(file_store)
    with host.client() as control:
        first = control.deploy(LOCATION, version.version, timeout=300)
    assert first.state == "serving"

    seen: list[LocationStatus] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.append(_location(host))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        os.kill(first.code_server_pid, signal.SIGKILL)
        (again,) = wait_for_status(host, lambda locs: locs[0].server_id != first.server_id)
    finally:
        stop.set()
        watcher.join()
    assert len(seen) > 3
    # status never showed the location serving nothing while its code server was replaced
    assert all(s.serving_version == version.version for s in seen), [
        (s.serving_version, s.state) for s in seen
    ]
    assert (again.state, again.endpoint) == ("serving", first.endpoint)
    assert again.version == version.version
    assert _answers(endpoint_port(again))
    keys, server_id = asset_keys_through_dagster(endpoint_port(again))
    assert "raw_orders" in keys and server_id == again.server_id
    assert any(e.get("event") == "code_server.exited" for e in host.log())
    restarted = [e for e in host.log() if e.get("event") == "code_server.restarted"]
    assert restarted and "handover" in restarted[0]  # forked from the standby


CRASH_LATER = """

import os as _os, sys as _sys, threading as _threading, time as _time


def _give_up() -> None:
    _time.sleep(3)
    print("boom: this code server gives up", file=_sys.stderr, flush=True)
    _os._exit(3)


_threading.Thread(target=_give_up, daemon=True).start()
"""


def test_a_code_server_in_a_crash_loop_ends_failed_with_its_output_and_the_old_version_serves(
    file_store: Any, project_copy: ProjectCopy, start_host: Any
) -> None:
    host = start_host(file_store)
    good = project_copy.publish(file_store)
    with host.client() as control:
        assert control.deploy(LOCATION, good.version, timeout=300).state == "serving"
    definitions = project_copy.package / "definitions.py"
    definitions.write_text(definitions.read_text() + CRASH_LATER)
    looping = project_copy.publish(file_store)
    with host.client() as control:
        assert control.deploy(LOCATION, looping.version, timeout=300).state == "serving"

    started = time.monotonic()
    (now,) = wait_for_status(
        host, lambda locs: locs[0].state == "failed" and locs[0].serving_version == good.version
    )
    assert now.version == looping.version
    assert "exited 5 times" in now.error.message
    assert "boom: this code server gives up" in (now.error.traceback or "")
    assert _answers(endpoint_port(now))
    exits = [e for e in host.log() if e.get("event") == "code_server.exited"]
    assert len(exits) == 5
    assert time.monotonic() - started > 0.5 + 1 + 2  # it backed off between attempts
