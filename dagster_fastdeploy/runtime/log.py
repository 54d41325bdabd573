"""The host's structured log: one JSON object per line, one line per rollout step."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger("dagster_fastdeploy.host")


def log_event(event: str, **fields: Any) -> None:
    record = {"ts": round(time.time(), 3), "event": event, **fields}
    logger.info(json.dumps(record, default=str, sort_keys=False))


def log_exception(event: str, **fields: Any) -> None:
    """Like log_event, from an `except` block that caught an error nobody expected: the JSON line,
    then the traceback (logger.exception), so the log says where it came from."""
    record = {"ts": round(time.time(), 3), "event": event, **fields}
    logger.exception(json.dumps(record, default=str, sort_keys=False))


@contextmanager
def timed_step(
    timings: dict[str, float], step: str, location: str, version: int | None
) -> Iterator[None]:
    """Time one rollout step into `timings[step]` and log it, with ok=false when it raised."""
    started = time.perf_counter()
    ok = False
    try:
        yield
        ok = True
    finally:
        duration = time.perf_counter() - started
        timings[step] = round(timings.get(step, 0.0) + duration, 4)
        log_event(
            "rollout.step",
            location=location,
            version=version,
            step=step,
            duration_s=round(duration, 4),
            ok=ok,
        )


def configure_logging(log_file: str | None = None, level: int = logging.INFO) -> None:
    """Log lines go to stderr and, when given, to a file in the data dir."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file:
        handlers.append(logging.FileHandler(log_file))
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
