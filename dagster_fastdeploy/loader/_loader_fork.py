"""The fork server: the warm parent of every code server of one deps environment (the standby).

It has imported dagster, Dagster's gRPC server machinery and the preload modules, and never
imports user code. The host talks to it over a SOCK_SEQPACKET unix socket, one JSON message per
packet:

- `{"fork": {"run_dir", "warm_file"}}` with two file descriptors (the child's stdin, the read end
  of a pipe from the host, and its log file): fork a child, which becomes an ordinary code server
  waiting for its load message (see code_server.py); answer `{"pid": N}`.
- `{"preload": [module, ...]}`: import more modules ahead (the modules the previous version of a
  location imported from the environment); answer `{"ok": true, "seconds", "threads"}`.
- end of the socket (the host stopped or died): exit. Forked children live on until their own
  stdin pipe from the host closes.

The parent starts no threads and no gRPC server, so a fork copies a quiet process; its objects are
frozen out of the garbage collector (gc.freeze) so the children share its pages copy-on-write.
When a child exits, the parent reaps it and writes `{"returncode"}` to its run dir's exit.json.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
import sys
import threading
import time
from typing import Any, Callable

MAX_MESSAGE = 4 << 20


def serve_forks(
    control_fd: int,
    preload: Callable[[list[str]], Any],
    after_first_fork: Callable[[], Any] | None = None,
) -> dict[str, Any] | None:
    """Run the fork server. Returns in each forked child (its fork request); returns None in the
    parent once the host has gone away. `after_first_fork` runs once in the parent, right after
    its first fork has been answered (so that it never delays that one)."""
    sock = socket.socket(fileno=control_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    children: dict[int, str] = {}
    gc.freeze()
    while True:
        ready, _, _ = select.select([sock.fileno(), wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 4096)
            _reap(children)
        if sock.fileno() not in ready:
            continue
        try:
            data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 4)
        except OSError:
            data, fds = b"", []
        if not data:
            return None
        message = json.loads(data)
        if "fork" in message:
            request = message["fork"]
            pid = _fork(fds)
            if pid == 0:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.close(wake_r)
                os.close(wake_w)
                sock.close()
                return dict(request)
            children[pid] = request["run_dir"]
            sock.send(json.dumps({"pid": pid}).encode())
            if after_first_fork is not None:
                after_first_fork()
                after_first_fork = None
                gc.freeze()
        elif "preload" in message:
            started = time.perf_counter()
            preload(list(message["preload"]))
            gc.freeze()
            answer = {
                "ok": True,
                "seconds": round(time.perf_counter() - started, 4),
                "threads": threading.active_count(),
            }
            sock.send(json.dumps(answer).encode())
        else:
            sock.send(json.dumps({"error": f"unknown message {sorted(message)}"}).encode())


def _fork(fds: list[int]) -> int:
    """Fork; in the child, make the passed descriptors its stdin and stdout/stderr and give it
    its own session (the host stops a code server by its process group)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid != 0:
        for fd in fds:
            os.close(fd)
        return pid
    os.setsid()
    stdin_fd, log_fd = fds
    os.dup2(stdin_fd, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(stdin_fd)
    os.close(log_fd)
    return 0


def _reap(children: dict[int, str]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        run_dir = children.pop(pid, None)
        if run_dir is None or not os.path.isdir(run_dir):
            continue
        path = os.path.join(run_dir, "exit.json")
        tmp = f"{path}.tmp"
        try:
            with open(tmp, "w") as f:
                json.dump({"returncode": os.waitstatus_to_exitcode(status)}, f)
            os.replace(tmp, path)
        except OSError:
            pass
