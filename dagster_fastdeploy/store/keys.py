"""Where things live under a store's root or prefix (the layout in store/base.py). Every key is
built here from checked parts, so no name can reach outside the store."""

from __future__ import annotations

import re

from dagster_fastdeploy.errors import StoreError
from dagster_fastdeploy.store.blobs import blob_digest
from dagster_fastdeploy.store.chunking import RECIPE_SUFFIX
from dagster_fastdeploy.store.records import check_name

BLOBS = "blobs"
CHUNKS = "chunks"
DEPS_INDEX = "deps-index"
DEPLOYMENTS = "deployments"
CHANGES = "changes"
HOSTS = "hosts"
QUARANTINE = "quarantine"  # chunks that failed verification, moved aside for a look

_INDEX_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")
_CHUNK_NAME = re.compile(r"[0-9a-f]{64}(\.zlib)?")
_QUARANTINED_NAME = re.compile(r"[0-9a-f]{64}(\.zlib)?\.[0-9]{1,20}")


def check_index_key(key: str) -> str:
    if not _INDEX_KEY.fullmatch(key) or ".." in key:
        raise StoreError(f"not a deps index key: {key!r}")
    return key


def blob_key(name: str) -> str:
    blob_digest(name)
    return f"{BLOBS}/{name}"


def recipe_key(name: str) -> str:
    return f"{blob_key(name)}{RECIPE_SUFFIX}"


def is_chunk_name(name: str) -> bool:
    return _CHUNK_NAME.fullmatch(name) is not None


def chunk_key(name: str) -> str:
    if not is_chunk_name(name):
        raise StoreError(f"not a chunk name: {name!r}")
    return f"{CHUNKS}/{name}"


def quarantined_name(chunk: str, when_ns: int) -> str:
    """A chunk moved aside by a reader that found it damaged: `<chunk name>.<time in ns>`."""
    return f"{chunk_key(chunk)[len(CHUNKS) + 1 :]}.{when_ns}"


def is_quarantined_name(name: str) -> bool:
    return _QUARANTINED_NAME.fullmatch(name) is not None


def quarantined_key(name: str) -> str:
    if not is_quarantined_name(name):
        raise StoreError(f"not a quarantined chunk: {name!r}")
    return f"{QUARANTINE}/{name}"


def index_key(key: str) -> str:
    return f"{DEPS_INDEX}/{check_index_key(key)}.json"


def deployment_prefix(deployment: str) -> str:
    return f"{DEPLOYMENTS}/{check_name('deployment', deployment)}/"


def record_key(deployment: str, location: str) -> str:
    return f"{deployment_prefix(deployment)}{check_name('location', location)}.json"


def changes_key(deployment: str) -> str:
    """The deployment's change marker: rewritten on every record write (store/watch.py)."""
    return f"{CHANGES}/{check_name('deployment', deployment)}.json"


def hosts_prefix(deployment: str) -> str:
    return f"{HOSTS}/{check_name('deployment', deployment)}/"


def host_key(deployment: str, host_id: str) -> str:
    """A host's heartbeat (store/heartbeats.py)."""
    return f"{hosts_prefix(deployment)}{check_name('host id', host_id)}.json"
