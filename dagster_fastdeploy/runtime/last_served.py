"""Never dark because the newest version is bad: what a location falls back to.

The host remembers, per location, the last version that served (`<data-dir>/last-served-
<deployment>.json`, written at every switch). When the version a location should serve fails
and the location serves nothing (a restarted host, a fresh host, a code server that died), the
host rolls out, in order: the remembered version, then the recorded history from newest to
oldest, skipping versions that failed and versions with the same files as one that failed, at
most MAX_FALLBACKS of them. The failed newer version stays the one `status` reports, with its
error; `serving_version` says what serves meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path

from dagster_fastdeploy.local_files import write_atomically
from dagster_fastdeploy.store.records import DeploymentRecord, VersionEntry

MAX_FALLBACKS = 3


class LastServed:
    """location -> the version that last served on this data dir."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def _read(self) -> dict[str, int]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): v for k, v in data.items() if isinstance(v, int)}

    def get(self, location: str) -> int | None:
        with self._lock:
            return self._read().get(location)

    def remember(self, location: str, version: int) -> None:
        with self._lock:
            data = self._read()
            if data.get(location) == version:
                return
            data[location] = version
            # a full disk must not fail a rollout that already switched
            with contextlib.suppress(OSError):
                write_atomically(self.path, json.dumps(data, indent=1, sort_keys=True))


def fallback_candidates(
    record: DeploymentRecord, failed: set[int], remembered: int | None
) -> list[VersionEntry]:
    """The versions to try, in order, when the current one failed and nothing serves."""
    current = record.current
    bad_tags = {e.pex_tag for e in record.history if e.version in failed}
    if current is not None:
        bad_tags.add(current.pex_tag)
    ordered = [record.find(remembered)] if remembered is not None else []
    ordered += list(reversed(record.history))
    chosen: list[VersionEntry] = []
    for entry in ordered:
        if entry is None or entry.pex_tag in bad_tags or entry in chosen:
            continue
        chosen.append(entry)
        bad_tags.add(entry.pex_tag)  # the same files twice would fail twice
        if len(chosen) == MAX_FALLBACKS:
            break
    return chosen
