"""The host's disk collector removes what a crashed writer left half-built, never what a live
writer is building."""

from __future__ import annotations

from pathlib import Path

from dagster_fastdeploy.local_files import TMP_PREFIX, atomic_directory
from dagster_fastdeploy.runtime.disk_gc import DiskGC

DIGEST = "a" * 64


def test_a_crashed_materialization_is_collected_and_a_running_one_is_not(tmp_path: Path) -> None:
    envs = tmp_path / "envs"
    crashed = envs / f"{TMP_PREFIX}deps-{DIGEST}.x7y8z9"
    (crashed / "lib").mkdir(parents=True)
    wheel = tmp_path / "installed-wheels" / f"{TMP_PREFIX}numpy-2.0-cp312.whl-f-py3.12.q1w2e3"
    wheel.mkdir(parents=True)
    gc = DiskGC(tmp_path, needed=set)
    with atomic_directory(envs / f"deps-{'b' * 64}") as building:
        assert building is not None
        gc.collect()
        assert building.is_dir()
    assert not crashed.exists() and not wheel.exists()
    assert (envs / f"deps-{'b' * 64}").is_dir()
