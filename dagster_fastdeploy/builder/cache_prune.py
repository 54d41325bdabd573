"""`cache prune`: the build cache's big entries that no build has used for a while, removed.

The build cache only grows: a deps.pex per dependency set (`deps/<locked hash>/`, 55 MB for the
example), each wheel's zip entries (`wheel-entries/blocks/`) and each fetched wheel
(`wheels/<sha256>/`). A build marks what it uses (the entry's mtime): the deps.pex it reuses, the
wheel entries it assembles a deps.pex from, the fetched wheels it reuses. `prune` removes the
entries of those three kinds not used for `older_than` seconds. What it removes is only a cache:
the next build that needs it builds or fetches it again. Lock files and work directories (names
starting with a dot) are left to the builds that own them; the small JSON entries (which deps.pex
an input gave, which wheels a pin gave, layouts) stay: an entry that names a removed one counts
as not cached.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dagster_fastdeploy.builder.cache import cache_root

PRUNED = ("deps", "wheel-entries/blocks", "wheels")
DAY = 24 * 3600.0


def mark_used(path: Path) -> None:
    """Record that a build used the cache entry at `path` (its mtime: now)."""
    with contextlib.suppress(OSError):
        os.utime(path)


@dataclass
class PruneResult:
    cache: str
    older_than_days: float
    removed: int
    bytes_freed: int
    kept: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def prune(older_than: float, now: float | None = None) -> PruneResult:
    """Remove the deps.pex entries, wheel entries and fetched wheels of the build cache that no
    build used in the last `older_than` seconds."""
    now = time.time() if now is None else now
    root = cache_root()
    removed = freed = kept = 0
    for kind in PRUNED:
        directory = root / kind
        if not directory.is_dir():
            continue
        for entry in sorted(directory.iterdir()):
            if entry.name.startswith("."):
                continue  # a lock file or a build's work directory
            try:
                unused = now - entry.stat().st_mtime
            except OSError:
                continue
            if unused <= older_than:
                kept += 1
                continue
            size = _size(entry)
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            if not entry.exists():
                removed += 1
                freed += size
    return PruneResult(str(root), older_than / DAY, removed, freed, kept)
