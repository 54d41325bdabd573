"""Watching a deployment for new records at a cost that does not grow with its locations.

Every record write (a deploy, a rollback, a removal) is followed by a rewrite of one small
object, `changes/<deployment>.json`, naming what changed. A host polls that object with a
conditional read (S3: `GET` with `If-None-Match: <etag>`, answered 304 with no body while
nothing changed; file store: one stat), so watching costs one request per poll whatever the
number of locations. When it moved, the host lists the deployment's records once (their tags
come with the listing) and reads only the records whose tag moved: several writes between two
polls are all seen, even though the marker names only the last one.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from dagster_fastdeploy.store.keys import changes_key
from dagster_fastdeploy.store.records import DeploymentRecord

if TYPE_CHECKING:
    from dagster_fastdeploy.store.base import Store


@dataclass
class DeploymentChange:
    """The change marker's content: the last record write of the deployment."""

    deployment: str
    location: str
    version: int | None  # None for a removal
    action: str  # "deploy" (any append: deploy or rollback) or "remove"
    changed_at: str
    by: str
    nonce: str  # makes every write a new object (and a new ETag), even within a clock tick


def write_change(
    store: Store, deployment: str, location: str, version: int | None, action: str
) -> None:
    change = DeploymentChange(
        deployment=deployment,
        location=location,
        version=version,
        action=action,
        changed_at=datetime.now(timezone.utc).isoformat(),
        by=socket.gethostname(),
        nonce=uuid.uuid4().hex,
    )
    store.put_document(changes_key(deployment), json.dumps(asdict(change)).encode())


class RecordWatch:
    """A host's view of a deployment's records, kept fresh cheaply.

    `poll()` costs one conditional read of the change marker while nothing changed. When the
    marker moved (or `resync_interval` passed: a safety net for a marker write that failed),
    one listing, then a read of each record whose tag moved. Returns the records that are new or
    changed since the last poll and the locations whose record is gone."""

    def __init__(
        self,
        store: Store,
        deployment: str,
        resync_interval: float = 60.0,
        only: frozenset[str] | None = None,
    ):
        """`only`: read only these locations' records (a host started with --locations)."""
        self.store = store
        self.only = only
        self.deployment = deployment
        self.resync_interval = resync_interval
        self.records: dict[str, DeploymentRecord] = {}
        self._record_tags: dict[str, str] = {}
        self._marker_tag: str | None = None
        self._listed_at: float | None = None

    def poll(self) -> tuple[dict[str, DeploymentRecord], list[str]]:
        key = changes_key(self.deployment)
        marker = self.store.get_document(key, unless_tag=self._marker_tag)
        moved = marker is not None and marker.data is not None
        if marker is not None:
            self._marker_tag = marker.tag
        due = self._listed_at is None or time.monotonic() - self._listed_at >= self.resync_interval
        if not moved and not due:
            return {}, []
        return self._relist()

    @property
    def listed(self) -> bool:
        """Whether `records` holds a whole listing yet (false until the first poll)."""
        return self._listed_at is not None

    def forget(self, location: str) -> None:
        """This process removed the location's record itself: drop it without waiting."""
        self.records.pop(location, None)
        self._record_tags.pop(location, None)

    def _relist(self) -> tuple[dict[str, DeploymentRecord], list[str]]:
        self._listed_at = time.monotonic()
        tags = self.store.record_tags(self.deployment)
        if self.only is not None:
            tags = {name: tag for name, tag in tags.items() if name in self.only}
        changed: dict[str, DeploymentRecord] = {}
        for name, tag in sorted(tags.items()):
            if self._record_tags.get(name) == tag:
                continue
            record = self.store.read_record(self.deployment, name)
            if record is None:  # removed between the listing and the read
                continue
            self._record_tags[name] = tag
            self.records[name] = changed[name] = record
        gone = sorted(n for n in self.records if n not in tags)
        for name in gone:
            self.records.pop(name, None)
            self._record_tags.pop(name, None)
        return changed, gone
