"""Build a project's own wheel through its own PEP 517 backend.

This is on the source-only rebuild path. A hatchling project (or one built by our own
`dagster_fastdeploy.backend`, which wraps hatchling: going through it again would build PEX files
inside a PEX build) is built in-process, for an explicit root (~0.15 s). Any other backend runs
through `build`'s ProjectBuilder in a subprocess with the project as its working directory:
with this interpreter when what it asks for is installed here (as `pip wheel
--no-build-isolation` would), else in `build`'s isolated environment.

Nothing here touches the calling process's working directory or environment: the hatch plugin
and the PEP 517 backend run inside other tools' processes. Extra environment for the backend goes
through ProjectBuilder's runner.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dagster_fastdeploy.errors import BuildError

if TYPE_CHECKING:
    from build import ProjectBuilder

HATCHLING_BACKENDS = {"hatchling.build", "dagster_fastdeploy.backend"}
SKIP_PEX_ENV = "DAGSTER_FASTDEPLOY_SKIP_PEX"


def build_wheel(project_dir: Path, backend: str, wheel_dir: Path) -> Path:
    """Build `project_dir`'s wheel into `wheel_dir`; returns the wheel's path."""
    if backend in HATCHLING_BACKENDS:
        return _build_with_hatchling(project_dir, wheel_dir)
    from build import BuildBackendException, BuildException, ProjectBuilder, check_dependency

    try:
        builder = ProjectBuilder(project_dir, python_executable=sys.executable, runner=_run_hook)
        # the backend itself first: asking it what else it needs would fail without it
        backend_here = not any(any(check_dependency(r)) for r in builder.build_system_requires)
        if backend_here and not builder.check_dependencies("wheel"):
            return Path(builder.build("wheel", wheel_dir))
    except (BuildBackendException, BuildException) as e:
        raise BuildError(_failure(project_dir, backend, e)) from e
    return _build_isolated(project_dir, backend, wheel_dir)


def _build_with_hatchling(project_dir: Path, wheel_dir: Path) -> Path:
    """What hatchling.build.build_wheel does, for a root given explicitly instead of the working
    directory: no chdir, so a build in one thread does not move another thread's relative paths."""
    from hatchling.builders.wheel import WheelBuilder

    try:
        builder = WheelBuilder(str(project_dir))
        return Path(next(builder.build(directory=str(wheel_dir), versions=["standard"])))
    except Exception as e:
        raise BuildError(f"Building {project_dir.name}'s wheel with hatchling failed: {e}") from e


def _build_isolated(project_dir: Path, backend: str, wheel_dir: Path) -> Path:
    from build import BuildBackendException, BuildException, ProjectBuilder
    from build.env import DefaultIsolatedEnv

    try:
        with DefaultIsolatedEnv() as env:
            builder: ProjectBuilder = ProjectBuilder.from_isolated_env(
                env, project_dir, runner=_run_hook
            )
            env.install(builder.build_system_requires)
            env.install(builder.get_requires_for_build("wheel"))
            return Path(builder.build("wheel", wheel_dir))
    except (BuildBackendException, BuildException) as e:
        raise BuildError(_failure(project_dir, backend, e)) from e


def _run_hook(
    cmd: Sequence[str], cwd: str | None = None, extra_environ: Mapping[str, str] | None = None
) -> None:
    """ProjectBuilder's runner: the backend's output kept off our stdout (JSON must stay
    parseable; shown on stderr with DAGSTER_FASTDEPLOY_DEBUG, and in the error when it fails),
    and DAGSTER_FASTDEPLOY_SKIP_PEX set for the backend only."""
    env = {**os.environ, **(extra_environ or {}), SKIP_PEX_ENV: "1"}
    result = subprocess.run(
        list(cmd), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if os.environ.get("DAGSTER_FASTDEPLOY_DEBUG"):
        sys.stderr.write(result.stdout)
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, list(cmd), output=result.stdout)


def _failure(project_dir: Path, backend: str, error: Exception) -> str:
    cause = getattr(error, "exception", None)
    output = getattr(cause, "output", None) or ""
    said = f"\n{backend} said:\n{output.strip()[-3000:]}" if output.strip() else ""
    return f"Building {project_dir.name}'s wheel with {backend} failed: {error}{said}"


def new_wheel_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="fastdeploy-wheel-")
