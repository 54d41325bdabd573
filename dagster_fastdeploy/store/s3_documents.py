"""The S3 store's small documents (change markers, heartbeats). A conditional read is a GET with
`If-None-Match: <etag>`: S3 answers 304 Not Modified without a body when nothing changed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster_fastdeploy.store.base import Document
from dagster_fastdeploy.store.s3_errors import MISSING, error_code

NOT_MODIFIED = {"304", "NotModified", "Not Modified"}


class S3Documents:
    """Mixed into S3Store: the small-document half of the Store interface."""

    bucket: str
    client: Any

    if TYPE_CHECKING:  # provided by S3Store

        def _key(self, relative: str) -> str: ...
        def _errors(self, action: str) -> Any: ...
        def _list(self, prefix: str, delimiter: str | None = None) -> list[dict[str, Any]]: ...

    def put_document(self, key: str, data: bytes) -> None:
        with self._errors(f"writing {key}"):
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, ContentType="application/json"
            )

    def get_document(self, key: str, unless_tag: str | None = None) -> Document | None:
        from botocore.exceptions import ClientError

        condition = {"IfNoneMatch": unless_tag} if unless_tag else {}
        with self._errors(f"reading {key}"):
            try:
                response = self.client.get_object(
                    Bucket=self.bucket, Key=self._key(key), **condition
                )
            except ClientError as e:
                code = error_code(e)
                if code in MISSING:
                    return None
                if code in NOT_MODIFIED and unless_tag:
                    return Document(data=None, tag=unless_tag)
                raise
            return Document(data=response["Body"].read(), tag=response["ETag"])

    def list_documents(self, prefix: str) -> dict[str, str]:
        start = len(self._key(prefix))
        found = {}
        for page in self._list(prefix, delimiter="/"):
            for obj in page.get("Contents", []):
                name = obj["Key"][start:]
                if name.endswith(".json"):
                    found[name[: -len(".json")]] = obj["ETag"]
        return found

    def delete_document(self, key: str) -> None:
        with self._errors(f"deleting {key}"):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
