"""How a PEX file is split into content-addressed chunks, and the recipe that puts it back.

A zip's local entries (local file header + data) hold no offsets, so the raw bytes of all the
entries of one wheel (`.deps/<wheel>/...`, contiguous in pex's sorted, reproducible zip) are the
same wherever that wheel lands in the file. A deps.pex is cut at its entries' own offsets into:

- one chunk per `.deps/<wheel>/` group of entries: unchanged when another dependency changes;
- `.bootstrap/` (with the shebang line before it): pex's runtime, 1.09 MB, the same in every
  deps.pex and source.pex built by one pex version, so a source.pex is chunked the same way;
- one chunk per run of other entries (`.deps/` itself; `PEX-INFO`, `__main__.py`, `__pex__/`
  after the last wheel; a source.pex's project files);
- the central directory and end record: it holds every entry's offset, so it changes whenever
  anything does. It is stored zlib-compressed (1.09 MB -> 0.16 MB for example_project's).

Each chunk is named by the sha256 of its raw bytes. The recipe lists the chunks in order; the
bytes of the deps.pex are their concatenation, and the whole is checked against the blob's name.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from dagster_fastdeploy.errors import IntegrityError, StoreError
from dagster_fastdeploy.store.blobs import CHUNK, blob_digest

RECIPE_SUFFIX = ".chunks.json"
RECIPE_FORMAT = 1
CENTRAL_DIRECTORY = "central directory"
RAW, ZLIB = "raw", "zlib"
_CHUNK_DIGEST = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ChunkRef:
    """One chunk as a recipe lists it. `size` is the raw size, `stored_size` what the store
    holds (smaller when the chunk is stored zlib-compressed)."""

    sha256: str
    size: int
    stored_size: int
    encoding: str  # RAW or ZLIB
    part: str  # what it holds: `.deps/<wheel>`, ".bootstrap", "other", "central directory"

    @property
    def name(self) -> str:
        """The chunk's name in the store: its digest, plus `.zlib` when stored compressed."""
        return self.sha256 if self.encoding == RAW else f"{self.sha256}.{self.encoding}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "size": self.size,
            "stored_size": self.stored_size,
            "encoding": self.encoding,
            "part": self.part,
        }


@dataclass(frozen=True)
class Piece:
    """A chunk of a local PEX file: where its raw bytes are, and its stored bytes when those
    are not a plain slice of the file (a compressed chunk)."""

    ref: ChunkRef
    offset: int
    encoded: bytes | None = None


@dataclass(frozen=True)
class Recipe:
    blob: str
    size: int
    chunks: tuple[ChunkRef, ...]

    def to_bytes(self) -> bytes:
        document = {
            "format": RECIPE_FORMAT,
            "blob": self.blob,
            "sha256": blob_digest(self.blob),
            "size": self.size,
            "chunks": [c.to_dict() for c in self.chunks],
        }
        return json.dumps(document, indent=1).encode()

    @staticmethod
    def from_bytes(data: bytes, blob: str, where: str) -> Recipe:
        """The recipe of `blob` stored at `where`; a StoreError when it is damaged or is the
        recipe of another blob."""
        try:
            document = json.loads(data)
            chunks = tuple(
                ChunkRef(
                    sha256=str(c["sha256"]),
                    size=int(c["size"]),
                    stored_size=int(c["stored_size"]),
                    encoding=str(c["encoding"]),
                    part=str(c.get("part", "")),
                )
                for c in document["chunks"]
            )
            recipe = Recipe(blob=str(document["blob"]), size=int(document["size"]), chunks=chunks)
        except (ValueError, KeyError, TypeError) as e:
            raise StoreError(
                f"{where} is not a chunk recipe ({e!r}): it was damaged outside "
                "dagster-fastdeploy; delete it and deploy the same code again"
            ) from e
        valid_chunks = all(
            c.encoding in (RAW, ZLIB)
            and _CHUNK_DIGEST.fullmatch(c.sha256)
            and c.size >= 0
            and c.stored_size >= 0
            and (c.encoding != RAW or c.stored_size == c.size)
            for c in chunks
        )
        if recipe.blob != blob or not valid_chunks or recipe.size != sum(c.size for c in chunks):
            raise StoreError(
                f"{where} is not a valid chunk recipe: delete it and deploy the same code again"
            )
        return recipe


def _part(entry_name: str) -> str:
    """Which chunk an entry belongs to: `.deps/<wheel>` for a wheel's entries, `.bootstrap`
    for pex's own runtime (the same bytes in every PEX built by one pex version), else
    "other" (runs of other entries that sit next to each other form one chunk)."""
    parts = entry_name.split("/", 2)
    if len(parts) >= 2 and parts[0] == ".deps" and parts[1]:
        return f".deps/{parts[1]}"
    if parts[0] == ".bootstrap":
        return ".bootstrap"
    return "other"


def _boundaries(path: Path) -> list[tuple[int, str]] | None:
    """(start offset, part) of each chunk, in file order; None when `path` is not a zip whose
    entries are laid out in order (then it is stored whole)."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            central_directory = archive.start_dir  # type: ignore[attr-defined]
    except (zipfile.BadZipFile, OSError, AttributeError):
        return None
    offsets = [info.header_offset for info in infos]
    if not infos or offsets != sorted(offsets) or offsets[-1] >= central_directory:
        return None
    starts: list[tuple[int, str]] = []
    for info in infos:
        part = _part(info.filename)
        if not starts or starts[-1][1] != part:
            starts.append((info.header_offset, part))
    starts[0] = (0, starts[0][1])  # the bytes before the first entry (the shebang) go with it
    starts.append((central_directory, CENTRAL_DIRECTORY))
    return starts


def split_pex(name: str, path: Path) -> list[Piece] | None:
    """The chunks of the PEX file at `path`, hashed in one pass that also checks the whole
    file against `name`; None when the file cannot be split (it is then stored whole).
    Raises IntegrityError when the bytes are not the blob `name` promises."""
    starts = _boundaries(path)
    if starts is None:
        return None
    size = path.stat().st_size
    whole = hashlib.sha256()
    pieces: list[Piece] = []
    with open(path, "rb") as f:
        for (start, part), (end, _) in zip(starts, [*starts[1:], (size, "")]):
            if end <= start:
                continue
            chunk = hashlib.sha256()
            raw = bytearray() if part == CENTRAL_DIRECTORY else None
            f.seek(start)
            left = end - start
            while left:
                data = f.read(min(CHUNK, left))
                if not data:
                    raise StoreError(f"{path} changed while it was being read")
                left -= len(data)
                chunk.update(data)
                whole.update(data)
                if raw is not None:
                    raw += data
            encoded = zlib.compress(bytes(raw), 6) if raw is not None else None
            ref = ChunkRef(
                sha256=chunk.hexdigest(),
                size=end - start,
                stored_size=len(encoded) if encoded is not None else end - start,
                encoding=ZLIB if encoded is not None else RAW,
                part=part,
            )
            pieces.append(Piece(ref, start, encoded))
    if whole.hexdigest() != blob_digest(name):
        raise IntegrityError(
            f"blob {name} is corrupted at {path}: its bytes hash to {whole.hexdigest()}, not to "
            "the digest in its name. It was not uploaded; rebuild it."
        )
    return pieces


def recipe_for(name: str, pieces: list[Piece]) -> Recipe:
    return Recipe(
        blob=name, size=sum(p.ref.size for p in pieces), chunks=tuple(p.ref for p in pieces)
    )


class ChunkIntegrityError(IntegrityError):
    """A stored chunk that is not what its recipe says: the reader quarantines it."""

    def __init__(self, message: str, chunk: ChunkRef):
        super().__init__(message)
        self.chunk = chunk


def chunk_corrupted(
    blob: str, ref: ChunkRef, where: str, recipe_where: str, why: str
) -> ChunkIntegrityError:
    return ChunkIntegrityError(
        f"blob {blob} is corrupted in the store: its chunk {ref.name} ({ref.part}) {why}. It "
        "was not used: deploy the same code again to upload a good copy (a damaged chunk is "
        f"moved aside when the store allows it; if not, delete {where} first).",
        ref,
    )


def inflate_verified(
    blob: str,
    ref: ChunkRef,
    stored: Iterable[bytes],
    write: Callable[[int, bytes], None],
    where: str,
    recipe_where: str,
) -> None:
    """Pass a chunk's raw bytes to `write(offset in the chunk, bytes)` as they come off the
    store, never holding more than CHUNK of them and never past the sizes the recipe states
    (stored and raw), hashing as they go; raises ChunkIntegrityError on the first excess, and
    at the end when the digest differs. A compressed chunk is inflated in CHUNK-sized steps,
    so a small chunk that inflates to gigabytes is refused after ref.size + 1 bytes."""
    digest = hashlib.sha256()
    inflater = zlib.decompressobj() if ref.encoding == ZLIB else None
    read = done = 0

    def out(data: bytes) -> None:
        nonlocal done
        if done + len(data) > ref.size:
            raise chunk_corrupted(blob, ref, where, recipe_where, "is longer than recorded")
        digest.update(data)
        write(done, data)
        done += len(data)

    try:
        for piece in stored:
            read += len(piece)
            if read > ref.stored_size:
                raise chunk_corrupted(blob, ref, where, recipe_where, "is longer than recorded")
            if inflater is None:
                out(piece)
                continue
            pending = piece
            while pending:
                # at most one byte past the recorded size, so an excess is seen, never held
                step = min(CHUNK, ref.size - done + 1)
                data = inflater.decompress(pending, step)
                if not data and inflater.unconsumed_tail == pending:
                    break  # no progress: the end of the stream is checked below
                out(data)
                pending = inflater.unconsumed_tail
        if inflater is not None and (not inflater.eof or inflater.unused_data):
            raise chunk_corrupted(blob, ref, where, recipe_where, "does not decompress")
    except zlib.error:
        raise chunk_corrupted(blob, ref, where, recipe_where, "does not decompress") from None
    if done != ref.size or read != ref.stored_size or digest.hexdigest() != ref.sha256:
        raise chunk_corrupted(blob, ref, where, recipe_where, "does not match its digest")


def decode_chunk(blob: str, ref: ChunkRef, stored: bytes, where: str, recipe_where: str) -> bytes:
    """The raw bytes of a chunk read whole from the store, verified against its digest."""
    data = bytearray()
    inflate_verified(blob, ref, [stored], lambda _, b: data.extend(b), where, recipe_where)
    return bytes(data)
