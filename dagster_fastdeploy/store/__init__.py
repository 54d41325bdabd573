"""Artifact stores: `file:///abs/path` (the default) and `s3://bucket/prefix`."""

from __future__ import annotations

import os
import re
from pathlib import Path

from dagster_fastdeploy.store.base import Store

DEFAULT_STORE_ENV = "DAGSTER_FASTDEPLOY_STORE"
_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def default_store_url() -> str:
    """`$DAGSTER_FASTDEPLOY_STORE`, else `~/.dagster-fastdeploy/store`."""
    env = os.environ.get(DEFAULT_STORE_ENV)
    if env:
        return env
    return (Path.home() / ".dagster-fastdeploy" / "store").as_uri()


def open_store(url: str | None = None, endpoint_url: str | None = None) -> Store:
    """Open a store by URL: `file:///abs/path` or `s3://bucket/prefix` (None: the default).
    Nothing is contacted yet; the first operation reports an unreachable store."""
    from urllib.parse import unquote, urlsplit

    from dagster_fastdeploy.errors import StoreError

    url = url or default_store_url()
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise StoreError(
                f"invalid store URL {url!r}: a file store is file:///absolute/path "
                f"(three slashes), for example {Path.cwd().joinpath('store').as_uri()}"
            )
        from dagster_fastdeploy.store.file import FileStore

        return FileStore(Path(unquote(parts.path)))
    if parts.scheme == "s3":
        bucket = parts.netloc
        if not _S3_BUCKET.fullmatch(bucket):
            raise StoreError(
                f"invalid store URL {url!r}: expected s3://bucket/prefix with a valid bucket name"
            )
        from dagster_fastdeploy.store.s3 import S3Store

        return S3Store(bucket, unquote(parts.path), endpoint_url=endpoint_url)
    hint = f" (did you mean {Path(url).resolve().as_uri()}?)" if not parts.scheme else ""
    raise StoreError(
        f"unsupported store URL {url!r}{hint}: use file:///absolute/path or s3://bucket/prefix"
    )


__all__ = ["Store", "default_store_url", "open_store"]
