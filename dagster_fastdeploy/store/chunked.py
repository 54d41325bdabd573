"""Blobs moved chunk by chunk (see chunking.py for the split): the same flow on every store.

Upload: split the local PEX file (checking it against its name), ask which chunks the store
lacks, put only those, then the recipe last. The recipe is the commit point: a blob exists when
its recipe does (or its whole file, in stores written before chunking), so an interrupted upload
leaves chunks (which `gc` sweeps) but never a recipe that names a missing chunk.

Read: fetch the recipe, write every chunk at its offset in a temp file next to the destination
(each chunk checked against its digest as it arrives), check the whole file against the blob's
name, then rename it into place. Any mismatch raises IntegrityError and leaves nothing behind.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Callable, Protocol

from dagster_fastdeploy.local_files import temp_file
from dagster_fastdeploy.store.base import Progress
from dagster_fastdeploy.store.blobs import CHUNK, verify_blob_file
from dagster_fastdeploy.store.chunking import (
    ChunkIntegrityError,
    ChunkRef,
    Piece,
    Recipe,
    inflate_verified,
    recipe_for,
    split_pex,
)

logger = logging.getLogger(__name__)

# Called with a number of bytes just moved (from any thread).
Moved = Callable[[int], None]


class ChunkBackend(Protocol):
    """What a store provides so blobs can move chunk by chunk."""

    url: str

    def chunks_stored(self, refs: list[ChunkRef]) -> list[bool]: ...

    def put_chunks(self, pieces: list[Piece], source: Path, moved: Moved) -> None: ...

    def read_chunks(self, recipe: Recipe, fd: int, offsets: list[int], moved: Moved) -> None:
        """Write each chunk's raw bytes at its offset in `fd` (os.pwrite), each verified."""

    def read_recipe(self, blob: str) -> Recipe | None: ...

    def write_recipe(self, blob: str, data: bytes) -> None: ...

    def recipe_where(self, blob: str) -> str: ...

    def chunks_present(self, refs: list[ChunkRef]) -> list[bool]:
        """Stored with the right size (a listing or a stat: nothing is read)."""

    def chunks_verified(self, refs: list[ChunkRef]) -> list[bool]:
        """Stored and intact: every byte read back and checked against its digest."""

    def quarantine_chunk(self, ref: ChunkRef) -> bool:
        """Read the chunk once more and, when it still fails its digest, move it out of
        `chunks/` (to `quarantine/`), so the next deploy of the same code uploads it again.
        Returns True when it was moved."""


class _Counter:
    """Adds up bytes moved from several threads and reports (done, total)."""

    def __init__(self, total: int, progress: Progress | None):
        self.total = total
        self.done = 0
        self._lock = threading.Lock()
        self._progress = progress
        if progress:
            progress(0, total)

    def __call__(self, n: int) -> None:
        with self._lock:
            self.done += n
            if self._progress:
                self._progress(self.done, self.total)


def upload_chunked(
    backend: ChunkBackend, name: str, path: Path, progress: Progress | None
) -> int | None:
    """Put the chunks of blob `name` the store lacks, then its recipe. Returns the bytes
    sent, or None when the file cannot be split (the caller stores it whole). Callers check
    first that the blob is not stored: a stored recipe means nothing to send (reads verify every
    chunk, and a damaged one is replaced once its recipe is deleted, as the read error says)."""
    pieces = split_pex(name, path)
    if pieces is None:
        return None
    unique = list({p.ref.name: p for p in pieces}.values())
    stored = backend.chunks_stored([p.ref for p in unique])
    missing = [p for p, there in zip(unique, stored) if not there]
    recipe = recipe_for(name, pieces).to_bytes()
    sent = _Counter(sum(p.ref.stored_size for p in missing) + len(recipe), progress)
    if missing:
        backend.put_chunks(missing, path, sent)
    backend.write_recipe(name, recipe)
    sent(len(recipe))
    return sent.done


def recipe_complete(backend: ChunkBackend, recipe: Recipe, verify: bool) -> bool:
    """Every chunk of `recipe` stored (with `verify`: intact; damaged ones moved aside)."""
    refs = list({ref.name: ref for ref in recipe.chunks}.values())
    good = backend.chunks_verified(refs) if verify else backend.chunks_present(refs)
    for ref, ok in zip(refs, good):
        if verify and not ok:
            backend.quarantine_chunk(ref)
    return all(good)


def repair_chunked(
    backend: ChunkBackend, name: str, path: Path, progress: Progress | None, verify: bool
) -> int:
    """Blob `name` has a recipe in the store: put back the chunks it names that are missing
    (moved aside by a host that found them damaged, or deleted by hand) and, with `verify`,
    those that fail their digest (read back in full: `deploy --verify`). Returns the bytes sent;
    0 when every chunk is there, which costs one listing, no download."""
    recipe = backend.read_recipe(name)
    if recipe is None:  # deleted since the caller looked: store it again
        stored = upload_chunked(backend, name, path, progress)
        return stored if stored is not None else 0
    refs = list({ref.name: ref for ref in recipe.chunks}.values())
    good = backend.chunks_verified(refs) if verify else backend.chunks_present(refs)
    bad = {ref.name for ref, ok in zip(refs, good) if not ok}
    if verify:
        for ref in refs:
            if ref.name in bad:
                backend.quarantine_chunk(ref)
    if not bad:
        return 0
    pieces = split_pex(name, path) or []
    missing = [p for p in {p.ref.name: p for p in pieces}.values() if p.ref.name in bad]
    sent = _Counter(sum(p.ref.stored_size for p in missing), progress)
    backend.put_chunks(missing, path, sent)
    return sent.done


def read_chunked(
    backend: ChunkBackend, recipe: Recipe, dest: Path, progress: Progress | None
) -> Path:
    """Reassemble `recipe`'s blob at `dest`, verified (see the module docstring)."""
    with temp_file(dest) as tmp:
        fd = os.open(tmp, os.O_RDWR)
        try:
            os.ftruncate(fd, recipe.size)
            offsets = []
            at = 0
            for ref in recipe.chunks:
                offsets.append(at)
                at += ref.size
            try:
                backend.read_chunks(recipe, fd, offsets, _Counter(recipe.size, progress))
            except ChunkIntegrityError as e:
                if backend.quarantine_chunk(e.chunk):
                    logger.warning("moved the damaged chunk %s aside", e.chunk.name)
                raise
            os.fsync(fd)
        finally:
            os.close(fd)
        verify_blob_file(recipe.blob, tmp, stored_at=backend.recipe_where(recipe.blob))
        os.replace(tmp, dest)
    return dest


class FileSlice(io.RawIOBase):
    """The stored bytes of one piece of a local PEX file as a seekable, readable file."""

    def __init__(self, piece: Piece, source: Path):
        super().__init__()
        self._data = io.BytesIO(piece.encoded) if piece.encoded is not None else None
        self._file = open(source, "rb") if self._data is None else None  # noqa: SIM115
        self._start = piece.offset
        self._size = piece.ref.stored_size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, min(self._size, base + offset))
        return self._pos

    def read(self, size: int = -1) -> bytes:
        left = self._size - self._pos
        size = left if size is None or size < 0 else min(size, left)
        if size <= 0:
            return b""
        if self._data is not None:
            self._data.seek(self._pos)
            data = self._data.read(size)
        else:
            assert self._file is not None
            self._file.seek(self._start + self._pos)
            data = self._file.read(size)
        self._pos += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        super().close()


def write_chunk_at(
    blob: str,
    ref: ChunkRef,
    stored: Iterable[bytes],
    fd: int,
    offset: int,
    moved: Moved,
    where: str,
    recipe_where: str,
) -> None:
    """Write a chunk read from the store (`stored`, its bytes in pieces) at `offset` in `fd`,
    checked against its digest as it streams, never inflated past its recorded size; raises
    ChunkIntegrityError naming the blob and the chunk."""

    def write(at: int, data: bytes) -> None:
        os.pwrite(fd, data, offset + at)
        moved(len(data))

    inflate_verified(blob, ref, stored, write, where, recipe_where)


def read_pieces(f: io.BufferedReader | io.RawIOBase) -> Iterable[bytes]:
    """A file's bytes, CHUNK at a time."""
    return iter(lambda: f.read(CHUNK) or b"", b"")
