"""The artifact store interface shared by the `file://` and `s3://` stores.

Layout under the store's root (a directory, or a bucket prefix):

    blobs/deps-<sha256>.pex.chunks.json   a blob as a recipe of chunks (chunking.py), or
    blobs/deps-<sha256>.pex            the whole blob (stores written before chunking; files
                                       that are not zips); verified on read either way
    blobs/source-<sha256>.pex.chunks.json   (the same for source blobs)
    chunks/<sha256>[.zlib]             content-addressed pieces of blobs
    deps-index/<deps_hash>.json        deps input hash -> {"deps": name, "locked_hash": ...}
    deps-index/locked-<locked_hash>.json
    deployments/<deployment>/<location>.json   the location's deployment record
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable

from dagster_fastdeploy.store.blobs import BlobInfo
from dagster_fastdeploy.store.chunking import Recipe
from dagster_fastdeploy.store.records import DeploymentRecord, VersionEntry

# Called with (bytes_done, bytes_total) while a blob moves.
Progress = Callable[[int, int], None]


class Store(ABC):
    url: str

    # -- blobs -------------------------------------------------------------------------------
    @abstractmethod
    def has_blob(self, name: str) -> bool: ...

    def put_blob(self, name: str, path: Path, progress: Progress | None = None) -> bool:
        """Store `path` under `name` unless present. Returns True when bytes were uploaded.
        Never visible under its final key before it is complete."""
        return self.upload_blob(name, path, progress) > 0

    @abstractmethod
    def upload_blob(self, name: str, path: Path, progress: Progress | None = None) -> int:
        """put_blob, returning the bytes actually sent: a PEX moves as chunks (only the ones the
        store lacks, then its recipe); `progress` gets (bytes sent, bytes to send)."""

    @abstractmethod
    def get_blob(self, name: str, dest: Path, progress: Progress | None = None) -> Path:
        """Copy the blob to `dest` (atomically) after verifying its sha256 against the digest in
        its name; raises IntegrityError on a mismatch and leaves nothing at `dest`."""

    def local_blob_path(self, name: str) -> Path | None:
        """A local path to the stored blob when the store is on this machine (no copy)."""
        return None

    # -- garbage collection (`dagster-fastdeploy gc`) ----------------------------------------
    @abstractmethod
    def list_blobs(self) -> list[BlobInfo]: ...

    @abstractmethod
    def delete_blob(self, name: str) -> None:
        """Delete a blob (a whole one, or a chunked blob's recipe; its chunks go with `gc`)."""

    @abstractmethod
    def read_recipe(self, blob: str) -> Recipe | None:
        """The chunk recipe of blob `blob`, or None when it is stored whole or not at all."""

    @abstractmethod
    def list_chunks(self) -> list[BlobInfo]:
        """Every stored chunk, named as in a recipe (`<sha256>` or `<sha256>.zlib`)."""

    @abstractmethod
    def delete_chunk(self, name: str) -> None: ...

    @abstractmethod
    def list_deps_index(self) -> dict[str, dict[str, Any]]: ...

    @abstractmethod
    def delete_deps_index(self, key: str) -> None: ...

    @abstractmethod
    def list_deployments(self) -> list[str]: ...

    def clean_partial_uploads(self, older_than: float) -> int:
        """Remove uploads that were interrupted more than `older_than` seconds ago (temp files,
        unfinished multipart uploads); never visible as blobs. Returns how many went."""
        return 0

    # -- deps index --------------------------------------------------------------------------
    @abstractmethod
    def get_deps_index(self, key: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def put_deps_index(self, key: str, entry: dict[str, Any]) -> None: ...

    # -- deployment records ------------------------------------------------------------------
    @abstractmethod
    def read_record(self, deployment: str, location: str) -> DeploymentRecord | None: ...

    @abstractmethod
    def list_locations(self, deployment: str) -> list[str]: ...

    @abstractmethod
    def append_version(
        self, deployment: str, location: str, make_entry: Callable[[int], VersionEntry]
    ) -> DeploymentRecord:
        """Append a version with compare-and-swap: reads the record, calls make_entry(next
        version number), writes it back only if nobody else wrote in between, and retries
        otherwise. Returns the record as written."""

    @abstractmethod
    def remove_location(self, deployment: str, location: str) -> None: ...
