"""Environments: each PEX fetched, verified and materialized once per digest under the data dir.

    <data-dir>/blobs/<name>.pex           fetched blobs (a file:// store is read in place)
    <data-dir>/envs/deps-<digest>/        a venv made from deps.pex, bytecode compiled ahead
    <data-dir>/sources/source-<digest>/   source.pex's files

Every directory is written with `atomic_directory` (local_files.py, a port of pex's): built
under a temporary name beside its final one and renamed into place under a file lock, so a
crashed or concurrent writer never leaves a half-built environment.
A deps venv is shared by every location version built from the same deps.pex.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dagster_fastdeploy.builder.interpreters import locate_python
from dagster_fastdeploy.errors import DiskFullError, HostError, IntegrityError
from dagster_fastdeploy.local_files import atomic_directory
from dagster_fastdeploy.manifest import Manifest
from dagster_fastdeploy.runtime.bytecode import Background, interpreter_environment
from dagster_fastdeploy.runtime.deps_venv import make_deps_venv, wheels_of
from dagster_fastdeploy.runtime.log import timed_step
from dagster_fastdeploy.store.base import Store
from dagster_fastdeploy.store.blobs import blob_digest, verify_blob_file

# What `pex -D` adds around the project's files: not part of the source environment.
PEX_MACHINERY = (".bootstrap/", "__pex__/", "PEX-INFO", "__main__.py", ".deps/")


@dataclass
class Environment:
    """Where one location version runs: its interpreter, its source, its working directory."""

    python: Path
    deps_dir: Path
    source_dir: Path
    working_directory: Path


def inside(root: Path, *parts: str) -> Path:
    """`root / parts`, refused unless it resolves inside `root` (names read from a store are
    checked against their patterns first; this is the second lock on the same door)."""
    path = root.joinpath(*parts)
    resolved, base = path.resolve(), root.resolve()
    if resolved != base and base not in resolved.parents:
        raise IntegrityError(f"{path} resolves outside {root}: refused")
    return path


class Environments:
    def __init__(self, data_dir: Path, store: Store):
        self.data_dir = data_dir
        self.store = store
        self.bytecode = Background()  # new wheels' bytecode compiled later (bytecode.py)

    def stop(self) -> None:
        """Stop the background work (compiles); what it finished stays, the rest is redone."""
        self.bytecode.stop()

    def deps_dir(self, manifest: Manifest) -> Path:
        """Where the manifest's deps environment is (or will be) materialized."""
        blob_digest(manifest.deps.name)  # checked before it becomes a path
        return inside(self.data_dir / "envs", manifest.deps.name.removesuffix(".pex"))

    def prepare(
        self,
        manifest: Manifest,
        timings: dict[str, float],
        location: str,
        version: int | None,
        deps_ready: Callable[[Path], None] | None = None,
    ) -> Environment:
        """Fetch both blobs (in parallel), then materialize both (in parallel); skips whatever
        is already there. Timed as the rollout steps `fetch` and `materialize`. `deps_ready` is
        called with the deps environment as soon as it exists (the source may still be in
        the making): the host starts its standby there."""
        # names first: nothing read from a record becomes a path before it is checked
        blob_digest(manifest.source.name)
        deps_dir = self.deps_dir(manifest)
        source_dir = inside(self.data_dir / "sources", manifest.source.name.removesuffix(".pex"))
        with ThreadPoolExecutor(max_workers=2) as pool:
            with timed_step(timings, "fetch", location, version):
                deps_blob = pool.submit(self._fetch, manifest.deps.name, deps_dir)
                source_blob = pool.submit(self._fetch, manifest.source.name, source_dir)
                deps_path, source_path = deps_blob.result(), source_blob.result()
            with timed_step(timings, "materialize", location, version), _disk_full_said():
                venv = pool.submit(
                    self._materialize_deps, deps_path, deps_dir, manifest.python, timings
                )
                source = pool.submit(self._extract_source, source_path, source_dir)
                venv.result()
                if deps_ready is not None:
                    deps_ready(deps_dir)
                source.result()
        # A fetched copy is not needed once its environment exists (a file store's blob is
        # read in place and never removed).
        fetched = self.data_dir / "blobs"
        for path in (deps_path, source_path):
            if path is not None and path.parent == fetched:
                path.unlink(missing_ok=True)
        root = source_dir / "working_directory" / "root"
        working_directory = (
            inside(root, manifest.target.working_directory).resolve()
            if root.is_dir()
            else source_dir
        )
        return Environment(
            python=deps_dir / "bin" / "python",
            deps_dir=deps_dir,
            source_dir=source_dir,
            working_directory=working_directory,
        )

    def _fetch(self, name: str, materialized: Path) -> Path | None:
        """A verified local path to blob `name`, or None when it is materialized already."""
        if materialized.exists():
            return None
        local = self.store.local_blob_path(name)
        if local is not None and local.exists():
            verify_blob_file(name, local, stored_at=str(local))  # every time: it may have changed
            return local
        dest = inside(self.data_dir / "blobs", name)
        if dest.exists():
            try:
                verify_blob_file(name, dest, stored_at=str(dest))  # left by an earlier fetch
                return dest
            except IntegrityError:
                dest.unlink(missing_ok=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.store.get_blob(name, dest)  # verifies the digest
        return dest

    def _materialize_deps(
        self, deps_pex: Path | None, final: Path, python: str, timings: dict[str, float]
    ) -> None:
        with atomic_directory(final) as work:
            if work is None:
                return
            assert deps_pex is not None
            here = f"{sys.version_info[0]}.{sys.version_info[1]}"
            if _is_zipapp(deps_pex):
                # Only new wheels installed and compiled; the rest linked (see deps_venv.py).
                steps = make_deps_venv(
                    deps_pex,
                    work,
                    final,
                    _interpreter(python),
                    python or here,
                    self.data_dir / "installed-wheels",
                    self.bytecode,
                )
            else:  # a deps.pex laid out otherwise: pex-tools makes the venv, all compiled here
                started = time.perf_counter()
                _run(
                    [*_pex_tools(python), str(deps_pex), "venv", str(work)], "materialize deps.pex"
                )
                _run(
                    [str(work / "bin" / "python"), "-m", "compileall", "-q", "-j", "0"]
                    + ["-s", str(work), "-p", str(final), str(work / "lib")],
                    "compile the deps venv",
                    check=False,  # some packages ship files that do not compile; that is fine
                )
                steps = {"pex_tools_venv": time.perf_counter() - started}
            for step, duration in steps.items():
                timings[f"materialize.{step}"] = round(duration, 4)

    def _extract_source(self, source_pex: Path | None, final: Path) -> None:
        with atomic_directory(final) as work:
            if work is None:
                return
            assert source_pex is not None
            with zipfile.ZipFile(source_pex) as zf:
                members = [m for m in zf.namelist() if not m.startswith(PEX_MACHINERY)]
                zf.extractall(work, members)


@contextmanager
def _disk_full_said() -> Iterator[None]:
    """A full disk while materializing is said as such (the half-made environment is already
    gone: atomic_directory removes its work dir), not as a bare OSError."""
    try:
        yield
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
        raise DiskFullError(
            f"no space left on the host's disk while materializing ({e.filename or e}): this "
            "rollout stopped, its half-made environment was removed and the version before "
            "keeps serving. Free space on the data dir's disk (serve --retain-versions lower "
            "keeps fewer old environments) and deploy again."
        ) from e
    except HostError as e:
        if "No space left on device" not in str(e):
            raise
        raise DiskFullError(f"no space left on the host's disk: {e}") from e


def _pex_tools(python: str) -> list[str]:
    """The command that runs pex's tools under an interpreter of the manifest's version."""
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if not python or python == here:
        return [sys.executable, "-m", "pex.tools"]
    return [str(_installed_python(python)), "-c", _PEX_TOOLS_UNDER_OTHER_PYTHON, _pex_parent()]


def _installed_python(python: str) -> Path:
    """An interpreter of Python `python` on this host (see builder/interpreters.py)."""
    found = locate_python(python)
    if found is None:
        raise HostError(
            f"this location needs Python {python} and the host has none: install python{python} "
            "on the host's PATH (or with pyenv)"
        )
    return found


def _is_zipapp(deps_pex: Path) -> bool:
    """Whether deps.pex holds its wheels installed under `.deps/` (pex's default layout)."""
    try:
        return bool(wheels_of(deps_pex))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return False


def _interpreter(python: str) -> Path:
    """The real interpreter (not a venv's, not a shim) of Python `python` ("3.12")."""
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if not python or python == here:
        return Path(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))
    found = _installed_python(python)
    probe = subprocess.run(
        [str(found), "-c", "import os, sys; print(os.path.realpath(sys._base_executable))"],
        capture_output=True,
        text=True,
    )
    return Path(probe.stdout.strip()) if probe.returncode == 0 else found


_PEX_TOOLS_UNDER_OTHER_PYTHON = (
    "import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); "
    "runpy.run_module('pex.tools', run_name='__main__', alter_sys=True)"
)


def _pex_parent() -> str:
    import pex

    return str(Path(pex.__file__).resolve().parent.parent)


def _run(cmd: list[str], what: str, check: bool = True) -> None:
    env = interpreter_environment()
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if check and result.returncode != 0:
        raise HostError(f"could not {what}: {result.stderr.strip()[-2000:]}")
