"""Session fixtures for the build tests, and for every part that needs built artifacts.

`example_build` is example_project built once per session (deps.pex comes from the shared build
cache when FASTDEPLOY_TEST_CACHE keeps it between runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagster_fastdeploy.build import BuildResult, build_project


@pytest.fixture(scope="session")
def example_build(
    shared_caches: Path, example_project_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> BuildResult:
    """example_project built into a session tmp out dir: deps.pex, source.pex, manifest.json."""
    return build_project(example_project_dir, out_dir=tmp_path_factory.mktemp("example_build"))
