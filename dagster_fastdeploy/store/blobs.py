"""Blob names carry their digest (`deps-<sha256>.pex`, `source-<sha256>.pex`): the name is
the identity, and the bytes are checked against it whenever they move."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from dagster_fastdeploy.errors import IntegrityError, StoreError
from dagster_fastdeploy.local_files import file_sha256

_BLOB_NAME = re.compile(r"(deps|source)-([0-9a-f]{64})\.pex")
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class BlobInfo:
    name: str
    size: int
    modified: float  # seconds since the epoch
    chunked: bool = False  # a deps blob stored as a recipe of chunks; size is the whole blob's


def blob_digest(name: str) -> str:
    """The sha256 a blob's name promises; refuses names that are not blob names."""
    match = _BLOB_NAME.fullmatch(name)
    if not match:
        raise StoreError(
            f"not a blob name: {name!r} (expected deps-<sha256>.pex or source-<sha256>.pex)"
        )
    return match.group(2)


def is_blob_name(name: str) -> bool:
    return _BLOB_NAME.fullmatch(name) is not None


def verify_blob_file(name: str, path: Path, stored_at: str) -> None:
    """Raise IntegrityError when the bytes at `path` are not the blob `name` promises.
    `stored_at` names the stored copy (a path or URL) so the message can say what to delete."""
    expected = blob_digest(name)
    actual = file_sha256(path)
    if actual != expected:
        raise IntegrityError(
            f"blob {name} is corrupted in the store: its bytes hash to {actual}, not to the "
            f"digest in its name. It was not used. Delete {stored_at} and deploy the same code "
            "again to upload a good copy."
        )
