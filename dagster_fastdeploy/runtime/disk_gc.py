"""Disk given back: environments and sources that nothing needs are removed from the data dir.

A host needs the environments (`envs/deps-<digest>`) and sources (`sources/source-<digest>`) of
the version each location serves, of every version being rolled out, and of the last
`retain_versions` recorded versions of each location (so a rollback within them starts
without materializing again). Everything else under `envs/` and `sources/` goes, after every
rollout and when the host starts, together with work dirs that crashed writers left behind.

Several hosts may share one data dir: each writes what it needs to `leases/<pid>.json`
(updated when a rollout begins, before anything is materialized) and removes only what no
live host's lease names. A directory is renamed aside before it is deleted, so no reader ever
sees half of one under its final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from dagster_fastdeploy.local_files import clean_stale_work_dirs, write_atomically
from dagster_fastdeploy.runtime.code_server_process import process_alive
from dagster_fastdeploy.runtime.log import log_event, log_exception

DEFAULT_RETAIN_VERSIONS = 5
DEFAULT_KEEP_UNUSED_FOR = 600.0  # seconds an environment no version needs stays anyway
_ENVIRONMENT = re.compile(r"(deps|source)-[0-9a-f]{64}")


class DiskGC:
    def __init__(
        self,
        data_dir: Path,
        needed: Callable[[], set[str]],
        keep_unused_for: float = DEFAULT_KEEP_UNUSED_FOR,
    ):
        self.data_dir = data_dir
        self.keep_unused_for = keep_unused_for
        self._needed = needed  # environment dir names this host needs (see module docstring)
        self._held: dict[str, int] = {}  # names of rollouts under way -> how many hold them
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._leases = data_dir / "leases"
        self._lease = self._leases / f"{os.getpid()}.json"

    # -- what is in use ----------------------------------------------------------------------
    def hold(self, names: Iterable[str]) -> None:
        """A rollout begins: its environments are needed from now on (written to the lease
        before anything is materialized)."""
        with self._lock:
            for name in names:
                self._held[name] = self._held.get(name, 0) + 1
        self._write_lease(set())

    def touch(self, names: Iterable[str]) -> None:
        """These environments were just used: they count as unused from now on."""
        for name in names:
            kind = "envs" if name.startswith("deps-") else "sources"
            with contextlib.suppress(OSError):
                os.utime(self.data_dir / kind / name)

    def release(self, names: Iterable[str]) -> None:
        with self._lock:
            for name in names:
                left = self._held.get(name, 0) - 1
                if left > 0:
                    self._held[name] = left
                else:
                    self._held.pop(name, None)

    def _write_lease(self, needed: set[str]) -> set[str]:
        with self._lock:
            names = needed | set(self._held)
            if not needed and self._lease.exists():  # keep what the last collect computed
                with contextlib.suppress(OSError, ValueError):
                    names |= set(json.loads(self._lease.read_text()))
        try:
            write_atomically(self._lease, json.dumps(sorted(names)))
        except OSError as e:  # a full disk: collecting is what frees it, so go on
            log_event("disk.lease_error", error=str(e))
        return names

    def _leased(self) -> set[str]:
        names: set[str] = set()
        for lease in self._leases.glob("*.json"):
            if not lease.stem.isdigit():
                continue
            if not process_alive(int(lease.stem)):
                lease.unlink(missing_ok=True)
                continue
            try:
                names |= set(json.loads(lease.read_text()))
            except (OSError, ValueError):
                return set(_all_environments(self.data_dir))  # unreadable: remove nothing
        return names

    # -- collecting --------------------------------------------------------------------------
    def collect(self) -> list[str]:
        """Remove what no live host needs; returns the names removed."""
        own = self._write_lease(self._needed())
        keep = own | self._leased()
        removed = []
        recent = time.time() - self.keep_unused_for
        if (self.data_dir / "installed-wheels").is_dir():
            clean_stale_work_dirs(self.data_dir / "installed-wheels")
        for kind in ("envs", "sources"):
            directory = self.data_dir / kind
            if not directory.is_dir():
                continue
            clean_stale_work_dirs(directory)  # what crashed writers left
            for path in directory.iterdir():
                if path.name.startswith(".trash-"):
                    shutil.rmtree(path, ignore_errors=True)  # a crashed collector's leftovers
                elif (
                    _ENVIRONMENT.fullmatch(path.name)
                    and path.name not in keep
                    and _modified(path) < recent
                ):
                    aside = directory / f".trash-{path.name}-{os.getpid()}"
                    try:
                        os.rename(path, aside)
                    except OSError:
                        continue
                    shutil.rmtree(aside, ignore_errors=True)
                    removed.append(path.name)
        if removed:
            log_event("disk.collected", removed=removed, kept=len(keep))
        return removed

    def collect_soon(self) -> None:
        """Collect in the background (one thread, woken after each rollout)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="disk-gc", daemon=True)
                self._thread.start()
        self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            try:
                self.collect()
            except Exception:  # a failed collection must not stop the next one
                log_exception("disk.error")

    def stop(self) -> None:
        self._lease.unlink(missing_ok=True)


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()


def _all_environments(data_dir: Path) -> Iterable[str]:
    for kind in ("envs", "sources"):
        directory = data_dir / kind
        if directory.is_dir():
            yield from (p.name for p in directory.iterdir())


def environment_names(pex_tag: str) -> set[str]:
    """The env and source dir names of a version: `deps-<digest>`, `source-<digest>`."""
    from dagster_fastdeploy.manifest import parse_pex_tag

    try:
        names = {name.removesuffix(".pex") for name in parse_pex_tag(pex_tag)}
    except ValueError:
        return set()
    return {name for name in names if _ENVIRONMENT.fullmatch(name)}
