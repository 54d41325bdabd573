"""The local build cache: `$DAGSTER_FASTDEPLOY_CACHE` (default ~/.cache/dagster-fastdeploy).

Every entry is written the way pex writes its caches (pex/atomic_directory.py): build in a work
directory next to the target, then rename it into place under a file lock. A crashed builder leaves
at most a stale work directory, never a half-written entry, and concurrent builders of the same
entry wait for each other instead of both doing the work.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def cache_root() -> Path:
    configured = os.environ.get("DAGSTER_FASTDEPLOY_CACHE")
    root = Path(configured) if configured else Path.home() / ".cache" / "dagster-fastdeploy"
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextmanager
def atomic_directory(target: Path) -> Iterator[Path | None]:
    """Yield a work directory to fill, or None when `target` already exists.

    On a clean exit the work directory becomes `target` in one rename. On an error it is removed
    and `target` is left as it was.
    """
    if target.exists():  # entries appear by one rename: one that exists is complete
        yield None
        return
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f".{target.name}.lck")):
        if target.exists():
            yield None
            return
        work = target.parent / f".{target.name}.{uuid.uuid4().hex}.work"
        work.mkdir()
        try:
            yield work
            os.replace(work, target)
        finally:
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)


def place_file(source: Path, dest: Path) -> None:
    """Put a cached file at `dest` (hard link when possible, else copy), atomically."""
    if dest.exists() and dest.stat().st_size == source.stat().st_size:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex}.tmp"
    try:
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
            os.chmod(tmp, 0o755)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
