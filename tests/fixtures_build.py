"""Session fixtures for the build tests, and for every part that needs built artifacts.

`example_build` is example_project built once per session (deps.pex comes from the shared build
cache when FASTDEPLOY_TEST_CACHE keeps it between runs)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import pytest

from dagster_fastdeploy.builder import BuildResult, build_project

TEST_PROJECTS = Path(__file__).resolve().parent / "projects"
EXAMPLE_LOCATIONS = Path(__file__).resolve().parent.parent / "example_locations"


@pytest.fixture(scope="session")
def example_build(
    shared_caches: Path, example_project_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> BuildResult:
    """example_project built into a session tmp out dir: deps.pex, source.pex, manifest.json."""
    return build_project(example_project_dir, out_dir=tmp_path_factory.mktemp("example_build"))


@pytest.fixture
def copy_project(tmp_path: Path, example_project_dir: Path) -> Callable[..., Path]:
    """copy_project(name="example_project", dest=None) -> a fresh copy of a project to edit.

    `name` is example_project, example_locations or a directory under tests/projects/."""

    def copy(name: str = "example_project", dest: str | None = None) -> Path:
        known = {"example_project": example_project_dir, "example_locations": EXAMPLE_LOCATIONS}
        source = known.get(name, TEST_PROJECTS / name)
        target = tmp_path / (dest or name)
        shutil.copytree(
            source, target, ignore=shutil.ignore_patterns("dist", "__pycache__", "*.egg-info")
        )
        return target

    return copy
