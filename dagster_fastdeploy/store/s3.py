"""The `s3://bucket/prefix` store: boto3 with the standard credential chain, `AWS_ENDPOINT_URL`
(or `--endpoint-url`) for S3-compatible servers, botocore's standard retry mode (backoff with
jitter; `AWS_MAX_ATTEMPTS` overrides the attempt count), and s3transfer's multipart transfers
with concurrency for large blobs.

Blobs, recipes and chunks are written create-only (`If-None-Match: *` on the PUT, or on
CompleteMultipartUpload), and S3 makes an object visible only once its upload is complete, so an
interrupted upload never shows under a final key. Chunked blobs: s3_chunks.py; deployment
records (compare-and-swap with conditional PUTs): s3_records.py.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from dagster_fastdeploy.errors import IntegrityError, StoreError
from dagster_fastdeploy.local_files import temp_file
from dagster_fastdeploy.store.base import Progress, Store
from dagster_fastdeploy.store.blobs import BlobInfo, blob_digest, is_blob_name, verify_blob_file
from dagster_fastdeploy.store.chunked import (
    read_chunked,
    recipe_complete,
    repair_chunked,
    upload_chunked,
)
from dagster_fastdeploy.store.chunking import RECIPE_SUFFIX
from dagster_fastdeploy.store.documents import parse_document
from dagster_fastdeploy.store.keys import (
    BLOBS,
    CHUNKS,
    DEPS_INDEX,
    blob_key,
    index_key,
    recipe_key,
)
from dagster_fastdeploy.store.s3_chunks import S3Chunks
from dagster_fastdeploy.store.s3_documents import S3Documents
from dagster_fastdeploy.store.s3_errors import CONFLICT, MISSING, error_code, s3_errors
from dagster_fastdeploy.store.s3_records import S3Records
from dagster_fastdeploy.store.s3_transfer import ProgressSubscriber, transfer_manager


class S3Store(S3Chunks, S3Documents, S3Records, Store):
    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None):
        import boto3
        from botocore.config import Config

        endpoint_url = (
            endpoint_url
            or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL")
            or None
        )
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        config = Config(
            retries={"mode": "standard"},
            connect_timeout=10,
            read_timeout=120,
            max_pool_connections=16,
            # S3-compatible servers (MinIO, moto, Ceph) want path-style addressing
            s3={"addressing_style": "path"} if endpoint_url else None,
        )
        self.client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)
        self.endpoint = self.client.meta.endpoint_url
        self._replacing: set[str] = set()
        self._create_only = True  # If-None-Match on blob uploads, unless the server refuses it
        for event in ("PutObject", "CompleteMultipartUpload"):
            self.client.meta.events.register(
                f"before-parameter-build.s3.{event}", self._blobs_are_create_only
            )

    def _key(self, relative: str) -> str:
        return f"{self.prefix}{relative}"

    def _errors(self, action: str) -> Any:
        return s3_errors(self.url, self.endpoint, action)

    def _blobs_are_create_only(self, params: dict[str, Any], **kwargs: Any) -> None:
        key = params.get("Key", "")
        immutable = (self._key(f"{BLOBS}/"), self._key(f"{CHUNKS}/"))
        wanted = self._create_only and key not in self._replacing and "IfMatch" not in params
        if wanted and key.startswith(immutable):
            params["IfNoneMatch"] = "*"

    def _transfer(self) -> Any:
        return transfer_manager(self.client)

    def _write_create_only(self, action: str, put: Callable[[], object]) -> bool:
        """Run `put`: one write of bytes that never change under their key (a blob, a chunk, a
        recipe), sent create-only (`If-None-Match: *`, see _blobs_are_create_only). True when
        written, False when a concurrent writer stored the same bytes first. A server without
        conditional writes answers NotImplemented: the condition is dropped for this store from
        then on, and `put` is sent again (the same bytes either way)."""
        from botocore.exceptions import ClientError

        while True:
            conditional = self._create_only  # another thread may drop it meanwhile
            with self._errors(action):
                try:
                    put()
                    return True
                except ClientError as e:
                    if error_code(e) in CONFLICT:
                        return False
                    if error_code(e) != "NotImplemented" or not conditional:
                        raise
            self._create_only = False

    def _head_size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        with self._errors(f"looking up {key}"):
            try:
                return int(self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
            except ClientError as e:
                if error_code(e) in MISSING:
                    return None
                raise

    def _list(self, prefix: str, delimiter: str | None = None) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self._key(prefix)}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        pages = []
        with self._errors(f"listing {prefix}"):
            for page in self.client.get_paginator("list_objects_v2").paginate(**kwargs):
                pages.append(page)
        return pages

    def _get_json(self, key: str) -> tuple[Any, str] | None:
        from botocore.exceptions import ClientError

        with self._errors(f"reading {key}"):
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=key)
            except ClientError as e:
                if error_code(e) in MISSING:
                    return None
                raise
            where = f"s3://{self.bucket}/{key}"
            return parse_document(response["Body"].read(), where), response["ETag"]

    # -- blobs ---------------------------------------------------------------------------------
    def _stored_as(self, name: str) -> tuple[int | None, bool]:
        """(the whole blob's size or None, whether its recipe is stored), in one listing."""
        whole, recipe = self._key(blob_key(name)), self._key(recipe_key(name))
        with self._errors(f"looking up {name}"):
            page = self.client.list_objects_v2(Bucket=self.bucket, Prefix=whole, MaxKeys=10)
        found = {obj["Key"]: int(obj["Size"]) for obj in page.get("Contents", [])}
        return found.get(whole), recipe in found

    def has_blob(self, name: str) -> bool:
        whole, recipe = self._stored_as(name)
        return whole is not None or recipe

    def blob_complete(self, name: str, verify: bool = False) -> bool:
        recipe = self.read_recipe(name)
        if recipe is not None:
            return recipe_complete(self, recipe, verify)
        if not verify:
            return self.has_blob(name)
        with tempfile.TemporaryDirectory(prefix=".fastdeploy-verify-") as tmp:
            try:
                self.get_blob(name, Path(tmp) / name)
            except IntegrityError:
                return False
            except StoreError:
                return False  # not stored at all
        return True

    def upload_blob(
        self, name: str, path: Path, progress: Progress | None = None, verify: bool = False
    ) -> int:
        key = self._key(blob_key(name))
        size = path.stat().st_size
        stored, recipe = self._stored_as(name)
        if recipe:
            return repair_chunked(self, name, path, progress, verify)
        if stored == size and (not verify or self.blob_complete(name, verify=True)):
            return 0  # stored (hosts verify every blob and chunk they read)
        if stored is None:
            sent = upload_chunked(self, name, path, progress)
            if sent is not None:
                return sent
        verify_blob_file(name, path, stored_at=str(path))
        if stored is not None:  # the wrong size: a damaged copy, replace it
            self._replacing.add(key)

        def put() -> None:
            subscribers = [ProgressSubscriber(size, progress)] if progress else []
            with self._transfer() as transfer:
                transfer.upload(
                    str(path),
                    self.bucket,
                    key,
                    extra_args={"Metadata": {"sha256": blob_digest(name)}},
                    subscribers=subscribers,
                ).result()

        try:
            return size if self._write_create_only(f"uploading {name}", put) else 0
        finally:
            self._replacing.discard(key)

    def get_blob(self, name: str, dest: Path, progress: Progress | None = None) -> Path:
        recipe = self.read_recipe(name)
        if recipe is not None:
            return read_chunked(self, recipe, dest, progress)
        key = self._key(blob_key(name))
        size = self._head_size(key)
        if size is None:
            raise StoreError(f"blob {name} is not in the store {self.url}")
        subscribers = [ProgressSubscriber(size, progress)] if progress else []
        with temp_file(dest) as tmp:
            with self._errors(f"downloading {name}"), self._transfer() as transfer:
                transfer.download(self.bucket, key, str(tmp), subscribers=subscribers).result()
            verify_blob_file(name, tmp, stored_at=f"s3://{self.bucket}/{key}")
            os.replace(tmp, dest)
        return dest

    def list_blobs(self) -> list[BlobInfo]:
        blobs = []
        start = len(self._key(f"{BLOBS}/"))
        for page in self._list(f"{BLOBS}/"):
            for obj in page.get("Contents", []):
                name = obj["Key"][start:]
                modified = obj["LastModified"].timestamp()
                if is_blob_name(name):
                    blobs.append(BlobInfo(name, obj["Size"], modified))
                elif name.endswith(RECIPE_SUFFIX) and is_blob_name(name[: -len(RECIPE_SUFFIX)]):
                    recipe = self.read_recipe(name[: -len(RECIPE_SUFFIX)])
                    if recipe is not None:
                        blobs.append(BlobInfo(recipe.blob, recipe.size, modified, chunked=True))
        return blobs

    def delete_blob(self, name: str) -> None:
        with self._errors(f"deleting {name}"):
            for key in (blob_key(name), recipe_key(name)):
                self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def clean_partial_uploads(self, older_than: float) -> int:
        removed = 0
        cutoff = time.time() - older_than
        with self._errors("listing unfinished uploads"):
            paginator = self.client.get_paginator("list_multipart_uploads")
            for prefix in (BLOBS, CHUNKS):
                for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(f"{prefix}/")):
                    for upload in page.get("Uploads", []):
                        if upload["Initiated"].timestamp() <= cutoff:
                            self.client.abort_multipart_upload(
                                Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                            )
                            removed += 1
        return removed

    # -- deps index ----------------------------------------------------------------------------
    def get_deps_index(self, key: str) -> dict[str, Any] | None:
        found = self._get_json(self._key(index_key(key)))
        return found[0] if found else None

    def put_deps_index(self, key: str, entry: dict[str, Any]) -> None:
        body = json.dumps(entry, indent=2, sort_keys=True).encode()
        with self._errors("writing the deps index"):
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(index_key(key)),
                Body=body,
                ContentType="application/json",
            )

    def list_deps_index(self) -> dict[str, dict[str, Any]]:
        entries = {}
        start = len(self._key(f"{DEPS_INDEX}/"))
        for page in self._list(f"{DEPS_INDEX}/"):
            for obj in page.get("Contents", []):
                name = obj["Key"][start:]
                found = self._get_json(obj["Key"]) if name.endswith(".json") else None
                if found:
                    entries[name[: -len(".json")]] = found[0]
        return entries

    def delete_deps_index(self, key: str) -> None:
        with self._errors("deleting a deps index entry"):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(index_key(key)))
