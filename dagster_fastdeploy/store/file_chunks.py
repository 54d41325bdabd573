"""The file store's side of chunked blobs (see chunked.py): chunks under `chunks/`,
recipes beside the whole blobs under `blobs/`, all written through file_io's temp-then-link."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

from dagster_fastdeploy.errors import IntegrityError
from dagster_fastdeploy.store.blobs import BlobInfo
from dagster_fastdeploy.store.chunked import FileSlice, Moved, read_pieces, write_chunk_at
from dagster_fastdeploy.store.chunking import (
    ChunkRef,
    Piece,
    Recipe,
    chunk_corrupted,
    inflate_verified,
)
from dagster_fastdeploy.store.file_io import put_file, store_io
from dagster_fastdeploy.store.keys import (
    CHUNKS,
    QUARANTINE,
    chunk_key,
    is_chunk_name,
    is_quarantined_name,
    quarantined_key,
    quarantined_name,
    recipe_key,
)


def _chunk_intact(path: Path, ref: ChunkRef) -> bool:
    try:
        if path.stat().st_size != ref.stored_size:
            return False
        with open(path, "rb") as f:
            inflate_verified("", ref, read_pieces(f), lambda _, __: None, str(path), "")
    except (FileNotFoundError, IntegrityError):
        return False
    return True


class FileChunks:
    """Mixed into FileStore: what chunked.py's ChunkBackend asks of a store."""

    root: Path
    url: str

    def _recipe(self, name: str) -> Path:
        return self.root / recipe_key(name)

    def _chunk(self, name: str) -> Path:
        return self.root / chunk_key(name)

    def chunks_stored(self, refs: list[ChunkRef]) -> list[bool]:
        """Present and intact (re-hashed, as whole blobs are, so a damaged chunk is replaced)."""
        return [_chunk_intact(self._chunk(ref.name), ref) for ref in refs]

    def chunks_present(self, refs: list[ChunkRef]) -> list[bool]:
        def present(ref: ChunkRef) -> bool:
            try:
                return self._chunk(ref.name).stat().st_size == ref.stored_size
            except FileNotFoundError:
                return False

        return [present(ref) for ref in refs]

    def chunks_verified(self, refs: list[ChunkRef]) -> list[bool]:
        return self.chunks_stored(refs)

    def quarantine_chunk(self, ref: ChunkRef) -> bool:
        path = self._chunk(ref.name)
        if not path.is_file() or _chunk_intact(path, ref):
            return False
        aside = self.root / quarantined_key(quarantined_name(ref.name, time.time_ns()))
        try:
            aside.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, aside)
        except OSError:  # a host with read-only access to the store: the error says what to do
            return False
        return True

    def put_chunks(self, pieces: list[Piece], source: Path, moved: Moved) -> None:
        directory = self.root / CHUNKS
        directory.mkdir(parents=True, exist_ok=True)
        for piece in pieces:

            def write(tmp: Path, piece: Piece = piece) -> None:
                with FileSlice(piece, source) as fin, open(tmp, "wb") as fout:
                    for data in read_pieces(fin):
                        fout.write(data)
                        moved(len(data))
                    fout.flush()
                    os.fsync(fout.fileno())

            put_file(self._chunk(piece.ref.name), write)

    def read_chunks(self, recipe: Recipe, fd: int, offsets: list[int], moved: Moved) -> None:
        where = self.recipe_where(recipe.blob)
        for ref, offset in zip(recipe.chunks, offsets):
            path = self._chunk(ref.name)
            if not path.is_file():
                raise chunk_corrupted(recipe.blob, ref, str(path), where, "is missing")
            with open(path, "rb") as f:
                stored = read_pieces(f)
                write_chunk_at(recipe.blob, ref, stored, fd, offset, moved, str(path), where)

    def recipe_stored(self, blob: str) -> bool:
        return self._recipe(blob).is_file()

    def read_recipe(self, blob: str) -> Recipe | None:
        path = self._recipe(blob)
        try:
            return Recipe.from_bytes(path.read_bytes(), blob, str(path))
        except FileNotFoundError:
            return None

    def write_recipe(self, blob: str, data: bytes) -> None:
        def write(tmp: Path) -> None:
            tmp.write_bytes(data)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())

        put_file(self._recipe(blob), write)

    def recipe_where(self, blob: str) -> str:
        return str(self._recipe(blob))

    def list_chunks(self) -> list[BlobInfo]:
        return self._listed(CHUNKS, is_chunk_name)

    def delete_chunk(self, name: str) -> None:
        with store_io(self.url, f"deleting chunk {name}"):
            self._chunk(name).unlink(missing_ok=True)

    def list_quarantined(self) -> list[BlobInfo]:
        return self._listed(QUARANTINE, is_quarantined_name)

    def delete_quarantined(self, name: str) -> None:
        with store_io(self.url, f"deleting quarantined chunk {name}"):
            (self.root / quarantined_key(name)).unlink(missing_ok=True)

    def _listed(self, folder: str, named: Callable[[str], bool]) -> list[BlobInfo]:
        """The files of `folder` whose names `named` accepts (temp files and strays are not)."""
        directory = self.root / folder
        found = []
        if directory.is_dir():
            for path in sorted(directory.iterdir()):
                if named(path.name):
                    stat = path.stat()
                    found.append(BlobInfo(path.name, stat.st_size, stat.st_mtime))
        return found
