"""A deps environment made from deps.pex: a venv whose files are hardlinks into installed wheels.

Each wheel of a deps.pex (`.deps/<wheel>/`, named in PEX-INFO with pex's fingerprint of its
installed files) is installed once per host and Python version, with its bytecode compiled:

    <data-dir>/installed-wheels/<wheel>-<fingerprint>-py<X.Y>/   the wheel's files + __pycache__

A new environment is a bare venv (interpreter links and pyvenv.cfg, as `python -m venv
--without-pip` writes them) whose site-packages holds hardlinks to those files: a dependency
change installs and compiles only its new or changed wheels (in parallel: `compileall -j 0`), and
links the rest in a fraction of a second. Many new wheels at once (a cold host) get the bytecode
of what a standby imports before the environment is published, the rest in the background into
the cache (bytecode.py). Scripts (`.prefix/bin`, e.g. `bin/dagster`) are copied,
their `#!python` pointed at the environment's own interpreter, as `pex-tools venv` does.

Bytecode is written in `unchecked-hash` mode (PEP 552): valid whatever the mtime of the source it
sits next to, which is safe because installed files never change (new inodes only). Python
corrects the file names recorded in bytecode to the importing environment's own paths when it
loads them, so tracebacks name the environment's files. Nothing here ever writes into a file that
exists: an environment in use shares its inodes with the cache and with other environments.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from dagster_fastdeploy.local_files import atomic_directory
from dagster_fastdeploy.runtime.bytecode import (
    COMPILE_NOW_LIMIT,
    COMPLETE,
    Background,
    compile_now,
    compile_start_imports,
    not_required,
    python_files,
)

DEPS = ".deps/"
PREFIX = ".prefix"
_STARTED = ".bytecode-later"
SKIPPED = {".layout.json", COMPLETE, _STARTED}
# The lines pex-tools venv puts before a `#!python` script: sh runs the exec line (any shebang
# length works), Python reads the lines as one string literal.
_SCRIPT_HEAD = "#!/bin/sh\n'''': pshprs\nexec {python} -I \"$0\" \"$@\"\n'''\n"


def wheels_of(deps_pex: Path) -> dict[str, str]:
    """The wheels of a deps.pex and their fingerprints (PEX-INFO `distributions`)."""
    with zipfile.ZipFile(deps_pex) as archive:
        return dict(json.loads(archive.read("PEX-INFO")).get("distributions", {}))


def make_deps_venv(
    deps_pex: Path,
    work: Path,
    final: Path,
    interpreter: Path,
    python: str,
    cache: Path,
    background: Background | None = None,
) -> dict[str, float]:
    """Fill `work` (renamed to `final` by the caller) with a venv of `deps_pex` for
    `interpreter` (a Python `python`); its seconds by step. With `background`, many new wheels'
    bytecode is compiled for what a code server imports first and the rest later (bytecode.py);
    without, all of it now."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    site = _bare_venv(work, final, interpreter, python)
    wheels = wheels_of(deps_pex)
    installed = {w: cache / f"{w}-{f}-py{python}" for w, f in wheels.items()}
    seconds["venv"] = time.perf_counter() - started
    missing = [w for w, path in installed.items() if not path.is_dir()]
    later: list[Path] = []
    if missing:
        started = time.perf_counter()
        later = _install(
            deps_pex, {w: installed[w] for w in missing}, work / "bin" / "python", background
        )
        seconds["wheels_installed"] = time.perf_counter() - started
        seconds["wheels_new"] = float(len(missing))
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda w: _link_wheel(installed[w], site, work, final), sorted(installed)))
    seconds["wheels_linked"] = time.perf_counter() - started
    if background is not None:
        if later:
            started = time.perf_counter()
            direct = not_required(list(installed.values()), later)
            files = compile_start_imports(work, later, interpreter, direct)
            seconds["bytecode_start_imports"] = time.perf_counter() - started
            seconds["bytecode_start_files"] = float(files)
        # New wheels' bytecode, and any an earlier host left unfinished, for the next environment.
        unfinished = [
            p for p in installed.values() if (p / _STARTED).exists() and not (p / COMPLETE).exists()
        ]
        background.compile_later(interpreter, unfinished)
        if unfinished:
            seconds["bytecode_later_wheels"] = float(len(unfinished))
    return seconds


def _bare_venv(work: Path, final: Path, interpreter: Path, python: str) -> Path:
    """What `python -m venv --without-pip` writes, for an environment that will live at `final`."""
    bin_dir = work / "bin"
    bin_dir.mkdir(parents=True)
    os.symlink(interpreter, bin_dir / f"python{python}")
    for alias in ("python", "python3"):
        os.symlink(f"python{python}", bin_dir / alias)
    site = work / "lib" / f"python{python}" / "site-packages"
    site.mkdir(parents=True)
    os.symlink("lib", work / "lib64")
    (work / "pyvenv.cfg").write_text(
        f"home = {interpreter.parent}\n"
        "include-system-site-packages = false\n"
        f"version = {python}\n"
        f"executable = {interpreter}\n"
        f"command = {interpreter} -m venv --without-pip {final}\n"
    )
    return site


def _install(
    deps_pex: Path, targets: dict[str, Path], python: Path, background: Background | None
) -> list[Path]:
    """Install wheels of `deps_pex` into their cache directories, bytecode compiled now, or
    (with `background`, for many files) left for later: those wheels' directories returned."""
    with ExitStack() as stack:
        work = {}
        for wheel, final in targets.items():
            directory = stack.enter_context(atomic_directory(final))
            if directory is not None:  # else another thread or host installed it meanwhile
                work[wheel] = directory
        if not work:
            return []
        with zipfile.ZipFile(deps_pex) as archive:
            members: dict[str, list[zipfile.ZipInfo]] = {w: [] for w in work}
            for info in archive.infolist():
                wheel = info.filename[len(DEPS) :].split("/", 1)[0]
                if info.filename.startswith(DEPS) and wheel in members:
                    members[wheel].append(info)
            with ThreadPoolExecutor(max_workers=2) as pool:
                jobs = [
                    pool.submit(_extract, archive, members[w], f"{DEPS}{w}/", work[w]) for w in work
                ]
                for job in jobs:
                    job.result()
        directories = list(work.values())
        if background is None or python_files(directories) <= COMPILE_NOW_LIMIT:
            compile_now(python, directories)
            return []
        for directory in directories:
            (directory / _STARTED).touch()  # its bytecode is compiled later (bytecode.py)
    return [targets[wheel] for wheel in work]


def _extract(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], prefix: str, to: Path) -> None:
    for info in infos:
        relative = info.filename[len(prefix) :]
        if not relative or relative.startswith("/") or ".." in relative.split("/"):
            continue
        path = to / relative
        if info.is_dir():
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(archive.read(info))
        if (info.external_attr >> 16) & 0o111:
            path.chmod(0o755)


def _link_wheel(installed: Path, site: Path, venv: Path, final: Path) -> None:
    for root, dirs, files in os.walk(installed):
        relative = os.path.relpath(root, installed)
        if relative == ".":
            if PREFIX in dirs:
                dirs.remove(PREFIX)
                _link_prefix(installed / PREFIX, venv, final)
            files = [f for f in files if f not in SKIPPED]
        into = site if relative == "." else site / relative
        into.mkdir(exist_ok=True)
        if os.path.basename(root) == "__pycache__":
            # a background compile may be writing here: only whole files (py_compile renames)
            files = [f for f in files if f.endswith(".pyc")]
        for name in files:
            # Two wheels that ship the same file (a namespace __init__.py): the first one's stays.
            with contextlib.suppress(FileExistsError):
                os.link(os.path.join(root, name), into / name)


def _link_prefix(prefix: Path, venv: Path, final: Path) -> None:
    """A wheel's scripts and data files (`.prefix/`) go to the venv's root, scripts pointed at
    the venv's interpreter."""
    for root, _, files in os.walk(prefix):
        relative = os.path.relpath(root, prefix)
        into = venv / relative
        into.mkdir(parents=True, exist_ok=True)
        for name in files:
            source, target = Path(root) / name, into / name
            if target.exists():
                continue
            data = source.read_bytes()
            if relative == "bin" and data.startswith(b"#!python"):
                body = data.split(b"\n", 1)[1] if b"\n" in data else b""
                head = _SCRIPT_HEAD.format(python=final / "bin" / "python").encode()
                target.write_bytes(head + body)
                target.chmod(0o755)
            else:
                os.link(source, target)
