"""Artifact stores: `file:///abs/path` (the default) and `s3://bucket/prefix`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from dagster_fastdeploy.store.base import Store

DEFAULT_STORE_ENV = "DAGSTER_FASTDEPLOY_STORE"


def default_store_url() -> str:
    """`$DAGSTER_FASTDEPLOY_STORE`, else `~/.dagster-fastdeploy/store`."""
    env = os.environ.get(DEFAULT_STORE_ENV)
    if env:
        return env
    return (Path.home() / ".dagster-fastdeploy" / "store").as_uri()


def open_store(url: Optional[str] = None, endpoint_url: Optional[str] = None) -> Store:
    """Open a store by URL; implemented in store/file.py and store/s3.py."""
    raise NotImplementedError  # replaced by the store implementation


__all__ = ["Store", "default_store_url", "open_store"]
