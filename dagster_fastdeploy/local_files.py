"""How every part writes files and directories on this machine (build cache, output dir, the
host's environments, the file store): under a temporary name beside the final one, then renamed
into place, so a crash or a concurrent writer never leaves a half-written file or directory.

Every temporary name is `.tmp-<final name>.<random>`: one pattern for cleaners to sweep.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

TMP_PREFIX = ".tmp-"
_READ_SIZE = 1024 * 1024


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for piece in iter(lambda: f.read(_READ_SIZE), b""):
            digest.update(piece)
    return digest.hexdigest()


def readable_mode(directory: bool = False) -> int:
    """0o666 (0o777 for a directory) less the umask: what open() or mkdir() would give, where
    mkstemp and mkdtemp give 0o600 / 0o700, so that another user (a host) can read it."""
    umask = os.umask(0o022)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def temp_path(final: Path) -> Path:
    """Create an empty temporary file beside `final` (same directory, so a rename is atomic),
    readable as open() would make it. The caller renames it into place or removes it."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{final.name}.", dir=final.parent)
    os.fchmod(fd, readable_mode())
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def temp_file(final: Path) -> Iterator[Path]:
    """temp_path(final), removed on the way out unless the block renamed it into place."""
    tmp = temp_path(final)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def write_atomically(path: Path, data: bytes | str, durable: bool = True) -> None:
    """Replace `path` with `data` in one rename: readers see old or new, never a part. The data
    is fsynced first unless not `durable` (a file whose loss in a crash costs nothing)."""
    with temp_file(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)


@contextlib.contextmanager
def atomic_directory(target: Path) -> Iterator[Path | None]:
    """Yield an empty work directory to fill, or None when `target` already exists.

    A port of pex's `atomic_directory` (pex/atomic_directory.py): double-checked locking on an
    exclusive file lock `.<target name>.lck` beside the target, a fresh work directory beside it
    (`.tmp-<target name>.<random>`), renamed to `target` on a clean exit. On an error the work
    directory is removed and `target` is left as it was. If the rename finds `target` already
    there (a writer that does not share our lock won the race), the winner's copy is kept and
    ours removed, as pex does. Concurrent writers of one target wait for each other instead of
    both doing the work. A crashed writer leaves its work directory, which nobody's lock covers
    any more: clean_stale_work_dirs removes it.
    """
    if target.exists():  # entries appear by one rename: one that exists is complete
        yield None
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock(target):
        if target.exists():
            yield None
            return
        work = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{target.name}.", dir=target.parent))
        try:
            os.chmod(work, readable_mode(directory=True))
            yield work
            try:
                os.rename(work, target)
            except OSError as e:
                if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)


def clean_stale_work_dirs(directory: Path) -> list[str]:
    """Remove the work directories crashed writers left in `directory` (a writer's lock is
    released when its process dies, so a work directory whose target's lock can be taken has no
    writer); the ones being written now are left alone. Returns the names removed."""
    from filelock import Timeout

    removed = []
    for work in sorted(directory.glob(f"{TMP_PREFIX}*")):
        target = work.name[len(TMP_PREFIX) :].rsplit(".", 1)[0]
        if not work.is_dir() or not target:
            continue
        try:
            with _lock(directory / target, timeout=0):
                shutil.rmtree(work, ignore_errors=True)
        except Timeout:
            continue  # being written now
        removed.append(work.name)
    return removed


def _lock(target: Path, timeout: float = -1) -> contextlib.AbstractContextManager[object]:
    from filelock import FileLock

    return FileLock(str(target.parent / f".{target.name}.lck"), timeout=timeout)
