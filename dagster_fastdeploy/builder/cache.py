"""The local build cache: `$DAGSTER_FASTDEPLOY_CACHE` (default ~/.cache/dagster-fastdeploy).

Every entry is written with `atomic_directory` (local_files.py, a port of pex's): built in a work
directory next to the target, then renamed into place under a file lock. A crashed builder leaves
nothing half-written, and concurrent builders of the same entry wait for each other instead of
both doing the work.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dagster_fastdeploy.local_files import temp_file


def cache_root() -> Path:
    configured = os.environ.get("DAGSTER_FASTDEPLOY_CACHE")
    root = Path(configured) if configured else Path.home() / ".cache" / "dagster-fastdeploy"
    root.mkdir(parents=True, exist_ok=True)
    return root


def place_file(source: Path, dest: Path) -> None:
    """Put a cached file at `dest` (hard link when possible, else copy), atomically."""
    if dest.exists() and dest.stat().st_size == source.stat().st_size:
        return
    with temp_file(dest) as tmp:
        tmp.unlink()  # os.link wants a free name; the name stays ours (random, beside dest)
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
            os.chmod(tmp, 0o755)
        os.replace(tmp, dest)
