"""Session-wide test set-up. Slow end-to-end tests share one PEX_ROOT, one build cache and one
built example_project (see the fixtures_* plugins), so the suite stays fast.

Set FASTDEPLOY_TEST_CACHE=/some/dir to keep those caches between local runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fixtures_build",
    "tests.fixtures_store",
    "tests.fixtures_runtime",
]

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_PROJECT = REPO / "example_project"


@pytest.fixture(scope="session", autouse=True)
def shared_caches(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One PEX_ROOT and one dagster-fastdeploy cache for the whole session."""
    root = Path(os.environ.get("FASTDEPLOY_TEST_CACHE") or tmp_path_factory.mktemp("caches"))
    root.mkdir(parents=True, exist_ok=True)
    os.environ["PEX_ROOT"] = str(root / "pex_root")
    os.environ["DAGSTER_FASTDEPLOY_CACHE"] = str(root / "fastdeploy_cache")
    # where running hosts announce themselves: never the real ~/.dagster-fastdeploy
    os.environ["DAGSTER_FASTDEPLOY_HOME"] = str(tmp_path_factory.mktemp("fastdeploy-home"))
    return root


@pytest.fixture(scope="session")
def example_project_dir() -> Path:
    return EXAMPLE_PROJECT
