"""`cache prune`: what no build used lately leaves the build cache; what a build just used stays,
and a build after a prune works (it builds or fetches again what was removed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from dagster_fastdeploy.builder import BuildResult

DAY = 24 * 3600
PRUNED = ("deps", "wheel-entries/blocks", "wheels")


def cli(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DAGSTER_FASTDEPLOY_CACHE": str(cache)}
    command = [sys.executable, "-m", "dagster_fastdeploy.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def _entries(cache: Path) -> list[Path]:
    return [e for kind in PRUNED for e in sorted((cache / kind).glob("[!.]*"))]


def _age(cache: Path, days: float) -> None:
    then = time.time() - days * DAY
    for entry in _entries(cache):
        os.utime(entry, (then, then))


def test_prune_keeps_what_a_build_just_used_and_removes_the_rest(
    tmp_path: Path, example_build: BuildResult, example_project_dir: Path, copy_project: Any
) -> None:
    # the session's build cache, linked file by file (its files are never written in place)
    shared = Path(os.environ["DAGSTER_FASTDEPLOY_CACHE"])
    cache = tmp_path / "cache"
    subprocess.run(["cp", "-al", str(shared), str(cache)], check=True)
    assert len(_entries(cache)) > 2
    (cache / "wheels" / ".lck-like").write_text("")  # a lock file is never a prune's to remove
    _age(cache, 40)

    # a build whose deps.pex comes from the cache marks that entry used
    project = copy_project()
    built = cli(cache, "build", str(project), "--json", "--out", str(tmp_path / "out"))
    assert built.returncode == 0, built.stderr
    deps_name = json.loads(built.stdout)["deps"]["name"]
    used = next(cache.glob(f"deps/*/{deps_name}")).parent

    done = cli(cache, "cache", "prune", "--older-than", "30", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    left = _entries(cache)
    assert left == [used]
    assert answer["kept"] == 1 and answer["removed"] > 1 and answer["bytes_freed"] > 1_000_000
    assert answer["cache"] == str(cache) and answer["older_than_days"] == 30
    assert (cache / "wheels" / ".lck-like").exists()
    assert (shared / "deps").is_dir() and _entries(shared)  # the links went, not the files

    # nothing older than a day now: a second prune removes nothing
    again = cli(cache, "cache", "prune", "--older-than", "1")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("Removed 0 entries (0.0 MB) unused for 1 days")

    # the next build still takes its deps.pex from the cache
    rebuilt = cli(cache, "build", str(project), "--json", "--out", str(tmp_path / "out2"))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert json.loads(rebuilt.stdout)["deps"]["name"] == deps_name


def test_wheel_entries_a_deps_pex_is_assembled_from_are_marked_used(
    example_build: BuildResult,
) -> None:
    from dagster_fastdeploy.builder.deps import PEX_FLAGS_VERSION
    from dagster_fastdeploy.builder.deps_assemble import _block_path, _cached
    from dagster_fastdeploy.builder.pins import pins_from_requirements
    from dagster_fastdeploy.builder.target import BuildTarget

    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    target = BuildTarget(python, Path(sys.executable), ())
    locks = Path(os.environ["DAGSTER_FASTDEPLOY_CACHE"]).glob("deps/*/requirements.lock.txt")
    pins = [pin for lock in locks for pin in pins_from_requirements(lock.read_text())]
    pin, entry = next((p, e) for p in pins if (e := _cached(p, target, PEX_FLAGS_VERSION)))
    blocks = [_block_path(w, f) for w, f in entry["wheels"].items()]
    then = time.time() - 40 * DAY
    for block in blocks:
        os.utime(block, (then, then))

    assert _cached(pin, target, PEX_FLAGS_VERSION) is not None  # what assembling reads

    assert all(time.time() - block.stat().st_mtime < 60 for block in blocks)
