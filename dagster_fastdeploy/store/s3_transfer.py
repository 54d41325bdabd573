"""Multipart transfers with concurrency for large blobs (s3transfer), with progress."""

from __future__ import annotations

import threading
from typing import Any

from dagster_fastdeploy.store.base import Progress

MB = 1024 * 1024


def transfer_manager(client: Any) -> Any:
    """Parts of 8 MB above 8 MB, 8 at a time; a context manager that waits for (or, on an
    exception, cancels) what it started."""
    from boto3.s3.transfer import TransferConfig
    from s3transfer.manager import TransferManager

    config = TransferConfig(
        multipart_threshold=8 * MB, multipart_chunksize=8 * MB, max_concurrency=8
    )
    return TransferManager(client, config)


class ProgressSubscriber:
    """An s3transfer subscriber that reports (bytes_done, bytes_total) from worker threads."""

    def __init__(self, total: int, progress: Progress):
        self._total = total
        self._done = 0
        self._lock = threading.Lock()
        self._progress = progress
        progress(0, total)

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        pass

    def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
        with self._lock:
            self._done += bytes_transferred
            self._progress(self._done, self._total)

    def on_done(self, future: Any, **kwargs: Any) -> None:
        pass
