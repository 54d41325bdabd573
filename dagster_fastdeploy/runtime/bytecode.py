"""Bytecode for newly installed wheels: what a code server imports first, the rest later.

Compiling every file of a cold environment (4,490 files for the example's 51 wheels: 12 s on
2 busy cores) is most of a first rollout, yet a code server's start imports about a third of
them. So when the new wheels hold more than COMPILE_NOW_LIMIT Python files:

- now, before the environment is published: the files that importing what a standby imports
  (dagster and its server machinery, `START_MODULES`) and the top-level modules of the new wheels
  no other wheel requires (the project's direct dependencies, what its code imports: pandas, say;
  never user code itself) loads, as read from their imports (start_imports.py), are compiled by
  one process per core into the work directory's own `__pycache__` (`unchecked-hash`: the
  sources are hardlinks that are never written). Nothing is imported: the example's 1,478
  files in 1.6-1.8 s on 2 cores, where importing them to compile them took 3.6-4.3 s;
- later, in one background process at the lowest CPU priority: every file of the new wheels is
  compiled into the installed-wheel cache (`unchecked-hash`, new files only, written by
  py_compile's atomic rename), and `.bytecode-complete` is dropped in each wheel's directory;
  environments made afterwards link the complete bytecode. The process stops when the host
  process is gone, or when the host stops (`Background.stop`); an unfinished wheel is compiled
  again by the next rollout that links it.

An environment that serves is never written: the background process writes only into the cache,
and code servers run with PYTHONDONTWRITEBYTECODE (code_server_process.child_environment), so a
module the reading missed (one a function or a compiled extension imports, about 6% of a
standby's) or one only a run imports is compiled in memory by the process importing it, until
the host's next environment of those wheels.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from pathlib import Path

from dagster_fastdeploy.loader._loader_dagster import START_MODULES
from dagster_fastdeploy.runtime.start_imports import start_files

COMPILE_NOW_LIMIT = 400
COMPLETE = ".bytecode-complete"
MAX_COMPILERS = 4

# Run by the base interpreter (same version as the environment's). argv: "later" (lowest
# priority, `.bytecode-complete` dropped in each directory done, the directories after the
# parent's pid) or "files" (the files on stdin, in order), then the parent's pid. Stops when
# the parent is gone.
_COMPILE = """
import os, py_compile, sys
from importlib.util import cache_from_source
later, parent = sys.argv[1] == "later", int(sys.argv[2])
mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
def compile(source):
    if os.getppid() != parent:
        sys.exit(0)
    if os.path.exists(cache_from_source(source)):
        return
    try:
        py_compile.compile(source, doraise=True, invalidation_mode=mode)
    except Exception:
        pass  # some packages ship files that do not compile; that is fine
if not later:
    for line in sys.stdin:
        compile(line.rstrip("\\n"))
    sys.exit(0)
os.nice(19)
for top in sys.argv[3:]:
    for root, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                compile(os.path.join(root, name))
    if os.path.isdir(top):
        open(os.path.join(top, ".bytecode-complete"), "a").close()
"""
COMPILE_TIMEOUT = 120.0


def interpreter_environment() -> dict[str, str]:
    """The host's environment for running an interpreter on its own work (compiling, pex
    tools): without the PYTHONPATH or PEX_PYTHON that would point it at the host's Python."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PEX_PYTHON")}


def python_files(directories: list[Path]) -> int:
    return sum(
        1 for d in directories for _, _, files in os.walk(d) for f in files if f.endswith(".py")
    )


def compile_now(python: Path, directories: list[Path]) -> None:
    """Every file of `directories`, in parallel (`compileall -j 0`), `unchecked-hash`."""
    env = interpreter_environment()
    subprocess.run(
        [str(python), "-m", "compileall", "-q", "-j", "0"]
        + ["--invalidation-mode", "unchecked-hash", *map(str, directories)],
        capture_output=True,
        env=env,
        check=False,  # some packages ship files that do not compile; that is fine
    )
    for directory in directories:
        (directory / COMPLETE).touch()


def top_level_modules(installed: list[Path]) -> list[str]:
    """The top-level modules and packages of installed wheels (an integration such as
    dagster_dbt among them: the project's code imports it)."""
    names = set()
    for directory in installed:
        for entry in directory.iterdir():
            name = entry.name.removesuffix(".py") if entry.is_file() else entry.name
            if entry.is_file() and not entry.name.endswith(".py"):
                continue
            if entry.is_dir() and not (entry / "__init__.py").is_file():
                continue
            if name.isidentifier() and not name.startswith("_"):
                names.add(name)
    return sorted(names)


def _metadata(installed: Path) -> tuple[str, set[str]]:
    """A wheel's project name and the projects it requires here (no extras)."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    name, needs = "", set()
    for metadata in installed.glob("*.dist-info/METADATA"):
        for line in metadata.read_text(encoding="utf-8", errors="replace").splitlines():
            if not line:
                break  # the headers end at the first empty line
            key, _, value = line.partition(":")
            if key == "Name":
                name = str(canonicalize_name(value.strip()))
            elif key == "Requires-Dist":
                try:
                    requirement = Requirement(value.strip())
                except InvalidRequirement:
                    continue
                marker = requirement.marker
                if marker is None or marker.evaluate({"extra": ""}):
                    needs.add(str(canonicalize_name(requirement.name)))
    return name, needs


def not_required(installed: list[Path], among: list[Path]) -> list[Path]:
    """The wheels of `among` that no wheel of `installed` requires: the project's own direct
    dependencies, which its code imports (pandas, say), not what they bring along."""
    metadata = {directory: _metadata(directory) for directory in installed}
    needed = set().union(*(needs for _, needs in metadata.values()))
    return [d for d in among if (metadata.get(d) or _metadata(d))[0] not in needed]


def compile_start_imports(
    venv: Path, installed: list[Path], interpreter: Path, direct: list[Path] | None = None
) -> int:
    """Compile, into `venv` (a work directory nobody uses yet), the files that importing what
    a standby imports and the top-level modules of `direct` (default: `installed`; the project's
    direct dependencies among the new wheels) loads, as read from their imports; one process
    (`interpreter`) per core, the list dealt out in import order. Files with bytecode already
    (linked from a complete wheel) are left alone; compiles still busy after COMPILE_TIMEOUT are
    stopped. Returns how many files were given to compile."""
    from importlib.util import cache_from_source

    site = next((venv / "lib").glob("python*/site-packages"))
    roots = [*START_MODULES, *top_level_modules(installed if direct is None else direct)]
    files = [f for f in start_files(site, roots) if not os.path.exists(cache_from_source(str(f)))]
    if not files:
        return 0
    env = interpreter_environment()
    compilers = max(1, min(os.cpu_count() or 1, MAX_COMPILERS, len(files)))
    with tempfile.TemporaryDirectory(prefix="fastdeploy-compile-") as scratch:
        processes = []
        for i in range(compilers):
            # Each its own list in a file: a pipe holds 64 KB, and a list written into one
            # would wait for that compiler to read it before the next compiler got its own.
            share = Path(scratch) / f"{i}.txt"
            share.write_text("".join(f"{f}\n" for f in files[i::compilers]))
            with share.open() as stdin:
                processes.append(
                    subprocess.Popen(
                        [str(interpreter), "-I", "-c", _COMPILE, "files", str(os.getpid())],
                        env=env,
                        stdin=stdin,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
        for process in processes:
            try:
                process.wait(COMPILE_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return len(files)


class Background:
    """The background compiles a host started (at most one running at a time per caller)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: list[subprocess.Popen] = []
        self._stopped = False

    def compile_later(self, interpreter: Path, directories: list[Path]) -> None:
        """Compile `directories` (installed wheels) in the background, lowest priority."""
        if not directories:
            return
        env = interpreter_environment()
        with self._lock:
            if self._stopped:
                return
            self._running = [p for p in self._running if p.poll() is None]
            self._running.append(
                subprocess.Popen(
                    [str(interpreter), "-I", "-c", _COMPILE, "later", str(os.getpid())]
                    + [str(d) for d in directories],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )

    def wait(self, timeout: float) -> bool:
        """Whether every background compile finished within `timeout` seconds."""
        with self._lock:
            running = list(self._running)
        try:
            for process in running:
                process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            running, self._running = self._running, []
        for process in running:
            if process.poll() is None:
                process.kill()
            process.wait()
