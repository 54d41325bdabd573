"""The store's JSON documents (deployment records, deps index entries), read with an error that
names the document when someone damaged it by hand."""

from __future__ import annotations

import json
from typing import Any

from dagster_fastdeploy.errors import StoreError
from dagster_fastdeploy.store.records import DeploymentRecord


def parse_document(data: bytes | str, where: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as e:
        raise StoreError(
            f"{where} is not valid JSON ({e}): it was damaged outside dagster-fastdeploy; "
            "restore it from a backup or bucket version, or delete it to start over"
        ) from e


def encode_record(record: DeploymentRecord) -> bytes:
    """A record as both stores write it: compact JSON (the C encoder; `indent=` runs the
    pure-Python one, about 5x slower on a long history)."""
    return json.dumps(record.to_dict(), separators=(",", ":")).encode()


def parse_record(document: Any, where: str) -> DeploymentRecord:
    """A DeploymentRecord from a parsed document (see parse_document)."""
    try:
        return DeploymentRecord.from_dict(document)
    except (KeyError, TypeError, AttributeError) as e:
        raise StoreError(
            f"{where} is not a deployment record ({e!r}): restore it from a backup or bucket "
            "version, or delete it to start over"
        ) from e
