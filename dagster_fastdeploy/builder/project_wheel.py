"""Build a project's own wheel through its own PEP 517 backend.

This is on the source-only rebuild path, so when the backend is hatchling or setuptools and
importable here it is called in-process (what a non-isolated `pip wheel --no-build-isolation`
does: ~0.15 s instead of seconds for an isolated environment). Any other backend is run through
`build`'s isolated environment. When the backend is our own `dagster_fastdeploy.backend`, the
hatchling it wraps is called directly: going through our backend again would build PEX files
inside a PEX build.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from dagster_fastdeploy.errors import BuildError

IN_PROCESS_BACKENDS = {
    "hatchling.build": "hatchling.build",
    "dagster_fastdeploy.backend": "hatchling.build",
    "setuptools.build_meta": "setuptools.build_meta",
    "setuptools.build_meta:__legacy__": "setuptools.build_meta:__legacy__",
}
SKIP_PEX_ENV = "DAGSTER_FASTDEPLOY_SKIP_PEX"


@contextlib.contextmanager
def _in_directory(path: Path) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def build_wheel(project_dir: Path, backend: str, wheel_dir: Path) -> Path:
    """Build `project_dir`'s wheel into `wheel_dir`; returns the wheel's path."""
    in_process = IN_PROCESS_BACKENDS.get(backend)
    if in_process == "hatchling.build":
        return _build_with_hatchling(project_dir, wheel_dir)
    if in_process is not None:
        module = _import_backend(in_process)
        if module is not None and _has_requirements_for_wheel(module, project_dir):
            try:
                with _in_directory(project_dir), _quiet_stdout():
                    name = module.build_wheel(str(wheel_dir))
            except (Exception, SystemExit) as e:
                raise BuildError(
                    f"Building {project_dir.name}'s wheel with {backend} failed: {e}"
                ) from e
            return wheel_dir / name
    return _build_isolated(project_dir, wheel_dir)


def _build_with_hatchling(project_dir: Path, wheel_dir: Path) -> Path:
    """What hatchling.build.build_wheel does, for a root given explicitly instead of the working
    directory: no chdir, so a build in one thread does not move another thread's relative paths."""
    from hatchling.builders.wheel import WheelBuilder

    try:
        builder = WheelBuilder(str(project_dir))
        return Path(next(builder.build(directory=str(wheel_dir), versions=["standard"])))
    except Exception as e:
        raise BuildError(f"Building {project_dir.name}'s wheel with hatchling failed: {e}") from e


def _has_requirements_for_wheel(module: object, project_dir: Path) -> bool:
    """Whether what the backend asks for to build a wheel is installed here (pip's check before
    a non-isolated build); setuptools < 70.1 asks for `wheel`, for instance."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement

    get_requires = getattr(module, "get_requires_for_build_wheel", None)
    if get_requires is None:
        return True
    with _in_directory(project_dir), _quiet_stdout():
        requires = get_requires()
    for line in requires:
        req = Requirement(line)
        try:
            if not req.specifier.contains(version(req.name), prereleases=True):
                return False
        except PackageNotFoundError:
            return False
    return True


def _import_backend(spec: str):  # type: ignore[no-untyped-def]
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return getattr(module, attr) if attr else module


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """setuptools prints its progress; keep it off our own output (JSON must stay parseable)."""
    with contextlib.redirect_stdout(
        sys.stderr if os.environ.get("DAGSTER_FASTDEPLOY_DEBUG") else _Null()
    ):
        yield


class _Null:
    def write(self, _: str) -> int:
        return 0

    def flush(self) -> None:
        pass


def _build_isolated(project_dir: Path, wheel_dir: Path) -> Path:
    from build import BuildBackendException, ProjectBuilder
    from build.env import DefaultIsolatedEnv

    env_vars = {**os.environ, SKIP_PEX_ENV: "1"}
    try:
        with DefaultIsolatedEnv() as env:
            builder = ProjectBuilder.from_isolated_env(env, project_dir)
            env.install(builder.build_system_requires)
            env.install(builder.get_requires_for_build("wheel"))
            previous = dict(os.environ)
            os.environ.update(env_vars)
            try:
                return Path(builder.build("wheel", wheel_dir))
            finally:
                os.environ.clear()
                os.environ.update(previous)
    except BuildBackendException as e:
        raise BuildError(f"Building {project_dir.name}'s wheel failed: {e}") from e


def new_wheel_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="fastdeploy-wheel-")
