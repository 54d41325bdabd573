"""Bytecode for deps environments: compiled once per wheel, then hardlinked into every new one.

Compiling a dagster + pandas venv costs ~6 s of a 2-core host, and a dependency change used to pay
it whole although one wheel moved. Each wheel of a deps.pex (`.deps/<wheel>/`, named with pex's
fingerprint of its installed files in PEX-INFO) gets its bytecode compiled once, into

    <data-dir>/bytecode/<wheel>-<fingerprint>-py<X.Y>/<path>/__pycache__/<module>.<tag>.pyc

and every environment holding that wheel gets those files as hardlinks: only new or changed
wheels are compiled (in parallel, `compileall -j 0`). The bytecode is written in
`unchecked-hash` mode (PEP 552): valid whatever the source file's mtime (each environment writes
its own copy of the sources), which is safe because an environment's files never change after it
is made. Python corrects the file names recorded in the bytecode to the importing environment's
paths when it loads them, so tracebacks name the environment's own files.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import uuid
import zipfile
from pathlib import Path

DEPS = ".deps/"


def wheel_sources(deps_pex: Path) -> dict[str, list[str]]:
    """`<wheel>-<fingerprint>` -> the .py files it installs under site-packages."""
    with zipfile.ZipFile(deps_pex) as archive:
        fingerprints = json.loads(archive.read("PEX-INFO")).get("distributions", {})
        found: dict[str, list[str]] = {f"{w}-{f}": [] for w, f in fingerprints.items()}
        for name in archive.namelist():
            if not name.startswith(DEPS) or not name.endswith(".py"):
                continue
            wheel, _, path = name[len(DEPS) :].partition("/")
            if wheel in fingerprints and not path.startswith(".prefix/"):
                found[f"{wheel}-{fingerprints[wheel]}"].append(path)
    return found


def _pyc(path: str, tag: str) -> str:
    head, _, tail = path.rpartition("/")
    pyc = f"__pycache__/{tail[:-3]}.{tag}.pyc"
    return f"{head}/{pyc}" if head else pyc


def provide_bytecode(venv: Path, deps_pex: Path, cache: Path, python: str) -> dict[str, float]:
    """Put bytecode for every module of `venv` (made from `deps_pex`, not yet in use): linked
    from `cache` for wheels compiled before, compiled (and then cached) for the others."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    site = next(venv.glob("lib/python*/site-packages"))
    tag = f"cpython-{python.replace('.', '')}"
    wheels = wheel_sources(deps_pex)
    suffix = f"-py{python}"
    missing = []
    for wheel, sources in wheels.items():
        cached = cache / f"{wheel}{suffix}"
        if not cached.is_dir():
            missing.append(wheel)
            continue
        for source in sources:
            pyc = _pyc(source, tag)
            if (cached / pyc).is_file() and (site / source).is_file():
                (site / pyc).parent.mkdir(exist_ok=True)
                # Two wheels that ship the same module: the first one's bytecode stays.
                with contextlib.suppress(FileExistsError):
                    os.link(cached / pyc, site / pyc)
    seconds["bytecode_linked"] = time.perf_counter() - started
    if not missing:
        return seconds
    started = time.perf_counter()
    if len(missing) == len(wheels):
        targets = [str(site)]
    else:
        tops = {s.split("/", 1)[0] for w in missing for s in wheels[w]}
        targets = sorted(str(site / top) for top in tops if (site / top).exists())
    _compile(venv / "bin" / "python", targets)
    seconds["bytecode_compiled"] = time.perf_counter() - started
    started = time.perf_counter()
    for wheel in missing:
        _keep(site, wheels[wheel], tag, cache / f"{wheel}{suffix}")
    seconds["bytecode_kept"] = time.perf_counter() - started
    return seconds


def _compile(python: Path, targets: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PEX_PYTHON")}
    subprocess.run(
        [str(python), "-m", "compileall", "-q", "-j", "0"]
        + ["--invalidation-mode", "unchecked-hash", *targets],
        capture_output=True,
        env=env,
        check=False,  # some packages ship files that do not compile; that is fine
    )


def _keep(site: Path, sources: list[str], tag: str, final: Path) -> None:
    """Link one wheel's fresh bytecode into the cache (a directory that appears whole)."""
    if final.exists():
        return
    work = final.parent / f".{final.name}.{uuid.uuid4().hex}.work"
    try:
        for source in sources:
            pyc = _pyc(source, tag)
            if (site / pyc).is_file():
                (work / pyc).parent.mkdir(parents=True, exist_ok=True)
                os.link(site / pyc, work / pyc)
        work.mkdir(parents=True, exist_ok=True)
        os.replace(work, final)
    except OSError:
        pass  # another host thread cached it first, or no room: the next one compiles again
    finally:
        shutil.rmtree(work, ignore_errors=True)
