"""The file store's small documents (change markers, heartbeats): written atomically (temp file,
rename), so a document's tag (inode, mtime, size) changes on every write and a conditional read
is one stat."""

from __future__ import annotations

import os
from pathlib import Path

from dagster_fastdeploy.local_files import write_atomically
from dagster_fastdeploy.store.base import Document
from dagster_fastdeploy.store.file_io import store_io


def _tag(stat: os.stat_result) -> str:
    return f"{stat.st_ino}-{stat.st_mtime_ns}-{stat.st_size}"


class FileDocuments:
    """Mixed into FileStore: the small-document half of the Store interface."""

    root: Path
    url: str

    def put_document(self, key: str, data: bytes) -> None:
        path = self.root / key
        with store_io(self.url, f"writing {key}"):
            path.parent.mkdir(parents=True, exist_ok=True)
            # Not fsynced: a change marker or heartbeat lost in a crash costs a host one full
            # listing, or reads as a stale heartbeat (an fsync is on every deploy's path, and
            # takes milliseconds on a busy disk).
            write_atomically(path, data, durable=False)

    def get_document(self, key: str, unless_tag: str | None = None) -> Document | None:
        path = self.root / key
        with store_io(self.url, f"reading {key}"):
            try:
                with open(path, "rb") as f:
                    tag = _tag(os.fstat(f.fileno()))
                    if tag == unless_tag:
                        return Document(data=None, tag=tag)
                    return Document(data=f.read(), tag=tag)
            except FileNotFoundError:
                return None

    def list_documents(self, prefix: str) -> dict[str, str]:
        directory = self.root / prefix
        found = {}
        with store_io(self.url, f"listing {prefix}"):
            if not directory.is_dir():
                return {}
            for entry in os.scandir(directory):
                name = entry.name
                if name.endswith(".json") and not name.startswith("."):
                    try:
                        found[name[: -len(".json")]] = _tag(entry.stat())
                    except FileNotFoundError:
                        continue  # removed while listing
        return found

    def delete_document(self, key: str) -> None:
        with store_io(self.url, f"deleting {key}"):
            (self.root / key).unlink(missing_ok=True)
