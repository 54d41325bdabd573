"""A project's own lock file pins deps.pex: uv.lock, pylock.toml, a pex lock.

example_project is locked with dagster pinned to 1.13.28 and then its pyproject is put back to a
floating `dagster`: a build that honours the lock gets 1.13.28 where a fresh resolve would not.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from dagster_fastdeploy.builder import BuildResult, build_project

LOCKED_DAGSTER = "1.13.28"


def copy_example(example_project_dir: Path, dest: Path) -> Path:
    shutil.copytree(example_project_dir, dest, ignore=shutil.ignore_patterns("dist", "__pycache__"))
    return dest


def uv(*args: str, cwd: Path) -> None:
    from uv import find_uv_bin

    subprocess.run([find_uv_bin(), *args, "--quiet"], cwd=cwd, check=True)


@pytest.fixture(scope="module")
def uv_locked_project(example_project_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = copy_example(example_project_dir, tmp_path_factory.mktemp("uv_lock") / "project")
    pyproject = project / "pyproject.toml"
    floating = pyproject.read_text()
    pyproject.write_text(floating.replace('"dagster",', f'"dagster=={LOCKED_DAGSTER}",'))
    uv("lock", cwd=project)
    pyproject.write_text(floating)
    return project


@pytest.fixture(scope="module")
def uv_lock_build(uv_locked_project: Path, tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    return build_project(uv_locked_project, out_dir=tmp_path_factory.mktemp("uv_lock_out"))


def test_uv_lock_pins_deps(uv_lock_build: BuildResult) -> None:
    assert uv_lock_build.manifest.dagster_version == LOCKED_DAGSTER


def test_uv_lock_build_runs_the_definitions(uv_lock_build: BuildResult) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(uv_lock_build.source_path),
            "-c",
            "import dagster, example_project.definitions; print(dagster.__version__)",
        ],
        env={"PEX_PATH": str(uv_lock_build.deps_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=uv_lock_build.source_path.parent,
    )
    assert result.stdout.strip() == LOCKED_DAGSTER, result.stderr


def test_pylock_with_the_same_pins_reuses_the_same_deps_pex(
    uv_locked_project: Path, uv_lock_build: BuildResult, tmp_path: Path, monkeypatch
) -> None:
    project = copy_example(uv_locked_project, tmp_path / "project")
    uv(
        "export",
        "--frozen",
        "--format",
        "pylock.toml",
        "--no-dev",
        "--no-emit-project",
        "-o",
        "pylock.toml",
        cwd=project,
    )
    (project / "uv.lock").unlink()

    def no_pex(*args, **kwargs):
        raise AssertionError("pex ran although the same pins were built already")

    monkeypatch.setattr("dagster_fastdeploy.builder.deps_pex.build_deps_pex", no_pex)
    result = build_project(project, out_dir=tmp_path / "out")
    assert result.manifest.deps_locked_hash == uv_lock_build.manifest.deps_locked_hash
    assert result.manifest.deps == uv_lock_build.manifest.deps
    assert result.manifest.deps_hash != uv_lock_build.manifest.deps_hash  # another input


def test_pex_lock_pins_deps(tmp_path: Path) -> None:
    """A pex lock (`pex3 lock create`) is used as it is: `six` floats in the declared
    requirements, the lock pins 1.15.0. (A small set: a pex lock of dagster takes minutes.)"""
    from dagster_fastdeploy.builder.deps_pex import build_deps_pex
    from dagster_fastdeploy.builder.lock import lock
    from dagster_fastdeploy.builder.requirements import DeclaredDeps
    from dagster_fastdeploy.builder.target import BuildTarget

    subprocess.run(
        [
            sys.executable,
            "-m",
            "pex.cli",
            "lock",
            "create",
            "six==1.15.0",
            "--pip-version",
            "26.2.1",
            "--style",
            "strict",
            "--python",
            sys.executable,
            "-o",
            str(tmp_path / "pex.lock"),
        ],
        check=True,
        capture_output=True,
    )
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    target = BuildTarget(python=version, interpreter=Path(sys.executable), platforms=())
    declared = DeclaredDeps(requirements=["six"])
    locked = lock(declared, target, tmp_path, [], tmp_path)
    assert locked.versions == {"six": "1.15.0"}
    assert locked.pins[0].hashes  # artifact hashes are part of the locked hash
    build_deps_pex(locked, declared, target, tmp_path / "deps.pex")
    info = json.loads(zipfile.ZipFile(tmp_path / "deps.pex").read("PEX-INFO"))
    assert [w for w in info["distributions"] if w.startswith("six-")] == [
        "six-1.15.0-py2.py3-none-any.whl"
    ]
