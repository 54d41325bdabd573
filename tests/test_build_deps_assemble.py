"""deps.pex assembled from cached wheels: the same bytes as pex's whole build of the same lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dagster_fastdeploy.builder.deps import PEX_FLAGS_VERSION
from dagster_fastdeploy.builder.deps_assemble import (
    assemble_deps_pex,
    build_whole,
    remember_wheels,
)
from dagster_fastdeploy.builder.deps_parts import build_in_parts
from dagster_fastdeploy.builder.deps_pex import build_deps_pex
from dagster_fastdeploy.builder.lock import LockedDeps, lock
from dagster_fastdeploy.builder.pins import canonical_text
from dagster_fastdeploy.builder.requirements import DeclaredDeps
from dagster_fastdeploy.builder.target import BuildTarget
from dagster_fastdeploy.builder.wheel_download import download_wheels

VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
TARGET = BuildTarget(python=VERSION, interpreter=Path(sys.executable), platforms=())


def _lock(requirements: list[str], work: Path) -> LockedDeps:
    work.mkdir(parents=True)
    return lock(DeclaredDeps(requirements=requirements), TARGET, work, [], work)


def _pinned(locked: LockedDeps, work: Path) -> LockedDeps:
    """`locked` as a pin list pex installs (the form lock() gives, for a subset of pins)."""
    work.mkdir(parents=True, exist_ok=True)
    path = work / "requirements.lock.txt"
    path.write_text(canonical_text(locked.pins))
    return LockedDeps(locked.pins, ["--intransitive", "-r", str(path)])


@pytest.fixture()
def wheel_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty build cache: only what the test builds is cached."""
    monkeypatch.setenv("DAGSTER_FASTDEPLOY_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _assemble(locked: LockedDeps, out: Path) -> tuple[Path, dict[str, float]]:
    out.mkdir(parents=True, exist_ok=True)
    declared = DeclaredDeps(requirements=[])
    seconds = assemble_deps_pex(locked, declared, TARGET, out / "deps.pex", True, PEX_FLAGS_VERSION)
    assert seconds is not None, "the cached wheels were not used"
    return out / "deps.pex", seconds


def _full(locked: LockedDeps, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    build_deps_pex(locked, DeclaredDeps(requirements=[]), TARGET, out / "deps.pex")
    return out / "deps.pex"


def test_a_dependency_added_or_removed_gives_the_bytes_of_a_whole_pex_build(
    tmp_path: Path, wheel_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _lock(["six", "attrs", "tzdata"], tmp_path / "lock-before")
    first = _full(before, tmp_path / "first")
    remember_wheels(first, before.pins, TARGET, PEX_FLAGS_VERSION)

    # python-dateutil needs tzdata, which is not among the new pins: it is in the cached wheels.
    pinned = [f"{p.name}=={p.version}" for p in before.pins]
    added = _lock([*pinned, "python-dateutil"], tmp_path / "lock")
    assembled, seconds = _assemble(added, tmp_path / "assembled")
    assert set(seconds) >= {"deps_pex_download", "deps_pex_new_wheels", "deps_pex_assemble"}
    assert "deps_pex_downloaded" not in seconds  # its dependency is an old pin: pex's pip runs
    whole = _full(added, tmp_path / "whole").read_bytes()
    assert assembled.read_bytes() == whole

    # pex's whole build from wheels fetched ahead (no pip) writes the same bytes too.
    (tmp_path / "fetched").mkdir()
    out = tmp_path / "fetched" / "deps.pex"
    steps = build_whole(
        added, DeclaredDeps(requirements=[]), TARGET, out, True, PEX_FLAGS_VERSION, parts=1
    )
    assert steps["deps_pex_downloaded"] == len(added.pins) and "deps_pex_parts" not in steps
    assert out.read_bytes() == whole

    # A cold build in parts, each part's pex started once its wheels are downloaded (PyPI says
    # their sizes), assembled: the same bytes again, and every wheel's entries are cached.
    out = tmp_path / "fetched" / "in-parts.pex"
    with monkeypatch.context() as patch:
        patch.setenv("DAGSTER_FASTDEPLOY_CACHE", str(tmp_path / "cache-parts"))
        steps = build_whole(
            added, DeclaredDeps(requirements=[]), TARGET, out, True, PEX_FLAGS_VERSION, parts=3
        )
        assert steps["deps_pex_parts"] == 3 and "deps_pex_full" not in steps
        assert steps["deps_pex_downloaded"] == len(added.pins)
        assert out.read_bytes() == whole
        assert not (out.parent / "parts").exists()
        again, _ = _assemble(added, tmp_path / "assembled-again")
        assert again.read_bytes() == whole

    # In parts from wheels downloaded ahead (an index that does not say sizes): same bytes.
    wheels = tmp_path / "ahead" / "wheels"
    assert download_wheels(added.pins, DeclaredDeps(requirements=[]), TARGET, wheels)
    out = tmp_path / "ahead" / "deps.pex"
    with monkeypatch.context() as patch:
        patch.setenv("DAGSTER_FASTDEPLOY_CACHE", str(tmp_path / "cache-ahead"))
        steps = (
            build_in_parts(
                added, DeclaredDeps([]), TARGET, out, True, wheels, PEX_FLAGS_VERSION, parts=2
            )
            or {}
        )
        assert steps.get("deps_pex_parts") == 2 and out.read_bytes() == whole

    # A package that needs nothing else: fetched from the index, pex runs no pip; same bytes.
    pinned = [f"{p.name}=={p.version}" for p in added.pins]
    plain = _lock([*pinned, "toolz"], tmp_path / "lock-plain")
    assembled, seconds = _assemble(plain, tmp_path / "assembled-plain")
    assert seconds["deps_pex_downloaded"] == 1
    assert assembled.read_bytes() == _full(plain, tmp_path / "whole-plain").read_bytes()

    removed = _pinned(LockedDeps([p for p in added.pins if p.name != "attrs"], []), tmp_path / "r")
    assembled, _ = _assemble(removed, tmp_path / "assembled-removed")
    assert assembled.read_bytes() == _full(removed, tmp_path / "whole-removed").read_bytes()

    # An ordinary PEX: it runs, and pex's own tools read it.
    code = "import dateutil, six; print(dateutil.__name__, six.__name__)"
    done = subprocess.run([sys.executable, str(assembled), "-c", code], capture_output=True)
    assert done.stdout.split() == [b"dateutil", b"six"], done.stderr
    info = subprocess.run(
        [sys.executable, "-m", "pex.tools", str(assembled), "info"], capture_output=True
    )
    assert info.returncode == 0 and b"python_dateutil" in info.stdout


def test_nothing_cached_leaves_the_build_to_pex(tmp_path: Path, wheel_cache: Path) -> None:
    locked = _lock(["six"], tmp_path / "lock")
    seconds = assemble_deps_pex(
        locked, DeclaredDeps(requirements=[]), TARGET, tmp_path / "deps.pex", True, 3
    )
    assert seconds is None and not (tmp_path / "deps.pex").exists()
