"""The project-wheel step builds through the project's own backend without touching the calling
process: the hatch plugin and the PEP 517 backend run inside other tools' processes, so a change
of working directory or environment there would move under their feet."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dagster_fastdeploy.builder.project_wheel import SKIP_PEX_ENV, build_wheel
from dagster_fastdeploy.errors import BuildError

SETUP_PY = """
import os
from pathlib import Path
from setuptools import setup

Path(__file__).with_name("backend_saw.txt").write_text(
    os.getcwd() + "\\n" + os.environ.get("DAGSTER_FASTDEPLOY_SKIP_PEX", "")
)
setup(name="wheel-probe", version="1.0", py_modules=["probe"])
"""


@contextmanager
def process_state_watched() -> Iterator[list[str]]:
    """Samples the working directory and environment while the block runs; yields the changes."""
    cwd, env = os.getcwd(), dict(os.environ)
    changes: list[str] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if os.getcwd() != cwd:
                changes.append(f"cwd became {os.getcwd()}")
            if dict(os.environ) != env:
                changes.append("os.environ changed")
            done.wait(0.001)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield changes
    finally:
        done.set()
        watcher.join()
        if os.getcwd() != cwd:
            changes.append("cwd not restored")
        if dict(os.environ) != env:
            changes.append("os.environ not restored")


def test_a_setuptools_wheel_leaves_the_callers_cwd_and_environment_alone(tmp_path: Path) -> None:
    pytest.importorskip("setuptools", reason="the non-isolated path needs setuptools installed")
    project = tmp_path / "probe"
    project.mkdir()
    (project / "setup.py").write_text(SETUP_PY)
    (project / "probe.py").write_text("X = 1\n")
    with process_state_watched() as changes:
        wheel = build_wheel(project, "setuptools.build_meta:__legacy__", tmp_path / "wheels")
    assert changes == []
    assert wheel.name.startswith("wheel_probe-1.0-") and wheel.is_file()
    # the backend ran in the project directory, with the extra variable set for it alone
    backend_cwd, skip_pex = (project / "backend_saw.txt").read_text().splitlines()
    assert Path(backend_cwd).resolve() == project.resolve() and skip_pex == "1"
    assert SKIP_PEX_ENV not in os.environ


def test_an_isolated_build_leaves_the_callers_environment_alone(tmp_path: Path) -> None:
    """A backend not installed here (flit_core) is built in build's isolated environment."""
    project = tmp_path / "flit_probe"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["flit_core>=3.4"]\nbuild-backend = "flit_core.buildapi"\n'
        '[project]\nname = "flit_probe"\nversion = "1.0"\ndescription = "probe"\n'
    )
    (project / "flit_probe.py").write_text('"""probe"""\n')
    with process_state_watched() as changes:
        wheel = build_wheel(project, "flit_core.buildapi", tmp_path / "wheels")
    assert changes == []
    assert wheel.name.startswith("flit_probe-1.0-")


def test_a_failing_backend_says_what_it_printed(tmp_path: Path) -> None:
    pytest.importorskip("setuptools", reason="the non-isolated path needs setuptools installed")
    project = tmp_path / "broken"
    project.mkdir()
    (project / "setup.py").write_text("raise SystemExit('setup.py refuses: fix me')\n")
    with pytest.raises(BuildError, match="setup.py refuses: fix me"):
        build_wheel(project, "setuptools.build_meta:__legacy__", tmp_path / "wheels")
