"""The `file:///abs/path` store: a directory on this machine (or a shared mount).

Safe for several processes at once. Blobs and index entries are written to a temp file in the
same directory and then linked or renamed into place, so a reader never sees a partial file
under a final name. A deployment record is updated with compare-and-swap: the new history is
prepared without a lock, then a short file lock covers "is the record still the one I read?
then replace it atomically"; if someone else wrote in between, the append starts again.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

from dagster_fastdeploy.errors import StoreError
from dagster_fastdeploy.local_files import TMP_PREFIX, file_sha256, temp_file, write_atomically
from dagster_fastdeploy.store.base import Progress, Store
from dagster_fastdeploy.store.blobs import (
    BlobInfo,
    blob_digest,
    is_blob_name,
    verify_blob_file,
)
from dagster_fastdeploy.store.chunked import (
    read_chunked,
    recipe_complete,
    repair_chunked,
    upload_chunked,
)
from dagster_fastdeploy.store.chunking import RECIPE_SUFFIX
from dagster_fastdeploy.store.documents import encode_record, parse_document, parse_record
from dagster_fastdeploy.store.file_chunks import FileChunks
from dagster_fastdeploy.store.file_documents import FileDocuments
from dagster_fastdeploy.store.file_io import (
    LOCK_TIMEOUT,
    copy_file,
    put_file,
    store_io,
)
from dagster_fastdeploy.store.keys import (
    BLOBS,
    CHUNKS,
    DEPLOYMENTS,
    DEPS_INDEX,
    blob_key,
    deployment_prefix,
    index_key,
    record_key,
)
from dagster_fastdeploy.store.records import DeploymentRecord, VersionEntry, is_valid_name


class FileStore(FileChunks, FileDocuments, Store):
    def __init__(self, root: Path):
        self.root = root
        self.url = root.as_uri()

    # -- paths ---------------------------------------------------------------------------------
    def _blob(self, name: str) -> Path:
        return self.root / blob_key(name)

    def _index(self, key: str) -> Path:
        return self.root / index_key(key)

    def _record(self, deployment: str, location: str) -> Path:
        return self.root / record_key(deployment, location)

    # -- blobs ---------------------------------------------------------------------------------
    def has_blob(self, name: str) -> bool:
        return self._blob(name).is_file() or self._recipe(name).is_file()

    def blob_complete(self, name: str, verify: bool = False) -> bool:
        recipe = self.read_recipe(name)
        if recipe is not None:
            return recipe_complete(self, recipe, verify)
        final = self._blob(name)
        return final.is_file() and (not verify or file_sha256(final) == blob_digest(name))

    def upload_blob(
        self, name: str, path: Path, progress: Progress | None = None, verify: bool = False
    ) -> int:
        final = self._blob(name)
        with store_io(self.url, f"storing {name}"):
            if final.is_file() and file_sha256(final) == blob_digest(name):
                return 0  # stored whole and intact (a damaged copy is replaced below)
            if self.recipe_stored(name):
                return repair_chunked(self, name, path, progress, verify)
            if not final.exists():
                sent = upload_chunked(self, name, path, progress)
                if sent is not None:
                    return sent
            verify_blob_file(name, path, stored_at=str(path))
            final.parent.mkdir(parents=True, exist_ok=True)
            return put_file(final, lambda tmp: copy_file(path, tmp, progress))

    def get_blob(self, name: str, dest: Path, progress: Progress | None = None) -> Path:
        recipe = self.read_recipe(name)
        if recipe is not None:
            with store_io(self.url, f"reading {name}"):
                return read_chunked(self, recipe, dest, progress)
        source = self._blob(name)
        if not source.is_file():
            raise StoreError(f"blob {name} is not in the store {self.url}")
        with store_io(self.url, f"reading {name}"), temp_file(dest) as tmp:
            copy_file(source, tmp, progress)
            verify_blob_file(name, tmp, stored_at=str(source))
            os.replace(tmp, dest)
        return dest

    def local_blob_path(self, name: str) -> Path | None:
        """The stored file of a whole blob; None for a chunked blob (get_blob assembles
        it)."""
        path = self._blob(name)
        return path if path.is_file() else None

    def list_blobs(self) -> list[BlobInfo]:
        blobs = []
        directory = self.root / BLOBS
        if directory.is_dir():
            for path in sorted(directory.iterdir()):
                if is_blob_name(path.name):
                    stat = path.stat()
                    blobs.append(BlobInfo(path.name, stat.st_size, stat.st_mtime))
                elif path.name.endswith(RECIPE_SUFFIX):
                    name = path.name[: -len(RECIPE_SUFFIX)]
                    recipe = self.read_recipe(name) if is_blob_name(name) else None
                    if recipe is not None:
                        modified = path.stat().st_mtime
                        blobs.append(BlobInfo(name, recipe.size, modified, chunked=True))
        return blobs

    def delete_blob(self, name: str) -> None:
        with store_io(self.url, f"deleting {name}"):
            self._blob(name).unlink(missing_ok=True)
            self._recipe(name).unlink(missing_ok=True)

    def clean_partial_uploads(self, older_than: float) -> int:
        removed = 0
        cutoff = time.time() - older_than
        for directory in [self.root / BLOBS, self.root / CHUNKS, self.root / DEPS_INDEX]:
            if directory.is_dir():
                for path in directory.glob(f"{TMP_PREFIX}*"):
                    with contextlib.suppress(FileNotFoundError):
                        if path.stat().st_mtime <= cutoff:
                            path.unlink()
                            removed += 1
        return removed

    # -- deps index ----------------------------------------------------------------------------
    def get_deps_index(self, key: str) -> dict[str, Any] | None:
        path = self._index(key)
        try:
            return parse_document(path.read_bytes(), str(path))
        except FileNotFoundError:
            return None

    def put_deps_index(self, key: str, entry: dict[str, Any]) -> None:
        path = self._index(key)
        with store_io(self.url, "writing the deps index"):
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, json.dumps(entry, indent=2, sort_keys=True).encode())

    def list_deps_index(self) -> dict[str, dict[str, Any]]:
        directory = self.root / DEPS_INDEX
        if not directory.is_dir():
            return {}
        return {
            path.stem: parse_document(path.read_bytes(), str(path))
            for path in sorted(directory.glob("*.json"))
            if not path.name.startswith(".")
        }

    def delete_deps_index(self, key: str) -> None:
        self._index(key).unlink(missing_ok=True)

    # -- deployment records --------------------------------------------------------------------
    def read_record(self, deployment: str, location: str) -> DeploymentRecord | None:
        try:
            data = self._record(deployment, location).read_bytes()
        except FileNotFoundError:
            return None
        where = str(self._record(deployment, location))
        return parse_record(parse_document(data, where), where)

    def list_locations(self, deployment: str) -> list[str]:
        directory = self.root / deployment_prefix(deployment)
        if not directory.is_dir():
            return []
        # a file that is not named like a location is not a record: skipped, never a key
        return sorted(p.stem for p in directory.glob("*.json") if is_valid_name(p.stem))

    def list_deployments(self) -> list[str]:
        directory = self.root / DEPLOYMENTS
        if not directory.is_dir():
            return []
        return sorted(p.name for p in directory.iterdir() if p.is_dir() and is_valid_name(p.name))

    def append_version(
        self, deployment: str, location: str, make_entry: Callable[[int], VersionEntry]
    ) -> DeploymentRecord:
        from filelock import FileLock, Timeout

        path = self._record(deployment, location)
        with store_io(self.url, f"writing the record of {deployment}/{location}"):
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(path.with_name(f".{path.name}.lock")))
            while True:
                seen = path.read_bytes() if path.exists() else None
                record = (
                    parse_record(parse_document(seen, str(path)), str(path))
                    if seen is not None
                    else DeploymentRecord(deployment=deployment, location=location)
                )
                version = record.next_version
                record.history.append(make_entry(version))
                data = encode_record(record)
                try:
                    with lock.acquire(timeout=LOCK_TIMEOUT):
                        now = path.read_bytes() if path.exists() else None
                        if now != seen:
                            continue  # someone appended in between: start again from theirs
                        write_atomically(path, data)
                    self._deployment_changed(deployment, location, version, "deploy")
                    return record
                except Timeout as e:
                    raise StoreError(
                        f"the record {path} stayed locked for {LOCK_TIMEOUT:.0f} s: another "
                        "deploy is stuck writing it; try again, or remove the .lock file beside "
                        "it if no deploy is running"
                    ) from e

    def remove_location(self, deployment: str, location: str) -> None:
        with store_io(self.url, f"removing {deployment}/{location}"):
            self._record(deployment, location).unlink(missing_ok=True)
        self._deployment_changed(deployment, location, None, "remove")
