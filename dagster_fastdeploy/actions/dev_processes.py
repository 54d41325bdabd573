"""The child processes `dev` starts: each in its own process group, stopped with all it
started when `dev` stops, and waited for with a deadline."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Callable

from dagster_fastdeploy.errors import FastDeployError, HostError


@contextmanager
def child_process(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    """A child in its own process group, stopped (then killed) with all it started on exit."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        yield proc
    finally:
        stop_group(proc)


def stop_group(proc: subprocess.Popen, grace: float = 15.0) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        with suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
    with suppress(ProcessLookupError):  # whatever the group still holds (ignored SIGTERM)
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def wait_for(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    process: subprocess.Popen | None = None,
    log: Path | None = None,
) -> None:
    """Poll `check` until it is true; a HostError after `timeout`, or at once when `process`
    exits (with the end of its `log`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (FastDeployError, OSError):  # not answering yet
            pass
        if process is not None and process.poll() is not None:
            tail = ""
            if log is not None and log.exists():
                tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise HostError(f"{what} exited ({process.returncode}); its log {log}:{tail}")
        time.sleep(0.1)
    raise HostError(f"{what} did not come up within {timeout:.0f}s (log: {log})")


def http_ok(url: str) -> bool:
    import urllib.request

    with urllib.request.urlopen(url, timeout=2) as response:
        return bool(response.status == 200)
