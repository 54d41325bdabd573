"""The host's disk: environments nothing needs are given back (never one in use), and a disk
that fills up during materialization fails that rollout cleanly while the old version serves.
The full disk is real: a small tmpfs mounted under the data dir (that needs root)."""

from __future__ import annotations

import contextlib
import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_runtime import ProjectCopy
from tests.test_host import LOCATION, endpoint_port, wait_for_status

from .test_host_faults import _answers


def _sources(data_dir: Path) -> set[str]:
    return {p.name for p in (data_dir / "sources").iterdir() if not p.name.startswith(".")}


def _source_of(version: Any) -> str:
    return str(version.manifest["source"]["name"]).removesuffix(".pex")


def _wait(condition: Any, what: str, timeout: float = 120.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_environments_no_kept_version_needs_are_removed_but_never_one_in_use(
    file_store: Any, project_copy: ProjectCopy, start_host: Any, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    keep = ["--retain-versions", "1", "--keep-unused-for", "0"]
    host = start_host(file_store, data_dir=data_dir, extra_args=keep)

    def serve(version: Any, state: str = "serving") -> Any:
        with host.client() as control:
            answer = control.deploy(LOCATION, version.version, timeout=300)
        assert answer.state == state, answer.error
        return answer

    v1 = project_copy.publish(file_store)
    serve(v1)
    deps = {p.name for p in (data_dir / "envs").iterdir() if p.name.startswith("deps-")}
    project_copy.add_asset("second")
    v2 = project_copy.publish(file_store)
    serve(v2)
    _wait(lambda: _sources(data_dir) == {_source_of(v2)}, "v1's source was not removed")

    assets = project_copy.package / "assets.py"
    working = assets.read_text()
    project_copy.break_syntax()
    v3 = project_copy.publish(file_store)
    failed = serve(v3, "failed")
    assert failed.serving_version == v2.version
    # v2 is older than the one version retained, but it serves: kept
    _wait(lambda: _source_of(v2) in _sources(data_dir), "the serving source went")
    assert _answers(endpoint_port(failed))

    assets.write_text(working)
    project_copy.add_asset("third")
    v4 = project_copy.publish(file_store)
    serve(v4)
    _wait(lambda: _sources(data_dir) == {_source_of(v4)}, "unneeded sources stayed")
    assert {p.name for p in (data_dir / "envs").iterdir() if p.name.startswith("deps-")} == deps
    assert any(e.get("event") == "disk.collected" for e in host.log())


@contextlib.contextmanager
def _small_disk(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"a full disk is made with a small tmpfs, which needs root: {mounted.stderr}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC
    return filler


def test_a_full_disk_during_materialization_fails_that_rollout_and_the_old_version_serves(
    file_store: Any, project_copy: ProjectCopy, start_host: Any, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    with _small_disk(data_dir / "sources", "4m") as sources:
        host = start_host(file_store, data_dir=data_dir)
        try:
            v1 = project_copy.publish(file_store)
            with host.client() as control:
                assert control.deploy(LOCATION, v1.version, timeout=300).state == "serving"
            filler = _fill(sources)
            project_copy.add_asset("needs_disk")
            v2 = project_copy.publish(file_store)
            with host.client() as control:
                answer = control.deploy(LOCATION, v2.version, timeout=300)
            assert (answer.state, answer.serving_version) == ("failed", v1.version)
            assert "no space left on the host's disk" in answer.error.message
            assert _answers(endpoint_port(answer))
            assert _sources(data_dir) == {_source_of(v1), "filler"}  # nothing half-made left

            filler.unlink()  # space again: the same version deploys
            with host.client() as control:
                again = control.deploy(LOCATION, v2.version, timeout=300)
            assert again.state == "serving", again.error
            (now,) = wait_for_status(host, lambda locs: locs[0].serving_version == v2.version)
            assert _answers(endpoint_port(now))
        finally:
            host.stop()
