"""Telling a person what a long command is doing, step by step (resolving, downloading N
packages, building deps.pex, uploading X MB, materializing, starting the code server): one live
line on a terminal (with a bar for uploads over a few MB), one line per step otherwise, on
stderr, so that stdout (and `--json`) stays clean. With `--json` and no terminal, nothing."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import click

PROGRESS_BAR_OVER = 4 * 1024 * 1024  # bytes: smaller uploads finish before a bar helps

Say = Callable[[str], None]
UploadBar = Callable[[str, int], "Callable[[int, int], None] | None"]


@dataclass
class StepProgress:
    say: Say  # a step begins
    upload_bar: UploadBar | None = None  # (blob name, bytes to send) -> a progress callback


@contextmanager
def step_progress(as_json: bool = False) -> Iterator[StepProgress]:
    """What the block should report to (see the module docstring)."""
    if sys.stderr.isatty():
        with _live() as live:
            yield live
        return
    if as_json:
        yield StepProgress(lambda step: None)
        return
    started = time.perf_counter()
    last: list[str] = []

    def say(step: str) -> None:
        if not last or last[-1] != step:
            last.append(step)
            click.echo(f"[{time.perf_counter() - started:6.1f}s] {step}", err=True)

    yield StepProgress(say)


@contextmanager
def _live() -> Iterator[StepProgress]:
    from rich.console import Console
    from rich.progress import DownloadColumn, Progress, SpinnerColumn, TransferSpeedColumn

    bar = Progress(
        SpinnerColumn(),
        *Progress.get_default_columns(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    step = bar.add_task("Starting", total=None)

    def say(message: str) -> None:
        bar.update(step, description=message[:100])

    def upload_bar(name: str, size: int) -> Callable[[int, int], None] | None:
        if size < PROGRESS_BAR_OVER:
            return None
        task = bar.add_task(f"upload {name[:20]}…", total=size)
        return lambda done, total: bar.update(task, completed=done)

    with bar:
        yield StepProgress(say, upload_bar)
