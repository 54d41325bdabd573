"""A handle on a code server that a standby forked: the host is not its parent, so it cannot
wait() for it. It holds a pidfd (the kernel tells it when the process exits) and the write end
of the child's stdin pipe, and offers the part of subprocess.Popen that CodeServerProcess uses
(code_server_process.ChildProcess)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path


class ForkedChild:
    def __init__(self, pid: int, stdin_fd: int, exit_file: Path):
        self.pid = pid
        self.args = [f"forked code server {pid}"]
        self.stdin = os.fdopen(stdin_fd, "wb")
        self.returncode: int | None = None
        self._exit_file = exit_file
        self._pidfd: int | None
        try:
            self._pidfd = os.pidfd_open(pid)
        except ProcessLookupError:  # it exited (and was reaped) already
            self._pidfd = None

    def poll(self) -> int | None:
        if self.returncode is None and self._exited(0):
            self.returncode = self._read_returncode()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not self._exited(timeout):
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            self.returncode = self._read_returncode()
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def _exited(self, timeout: float | None) -> bool:
        """Whether the process has exited, waiting up to `timeout` seconds (None: forever).
        The pidfd stays open until this handle is collected, so several threads may wait."""
        if self._pidfd is None:
            return True
        ready, _, _ = select.select([self._pidfd], [], [], timeout)
        return bool(ready)

    def _read_returncode(self) -> int:
        """The standby writes the exit status once it has reaped the child; -1 if unknown."""
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                return int(json.loads(self._exit_file.read_text())["returncode"])
            time.sleep(0.01)
        return -1

    def __del__(self) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)
