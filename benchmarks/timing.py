"""Repeated measurements: each run records its total and its seconds by step."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Run:
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)
    bytes_uploaded: int | None = None

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.steps[name] = self.steps.get(name, 0.0) + time.perf_counter() - start


@dataclass
class Scenario:
    """One scenario's runs, or the reason it could not run."""

    name: str
    description: str
    runs: list[Run] = field(default_factory=list)
    skipped: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def measure(self, body: Callable[[Run], None]) -> Run:
        run = Run()
        start = time.perf_counter()
        body(run)
        run.seconds = time.perf_counter() - start
        self.runs.append(run)
        return run

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"description": self.description, "runs": len(self.runs)}
        if self.skipped is not None:
            data["skipped"] = self.skipped
        if self.runs:
            totals = [r.seconds for r in self.runs]
            data["median_s"] = round(statistics.median(totals), 4)
            data["min_s"] = round(min(totals), 4)
            data["max_s"] = round(max(totals), 4)
            data["all_s"] = [round(t, 4) for t in totals]
            names = sorted({n for r in self.runs for n in r.steps})
            data["steps"] = {
                n: round(statistics.median([r.steps.get(n, 0.0) for r in self.runs]), 4)
                for n in names
            }
            uploads = [r.bytes_uploaded for r in self.runs if r.bytes_uploaded is not None]
            if uploads:
                data["bytes_uploaded"] = int(statistics.median(uploads))
        else:
            data.update(median_s=None, min_s=None, max_s=None, steps={})
        data.update(self.extra)
        return data


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as e:  # not up yet; say what it was if it never comes up
            last_error = e
        time.sleep(interval)
    raise TimeoutError(f"gave up after {timeout:.0f}s (last error: {last_error!r})")
