"""How the file store writes: temp files beside their final name, fsynced, then linked
(create-only) or renamed into place; OS errors turned into StoreErrors that name the store."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

from dagster_fastdeploy.errors import StoreError
from dagster_fastdeploy.local_files import temp_file
from dagster_fastdeploy.store.base import Progress
from dagster_fastdeploy.store.blobs import CHUNK

LOCK_TIMEOUT = 60.0


@contextlib.contextmanager
def store_io(url: str, action: str) -> Iterator[None]:
    """Turn OS errors into a StoreError that names the store and what was being done."""
    try:
        yield
    except PermissionError as e:
        raise StoreError(
            f"permission denied while {action} in the store {url} ({e.filename}): "
            "check the directory's owner and mode, or pick another store with --store"
        ) from e
    except OSError as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise StoreError(f"cannot {action} in the store {url}: {e}") from e


def copy_file(src: Path, dst: Path, progress: Progress | None) -> None:
    total = src.stat().st_size
    if progress is None:
        shutil.copyfile(src, dst)
    else:
        done = 0
        progress(0, total)
        with open(src, "rb") as fin, open(dst, "wb") as fout:
            for chunk in iter(lambda: fin.read(4 * CHUNK), b""):
                fout.write(chunk)
                done += len(chunk)
                progress(done, total)
    with open(dst, "rb+") as f:
        os.fsync(f.fileno())


def put_file(final: Path, write: Callable[[Path], None]) -> int:
    """Write `final` through a temp file beside it: created with os.link (create-only, so two
    writers of the same content do not overwrite each other), or replacing a damaged copy.
    Returns the bytes written, 0 when a concurrent writer got there first."""
    with temp_file(final) as tmp:
        write(tmp)
        size = tmp.stat().st_size
        if final.exists():  # a damaged copy: replace it
            os.replace(tmp, final)
            return size
        try:
            os.link(tmp, final)
        except FileExistsError:
            return 0
        return size
