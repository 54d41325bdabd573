"""The standby pool: one warm process per deps environment in use, from which code servers fork.

A standby is `<env python> loader/code_server.py --fork-server FD` (see loader/_loader_fork.py):
it has imported dagster, Dagster's gRPC server machinery, the storage modules Dagster imports
lazily, and the preload modules (`[tool.dagster-fastdeploy] preload`, plus every module the
previous version of a location imported from the environment, remembered per environment under
`<data-dir>/preload/`; a new environment's standby imports its predecessor's after its first
handover). It never imports user code. A rollout in its environment forks a child
from it (milliseconds), hands the child the version to load, and the standby stays ready for the
next one: every code server of an environment shares the standby's pages copy-on-write.

Liveness: the standby reads a socket from the host and each forked child reads its own stdin pipe
from the host, so when the host exits or is killed, the standby exits and each child stops once
its running executions finish. A standby whose environment no longer serves anything (a deps
change moved every location elsewhere) is stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from dagster_fastdeploy.errors import HostError
from dagster_fastdeploy.host_api import StandbyStatus
from dagster_fastdeploy.local_files import write_atomically
from dagster_fastdeploy.runtime.code_server_process import (
    CodeServerProcess,
    launch_loader,
)
from dagster_fastdeploy.runtime.environments import Environment
from dagster_fastdeploy.runtime.forked import ForkedChild
from dagster_fastdeploy.runtime.log import log_event, log_exception, timed_step

MAX_MESSAGE = 4 << 20


class Standby:
    """The fork server of one deps environment."""

    def __init__(self, environment: str, python: Path, run_dir: Path, preload: list[str]):
        self.environment = environment
        self.run_dir = run_dir
        self.preloaded: set[str] = set(preload)
        self.after_first_handover: list[str] = []  # preloaded once the first child is forked
        self.children: list[CodeServerProcess] = []
        self.handovers = 0
        self.started_at = time.time()
        self.ready_at: float | None = None
        self._lock = threading.Lock()
        run_dir.mkdir(parents=True, exist_ok=True)
        preload_file = run_dir / "preload.json"
        preload_file.write_text(json.dumps(preload))
        host_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        args = [
            "--warm-file", str(run_dir / "warm.json"),
            "--preload-file", str(preload_file),
            "--fork-server", str(child_end.fileno()),
        ]  # fmt: skip
        try:
            process = launch_loader(
                python, run_dir, run_dir / "standby.log", args, "a standby",
                stdin=subprocess.DEVNULL, pass_fds=(child_end.fileno(),),
            )  # fmt: skip
        except HostError:
            host_end.close()
            raise
        finally:
            child_end.close()
        self.socket = host_end
        self.server = CodeServerProcess(process, run_dir, run_dir / "standby.log")

    @property
    def pid(self) -> int:
        return self.server.pid

    def alive(self) -> bool:
        return self.server.process.poll() is None

    def wait_ready(self, timeout: float) -> None:
        self.server.wait_warm(timeout)
        if self.ready_at is None:
            self.ready_at = time.time()

    def fork(self, run_dir: Path) -> CodeServerProcess:
        """A new code server, forked from this standby, waiting for its load message."""
        run_dir.mkdir(parents=True, exist_ok=True)
        log_path = run_dir / "code_server.log"
        stdin_r, stdin_w = os.pipe()
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        message = {"fork": {"run_dir": str(run_dir), "warm_file": str(run_dir / "warm.json")}}
        try:
            with self._lock:
                answer = self._ask(message, fds=[stdin_r, log_fd])
        except BaseException:
            os.close(stdin_w)
            raise
        finally:
            os.close(stdin_r)
            os.close(log_fd)
        if "pid" not in answer:
            os.close(stdin_w)
            raise HostError(f"the standby of {self.environment} could not fork: {answer}")
        child = ForkedChild(int(answer["pid"]), stdin_w, run_dir / "exit.json")
        process = CodeServerProcess(child, run_dir, log_path)
        self.handovers += 1
        self.children.append(process)
        return process

    def preload(self, modules: list[str]) -> None:
        """Import `modules` in the standby too (the ones it lacks); off the critical path."""
        with self._lock:
            missing = [m for m in modules if m not in self.preloaded]
            if not missing or not self.alive():
                return
            answer = self._ask({"preload": missing})
            self.preloaded.update(missing)
        log_event(
            "standby.preloaded",
            environment=self.environment,
            pid=self.pid,
            modules=len(missing),
            seconds=answer.get("seconds"),
            threads=answer.get("threads"),
        )

    def live_children(self) -> list[CodeServerProcess]:
        self.children = [c for c in self.children if c.process.poll() is None]
        return self.children

    def stop(self) -> None:
        """Close the host's end of the socket: the standby exits (its children do not)."""
        self.socket.close()
        try:
            self.server.process.wait(10)
        except subprocess.TimeoutExpired:
            self.server.kill()
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def describe(self) -> StandbyStatus:
        return StandbyStatus(
            environment=self.environment,
            state="ready" if self.ready_at and self.alive() else "starting",
            pid=self.pid,
            ready_since=self.ready_at,
            preloaded_modules=len(self.preloaded),
            handovers=self.handovers,
            code_servers=[c.pid for c in self.live_children()],
        )

    def _ask(self, message: dict[str, Any], fds: list[int] | None = None) -> dict[str, Any]:
        data = json.dumps(message).encode()
        try:
            if fds:
                socket.send_fds(self.socket, [data], fds)
            else:
                self.socket.send(data)
            reply = self.socket.recv(MAX_MESSAGE)
        except OSError as e:
            raise HostError(f"the standby of {self.environment} is gone: {e}") from e
        if not reply:
            raise HostError(f"the standby of {self.environment} exited")
        return dict(json.loads(reply))


def standby_supported() -> bool:
    """Forked code servers need unix SOCK_SEQPACKET sockets and pidfds (Linux 5.3+)."""
    return hasattr(socket, "SOCK_SEQPACKET") and hasattr(os, "pidfd_open")


class StandbyPool:
    """One standby per deps environment in use; see the module docstring."""

    def __init__(self, data_dir: Path, run_root: Path, start_timeout: float):
        self.preload_dir = data_dir / "preload"
        self.run_root = run_root
        self.start_timeout = start_timeout
        self._standbys: dict[str, Standby] = {}
        self._busy: dict[str, int] = {}
        self._last_environment: dict[str, str] = {}  # location -> its version's environment
        self._lock = threading.Lock()
        self._stopped = False

    def ready(self, deps_dir: Path) -> bool:
        """Whether the environment at `deps_dir` has a standby ready to fork from."""
        with self._lock:
            standby = self._standbys.get(deps_dir.name)
        return standby is not None and standby.ready_at is not None and standby.alive()

    def code_server_for(
        self,
        deps_dir: Path,
        run_dir: Path,
        preload: list[str],
        timings: dict[str, float],
        location: str,
        version: int | None,
    ) -> CodeServerProcess:
        """A code server forked from the standby of the deps environment at `deps_dir` (started
        first when there is none: timed as `standby_start`); the fork is the step `handover`."""
        name = deps_dir.name
        with self._lock:
            standby = self._running(name, deps_dir / "bin" / "python", location, preload)
            self._busy[name] = self._busy.get(name, 0) + 1
        try:
            if standby.ready_at is None:
                with timed_step(timings, "standby_start", location, version):
                    standby.wait_ready(self.start_timeout)
                log_event("standby.ready", environment=name, pid=standby.pid)
            with timed_step(timings, "handover", location, version):
                process = standby.fork(run_dir)
            log_event(
                "standby.handover",
                environment=name,
                standby_pid=standby.pid,
                location=location,
                version=version,
                code_server_pid=process.pid,
            )
            inherited, standby.after_first_handover = standby.after_first_handover, []
            later = list(dict.fromkeys([*preload, *inherited]))
            if later:
                self._in_background(standby.preload, later)
            return process
        finally:
            with self._lock:
                self._busy[name] -= 1

    def start_early(self, deps_dir: Path, location: str, preload: list[str]) -> None:
        """Start the standby of a deps environment that was just made, while the rest of the
        rollout (the source environment) is finished: `code_server_for` then finds it started
        or ready. It preloads what the location's previous version imported."""
        with self._lock:
            self._running(deps_dir.name, deps_dir / "bin" / "python", location, preload)

    def _running(self, name: str, python: Path, location: str, preload: list[str]) -> Standby:
        """The standby of environment `name`, started when there is none (under self._lock)."""
        if self._stopped:
            raise HostError("the host is stopping")
        standby = self._standbys.get(name)
        if standby is not None and not standby.alive():
            log_event("standby.exited", environment=name, pid=standby.pid)
            standby = None
        if standby is None:
            standby = self._start(name, python, preload, self._last_environment.get(location))
        return standby

    def remember(self, env: Environment, modules: list[str] | None, location: str = "") -> None:
        """What a version imported from its environment: preloaded by this environment's
        standby from now on (and by the next standby of it, after a host restart), and by the
        standby of the location's next environment (a dependency change)."""
        name = env.deps_dir.name
        if location:
            with self._lock:
                self._last_environment[location] = name
        if not modules:
            return
        known = self._remembered(name)
        merged = known + [m for m in modules if m not in set(known)]
        if merged != known:
            write_atomically(self.preload_dir / f"{name}.json", json.dumps(merged))
        with self._lock:
            standby = self._standbys.get(name)
        if standby is not None:
            self._in_background(standby.preload, merged)

    def prune(self) -> None:
        """Stop the standbys of environments that serve nothing any more."""
        with self._lock:
            idle = [
                (name, s)
                for name, s in self._standbys.items()
                if not self._busy.get(name)
                and s.ready_at
                and not s.live_children()
                and not self._waiting_for_first_rollout(s)
            ]
            for name, _ in idle:
                del self._standbys[name]
        for name, standby in idle:
            standby.stop()
            log_event("standby.stopped", environment=name, pid=standby.pid, reason="unused")

    def _waiting_for_first_rollout(self, standby: Standby) -> bool:
        """Started early for a rollout that has not reached its handover yet."""
        return standby.handovers == 0 and time.time() - standby.started_at < self.start_timeout

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            standbys, self._standbys = list(self._standbys.items()), {}
        for name, standby in standbys:
            standby.stop()
            log_event("standby.stopped", environment=name, pid=standby.pid, reason="host stop")

    def status(self) -> list[StandbyStatus]:
        with self._lock:
            standbys = list(self._standbys.values())
        return [s.describe() for s in standbys]

    def _start(self, name: str, python: Path, preload: list[str], previous: str | None) -> Standby:
        """A new environment (a dependency change) inherits what its predecessor imported, but
        preloads it only after its first handover: the first code server, forked as soon as the
        standby is warm, imports what it needs itself while the standby preloads the rest on
        the other core (a rollout waited for all of it before), and that first child's imports
        become the new environment's own remembered list."""
        remembered = self._remembered(name)
        inherited = self._remembered(previous) if not remembered and previous else []
        modules = list(dict.fromkeys([*preload, *remembered]))
        run_dir = self.run_root / ".standby" / name
        standby = Standby(name, python, run_dir, modules)
        standby.after_first_handover = [m for m in inherited if m not in set(modules)]
        self._standbys[name] = standby
        log_event(
            "standby.starting",
            environment=name,
            pid=standby.pid,
            preload=len(modules),
            preload_after_handover=len(standby.after_first_handover),
        )
        return standby

    def _remembered(self, name: str) -> list[str]:
        try:
            return list(json.loads((self.preload_dir / f"{name}.json").read_text()))
        except (OSError, ValueError):
            return []

    @staticmethod
    def _in_background(fn: Any, *args: Any) -> None:
        def run() -> None:
            try:
                fn(*args)
            except Exception as e:  # a preload is a speed-up; never fail a rollout for it
                log_exception("standby.preload_failed", error=str(e))

        threading.Thread(target=run, name="standby-preload", daemon=True).start()
