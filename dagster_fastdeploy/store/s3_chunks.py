"""The S3 store's side of chunked blobs (see chunked.py): chunks under `chunks/`, recipes
beside the whole blobs under `blobs/`. Chunks move in parallel: one s3transfer manager carries
every missing chunk (multipart above 8 MB), and reads fetch 8 chunks at a time. Both are
written create-only (`If-None-Match: *`, see S3Store), so concurrent deploys never overwrite."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from dagster_fastdeploy.errors import IntegrityError, StoreError
from dagster_fastdeploy.store.blobs import CHUNK, BlobInfo
from dagster_fastdeploy.store.chunked import FileSlice, Moved, write_chunk_at
from dagster_fastdeploy.store.chunking import (
    ChunkRef,
    Piece,
    Recipe,
    chunk_corrupted,
    inflate_verified,
)
from dagster_fastdeploy.store.keys import (
    CHUNKS,
    QUARANTINE,
    chunk_key,
    is_chunk_name,
    is_quarantined_name,
    quarantined_key,
    quarantined_name,
    recipe_key,
)
from dagster_fastdeploy.store.s3_errors import MISSING, error_code

CHUNK_WORKERS = 8
LIST_PAGES = 5
LIST_PAGE_SIZE = 1000


class _MovedSubscriber:
    """An s3transfer subscriber that passes each chunk's progress on to one counter."""

    def __init__(self, moved: Moved):
        self._moved = moved

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        pass

    def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
        self._moved(bytes_transferred)

    def on_done(self, future: Any, **kwargs: Any) -> None:
        pass


class S3Chunks:
    """Mixed into S3Store: what chunked.py's ChunkBackend asks of a store."""

    bucket: str
    client: Any
    url: str
    _create_only: bool

    if TYPE_CHECKING:  # provided by S3Store

        def _key(self, relative: str) -> str: ...
        def _errors(self, action: str) -> Any: ...
        def _head_size(self, key: str) -> int | None: ...
        def _transfer(self) -> Any: ...
        def _write_create_only(self, action: str, put: Callable[[], object]) -> bool: ...
        def _list(self, prefix: str, delimiter: str | None = None) -> list[dict[str, Any]]: ...

    def _where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def chunks_stored(self, refs: list[ChunkRef]) -> list[bool]:
        """Present with the right size (hosts verify every chunk they read). A listing of
        `chunks/` answers for up to LIST_PAGES pages of chunks; beyond that, the chunks it has
        not seen are asked one by one (in parallel)."""
        sizes: dict[str, int] = {}
        start = len(self._key(f"{CHUNKS}/"))
        listing = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket,
            Prefix=self._key(f"{CHUNKS}/"),
            PaginationConfig={"PageSize": LIST_PAGE_SIZE},
        )
        complete = False
        with self._errors("listing chunks"):
            for number, page in enumerate(listing):
                for obj in page.get("Contents", []):
                    sizes[obj["Key"][start:]] = int(obj["Size"])
                if not page.get("IsTruncated"):
                    complete = True
                    break
                if number + 1 >= LIST_PAGES:
                    break
        if complete:
            return [sizes.get(ref.name) == ref.stored_size for ref in refs]

        def stored(ref: ChunkRef) -> bool:
            if ref.name in sizes:
                return sizes[ref.name] == ref.stored_size
            return self._head_size(self._key(chunk_key(ref.name))) == ref.stored_size

        with ThreadPoolExecutor(CHUNK_WORKERS) as pool:
            return list(pool.map(stored, refs))

    def chunks_present(self, refs: list[ChunkRef]) -> list[bool]:
        return self.chunks_stored(refs)

    def _chunk_intact(self, ref: ChunkRef) -> bool:
        from botocore.exceptions import ClientError

        key = self._key(chunk_key(ref.name))
        with self._errors(f"reading chunk {ref.name}"):
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            except ClientError as e:
                if error_code(e) in MISSING:
                    return False
                raise
            try:
                where = self._where(key)
                inflate_verified("", ref, body.iter_chunks(CHUNK), lambda _, __: None, where, "")
            except IntegrityError:
                return False
            finally:
                body.close()
        return True

    def chunks_verified(self, refs: list[ChunkRef]) -> list[bool]:
        with ThreadPoolExecutor(CHUNK_WORKERS) as pool:
            return list(pool.map(self._chunk_intact, refs))

    def quarantine_chunk(self, ref: ChunkRef) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        key = self._key(chunk_key(ref.name))
        try:
            if self._head_size(key) is None or self._chunk_intact(ref):
                return False
            aside = self._key(quarantined_key(quarantined_name(ref.name, time.time_ns())))
            source = {"Bucket": self.bucket, "Key": key}
            self.client.copy_object(Bucket=self.bucket, Key=aside, CopySource=source)
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError, StoreError):
            return False  # read-only credentials: the error tells the user what to delete
        return True

    def put_chunks(self, pieces: list[Piece], source: Path, moved: Moved) -> None:
        """Every piece create-only, CHUNK_WORKERS at a time through one transfer manager."""
        with self._errors("uploading chunks"), self._transfer() as transfer:

            def put(piece: Piece) -> None:
                body = FileSlice(piece, source)
                try:
                    transfer.upload(
                        body,
                        self.bucket,
                        self._key(chunk_key(piece.ref.name)),
                        extra_args={"Metadata": {"sha256": piece.ref.sha256}},
                        subscribers=[_MovedSubscriber(moved)],
                    ).result()
                finally:
                    body.close()

            def send(piece: Piece) -> None:
                self._write_create_only(f"uploading chunk {piece.ref.name}", lambda: put(piece))

            with ThreadPoolExecutor(CHUNK_WORKERS) as pool:
                for done in [pool.submit(send, piece) for piece in pieces]:
                    done.result()

    def read_chunks(self, recipe: Recipe, fd: int, offsets: list[int], moved: Moved) -> None:
        from botocore.exceptions import ClientError

        recipe_where = self.recipe_where(recipe.blob)

        def read(ref: ChunkRef, offset: int) -> None:
            key = self._key(chunk_key(ref.name))
            with self._errors(f"downloading chunk {ref.name} of {recipe.blob}"):
                try:
                    response = self.client.get_object(Bucket=self.bucket, Key=key)
                except ClientError as e:
                    if error_code(e) in MISSING:
                        raise chunk_corrupted(
                            recipe.blob, ref, self._where(key), recipe_where, "is missing"
                        ) from None
                    raise
                stored = response["Body"].iter_chunks(CHUNK)
                write_chunk_at(
                    recipe.blob, ref, stored, fd, offset, moved, self._where(key), recipe_where
                )

        with ThreadPoolExecutor(CHUNK_WORKERS) as pool:
            for done in [pool.submit(read, r, o) for r, o in zip(recipe.chunks, offsets)]:
                done.result()

    def read_recipe(self, blob: str) -> Recipe | None:
        from botocore.exceptions import ClientError

        key = self._key(recipe_key(blob))
        with self._errors(f"reading the recipe of {blob}"):
            try:
                data = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            except ClientError as e:
                if error_code(e) in MISSING:
                    return None
                raise
        return Recipe.from_bytes(data, blob, self._where(key))

    def write_recipe(self, blob: str, data: bytes) -> None:
        key = self._key(recipe_key(blob))
        self._write_create_only(
            f"writing the recipe of {blob}",
            lambda: self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType="application/json"
            ),
        )

    def recipe_where(self, blob: str) -> str:
        return self._where(self._key(recipe_key(blob)))

    def list_chunks(self) -> list[BlobInfo]:
        return self._listed(CHUNKS, is_chunk_name)

    def delete_chunk(self, name: str) -> None:
        with self._errors(f"deleting chunk {name}"):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(chunk_key(name)))

    def list_quarantined(self) -> list[BlobInfo]:
        return self._listed(QUARANTINE, is_quarantined_name)

    def delete_quarantined(self, name: str) -> None:
        with self._errors(f"deleting quarantined chunk {name}"):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(quarantined_key(name)))

    def _listed(self, folder: str, named: Callable[[str], bool]) -> list[BlobInfo]:
        """The objects under `folder/` whose names `named` accepts."""
        found = []
        start = len(self._key(f"{folder}/"))
        for page in self._list(f"{folder}/"):
            for obj in page.get("Contents", []):
                name = obj["Key"][start:]
                if named(name):
                    found.append(BlobInfo(name, obj["Size"], obj["LastModified"].timestamp()))
        return found
