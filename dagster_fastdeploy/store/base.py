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
    changes/<deployment>.json          rewritten after every record write: hosts watch this one
                                       small object (a conditional GET) instead of every record
    hosts/<deployment>/<host id>.json  each running host's heartbeat: what it serves, where
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from dagster_fastdeploy.store.blobs import BlobInfo
from dagster_fastdeploy.store.chunking import Recipe
from dagster_fastdeploy.store.records import DeploymentRecord, VersionEntry

# Called with (bytes_done, bytes_total) while a blob moves.
Progress = Callable[[int, int], None]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Document:
    """A small JSON document of the store as read: its bytes (None when a conditional read
    found it unchanged) and its tag (the S3 ETag; inode, mtime and size for a file), which
    changes whenever the document is rewritten."""

    data: bytes | None
    tag: str


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
    def upload_blob(
        self, name: str, path: Path, progress: Progress | None = None, verify: bool = False
    ) -> int:
        """put_blob, returning the bytes actually sent: a PEX moves as chunks (only the ones the
        store lacks, then its recipe); `progress` gets (bytes sent, bytes to send). A stored
        blob whose chunks went missing (moved aside by a host that found them damaged) gets
        them back; with `verify`, stored chunks are also read back and checked, and damaged
        ones replaced (`deploy --verify`)."""

    @abstractmethod
    def blob_complete(self, name: str, verify: bool = False) -> bool:
        """Stored with every chunk present (with `verify`: read back and intact; damaged
        chunks are moved aside so an upload replaces them)."""

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
    def list_quarantined(self) -> list[BlobInfo]:
        """Chunks a reader found damaged and moved to `quarantine/` (`<chunk>.<time ns>`)."""

    @abstractmethod
    def delete_quarantined(self, name: str) -> None: ...

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

    # -- small documents: change markers and heartbeats (store/watch.py, store/heartbeats.py)
    @abstractmethod
    def put_document(self, key: str, data: bytes) -> None:
        """Write (or replace) the document at `key` (a store-relative key from keys.py)."""

    @abstractmethod
    def get_document(self, key: str, unless_tag: str | None = None) -> Document | None:
        """The document at `key`, None when there is none. With `unless_tag`, a conditional
        read: when the document still has that tag, Document(data=None, tag) without its
        bytes (one `If-None-Match` GET on S3, one stat on a file)."""

    @abstractmethod
    def list_documents(self, prefix: str) -> dict[str, str]:
        """name -> tag of the `.json` documents directly under `prefix` (names without
        `.json`), from one listing (one request per 1000 names on S3)."""

    @abstractmethod
    def delete_document(self, key: str) -> None: ...

    def record_tags(self, deployment: str) -> dict[str, str]:
        """location -> tag of every deployment record, from a listing: a host reads again only
        the records whose tag moved."""
        from dagster_fastdeploy.store.keys import deployment_prefix

        return self.list_documents(deployment_prefix(deployment))

    def _deployment_changed(
        self, deployment: str, location: str, version: int | None, action: str
    ) -> None:
        """Called after every record write. The record is already committed, so a failed
        marker write only delays hosts until their next full listing: it is logged, not
        raised."""
        from dagster_fastdeploy.errors import StoreError
        from dagster_fastdeploy.store.watch import write_change

        try:
            write_change(self, deployment, location, version, action)
        except (StoreError, OSError):
            logger.exception(
                "could not write the change marker of %s after writing %s: hosts see the new "
                "record at their next full listing instead",
                deployment,
                location,
            )
