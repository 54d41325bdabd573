"""The S3 store's deployment records: one JSON object per location, updated with compare-and-
swap (a conditional PUT with `If-Match: <etag>` of the record that was read, or
`If-None-Match: *` when there was none), retried from a fresh read on PreconditionFailed or
ConditionalRequestConflict."""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any, Callable

from dagster_fastdeploy.errors import StoreError
from dagster_fastdeploy.store.documents import encode_record, parse_record
from dagster_fastdeploy.store.keys import DEPLOYMENTS, deployment_prefix, record_key
from dagster_fastdeploy.store.records import DeploymentRecord, VersionEntry, is_valid_name
from dagster_fastdeploy.store.s3_errors import CONFLICT, MISSING, error_code

MAX_RECORD_ATTEMPTS = 50


class S3Records:
    """Mixed into S3Store: the deployment-record half of the Store interface."""

    bucket: str
    client: Any
    url: str

    if TYPE_CHECKING:  # provided by S3Store

        def _key(self, relative: str) -> str: ...
        def _errors(self, action: str) -> Any: ...
        def _list(self, prefix: str, delimiter: str | None = None) -> list[dict[str, Any]]: ...
        def _get_json(self, key: str) -> tuple[Any, str] | None: ...
        def _deployment_changed(
            self, deployment: str, location: str, version: int | None, action: str
        ) -> None: ...

    def read_record(self, deployment: str, location: str) -> DeploymentRecord | None:
        key = self._key(record_key(deployment, location))
        found = self._get_json(key)
        return parse_record(found[0], f"s3://{self.bucket}/{key}") if found else None

    def list_locations(self, deployment: str) -> list[str]:
        prefix = deployment_prefix(deployment)
        start = len(self._key(prefix))
        names = []
        for page in self._list(prefix, delimiter="/"):
            for obj in page.get("Contents", []):
                name = obj["Key"][start:]
                if name.endswith(".json") and is_valid_name(name[: -len(".json")]):
                    names.append(name[: -len(".json")])  # others are not records: skipped
        return sorted(names)

    def list_deployments(self) -> list[str]:
        start = len(self._key(f"{DEPLOYMENTS}/"))
        names = []
        for page in self._list(f"{DEPLOYMENTS}/", delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                name = common["Prefix"][start:].rstrip("/")
                if is_valid_name(name):
                    names.append(name)
        return sorted(names)

    def append_version(
        self, deployment: str, location: str, make_entry: Callable[[int], VersionEntry]
    ) -> DeploymentRecord:
        from botocore.exceptions import ClientError

        key = self._key(record_key(deployment, location))
        for attempt in range(MAX_RECORD_ATTEMPTS):
            found = self._get_json(key)
            if found:
                record = parse_record(found[0], f"s3://{self.bucket}/{key}")
                condition = {"IfMatch": found[1]}
            else:
                record = DeploymentRecord(deployment=deployment, location=location)
                condition = {"IfNoneMatch": "*"}
            version = record.next_version
            record.history.append(make_entry(version))
            body = encode_record(record)
            with self._errors(f"writing the record of {deployment}/{location}"):
                try:
                    self.client.put_object(
                        Bucket=self.bucket,
                        Key=key,
                        Body=body,
                        ContentType="application/json",
                        **condition,
                    )
                except ClientError as e:
                    if error_code(e) not in CONFLICT | MISSING:
                        raise
                else:
                    self._deployment_changed(deployment, location, version, "deploy")
                    return record
            # someone else wrote in between: back off a little, then start from theirs
            time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))
        raise StoreError(
            f"could not append to the record of {deployment}/{location} in {self.url} after "
            f"{MAX_RECORD_ATTEMPTS} attempts: too many deploys of this location at once"
        )

    def remove_location(self, deployment: str, location: str) -> None:
        with self._errors(f"removing {deployment}/{location}"):
            self.client.delete_object(
                Bucket=self.bucket, Key=self._key(record_key(deployment, location))
            )
        self._deployment_changed(deployment, location, None, "remove")
