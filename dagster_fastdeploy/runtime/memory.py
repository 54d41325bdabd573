"""Per-location memory limits, enforced by watching each code server's process tree.

A version whose import allocates without bound must not take the host (and every other
location on it) down. Every code server is registered here with its location's limit (the
project's `memory_limit` in [tool.dagster-fastdeploy], else `serve --memory-limit`, else
DEFAULT_FRACTION of the machine's memory). Every CHECK_INTERVAL seconds the guard adds up the
resident memory of the code server and every process under it (run workers included); a tree
over its limit is killed (SIGKILL to its process group) and the code server reports
"exceeded its memory limit of N MiB": at load, the rollout fails with that error and the old
version keeps serving; afterwards, the watchdog restarts it (and gives up on a loop).

Limits: RSS is sampled, so an allocation faster than CHECK_INTERVAL can overshoot by what it
allocates in that time; the kernel's own limit (a cgroup) would be exact, and is not used yet.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from dagster_fastdeploy.errors import ConfigError
from dagster_fastdeploy.runtime.log import log_event, log_exception

CHECK_INTERVAL = 0.2
DEFAULT_FRACTION = 0.5
MiB = 1024 * 1024
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
    "tib": 1024**4,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def parse_size(text: str, where: str) -> int:
    """Bytes in `2GiB`, `512 MiB`, `1.5G` (a bare number is bytes); a ConfigError naming
    `where` otherwise."""
    match = _SIZE.fullmatch(str(text))
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS or float(match.group(1)) <= 0:
        raise ConfigError(
            f"{where}: {text!r} is not a memory size; write it like 2GiB, 512MiB or 1.5GB"
        )
    return int(float(match.group(1)) * _UNITS[unit])


def default_limit() -> int:
    """DEFAULT_FRACTION of this machine's memory."""
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 4 * 1024**3
    return int(pages * _PAGE * DEFAULT_FRACTION)


def limit_message(limit: int) -> str:
    return (
        f"the code server exceeded its memory limit of {limit // MiB} MiB and was stopped; raise "
        'it with memory_limit = "..." in [tool.dagster-fastdeploy] (or serve --memory-limit), '
        "or make the code load with less"
    )


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _children(pid: int) -> list[int]:
    """The children of `pid`, from each of its threads' `children` file (cheap: no scan of
    every process on the machine)."""
    found: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            found += [int(c) for c in _read(f"/proc/{pid}/task/{tid}/children").split()]
    except OSError:
        pass
    return found


def tree_rss(root: int) -> int:
    """Resident bytes of `root` and every process under it (0 when it is gone)."""
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            total += int(_read(f"/proc/{pid}/statm").split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue
        todo += _children(pid)
    return total


class MemoryGuard:
    """One thread watching every registered code server's process tree."""

    def __init__(self) -> None:
        self._watched: dict[int, tuple[int, Callable[[str], None], str]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, pid: int, limit: int, exceeded: Callable[[str], None], location: str) -> None:
        """Kill `pid`'s process tree once it holds more than `limit` bytes, after telling
        `exceeded(message)` why."""
        with self._lock:
            self._watched[pid] = (limit, exceeded, location)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="memory", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def _loop(self) -> None:
        while not self._stopping.wait(CHECK_INTERVAL):
            with self._lock:
                watched = list(self._watched.items())
            for pid, (limit, exceeded, location) in watched:
                try:
                    self._check(pid, limit, exceeded, location)
                except Exception:  # the guard must outlive any one process
                    log_exception("memory.error", pid=pid)

    def _check(self, pid: int, limit: int, exceeded: Callable[[str], None], location: str) -> None:
        if not Path(f"/proc/{pid}").exists():
            with self._lock:
                self._watched.pop(pid, None)
            return
        used = tree_rss(pid)
        if used <= limit:
            return
        with self._lock:
            self._watched.pop(pid, None)
        message = limit_message(limit)
        exceeded(message)
        log_event(
            "code_server.memory_limit",
            location=location,
            pid=pid,
            used_mib=used // MiB,
            limit_mib=limit // MiB,
        )
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
