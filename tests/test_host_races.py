"""A control call racing the host's own work: its answer is `serving` or `failed` for the version
asked (unless its timeout passed), and a location the store records is never dropped because the
host's watch of the store lags (a pass that read the marker before the record was written, or a
marker write that failed)."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dagster_fastdeploy.runtime.last_served import LastServed
from tests.fixtures_runtime import ProjectCopy, free_port, free_port_range

pytestmark = pytest.mark.faults  # docs/reliability.md


class SlowDisk(LastServed):
    """The last-served file on a disk slow to fsync: the write a rollout makes right after its
    switch (the version already serves; the rollout has not ended) lasts until `release`. A slow
    fsync cannot be caused on purpose, so this is the one stand-in here."""

    def __init__(self, path: Path):
        super().__init__(path)
        self.writing = threading.Event()
        self.release = threading.Event()

    def remember(self, location: str, version: int) -> None:
        self.writing.set()
        self.release.wait(300)
        super().remember(location, version)


def test_a_deploy_that_arrives_while_its_version_switches_in_answers_when_the_rollout_ends(
    file_store: Any, project_copy: ProjectCopy, host_data_dir: Path
) -> None:
    """CI saw `starting` from a Deploy that did not time out: it came between the switch of the
    same version's rollout (started by the reconciler) and the rollout's end."""
    from dagster_fastdeploy.runtime.host import Host

    project_copy.publish(file_store, location="switching")
    host = Host(
        file_store, "prod", host_data_dir,
        location_ports=free_port_range(4), control_port=free_port(),
    )  # fmt: skip
    disk = host.last_served = SlowDisk(host.last_served.path)
    answers: dict[str, Any] = {}
    first = threading.Thread(
        target=lambda: answers.__setitem__("first", host.deploy("switching", 1, timeout=300))
    )
    try:
        first.start()
        assert disk.writing.wait(300), "the rollout never switched"
        # the version serves and its rollout is still under way: a second Deploy waits for it
        threading.Timer(1.0, disk.release.set).start()
        second = host.deploy("switching", 1, timeout=300)
        first.join(300)
    finally:
        disk.release.set()
        host.stop()
    assert answers["first"].state == "serving", answers["first"].error
    assert (second.state, second.serving_version) == ("serving", 1), second
    assert "total" in second.steps  # the whole rollout, not a glimpse of it


def _record_without_the_marker(project: ProjectCopy, store: Any, location: str) -> None:
    """Record `location` as a client whose change-marker write failed does (the write is
    best effort: store/base.py): hosts see it only at their next full listing (a minute)."""
    from dagster_fastdeploy.store import open_store

    scratch_root = project.root.parent / "scratch-store"
    shutil.rmtree(scratch_root, ignore_errors=True)
    if (store.root / "deployments").is_dir():  # the versions recorded so far
        shutil.copytree(store.root / "deployments", scratch_root / "deployments")
    scratch = open_store(scratch_root.as_uri())
    project.publish(scratch, location=location)
    for part in scratch_root.iterdir():
        if part.name != "changes":
            shutil.copytree(part, store.root / part.name, dirs_exist_ok=True)


def test_a_location_deployed_by_a_control_call_stays_while_the_watch_has_not_seen_it(
    file_store: Any, project_copy: ProjectCopy, start_host: Any
) -> None:
    host = start_host(file_store)
    _record_without_the_marker(project_copy, file_store, "unseen")
    with host.client() as control:
        answer = control.deploy("unseen", 1, timeout=300)
        assert answer.state == "serving", answer.error
        # the reconciler passes every second: for a few passes, the location stays and serves
        until = time.monotonic() + 4.0
        while time.monotonic() < until:
            now = {loc.name: loc for loc in control.status().locations}
            assert "unseen" in now, "the host dropped a location its store records"
            assert now["unseen"].code_server_pid == answer.code_server_pid
            time.sleep(0.2)
    assert not [e for e in host.log() if e.get("event") == "location.removed"]


def test_a_version_deployed_by_a_control_call_is_not_rolled_back_while_the_watch_lags(
    file_store: Any, project_copy: ProjectCopy, start_host: Any
) -> None:
    host = start_host(file_store)
    project_copy.publish(file_store, location="ahead")
    with host.client() as control:
        assert control.deploy("ahead", 1, timeout=300).state == "serving"
        project_copy.add_asset("newer")
        _record_without_the_marker(project_copy, file_store, "ahead")
        answer = control.deploy("ahead", 2, timeout=300)
        assert (answer.state, answer.serving_version) == ("serving", 2), answer.error
        until = time.monotonic() + 4.0  # a few reconciler passes
        while time.monotonic() < until:
            now = {loc.name: loc for loc in control.status().locations}["ahead"]
            assert (now.version, now.serving_version) == (2, 2), "rolled back to what it saw"
            assert now.code_server_pid == answer.code_server_pid
            time.sleep(0.2)
