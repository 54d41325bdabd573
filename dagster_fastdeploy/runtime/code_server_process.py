"""A code-server child process, run by our loader inside a location's environment.

Its life has two halves, so that a pre-started process (a standby) can be handed its code later:
spawn() starts `<env python> loader/code_server.py`, which imports dagster and Dagster's gRPC
server and then waits; load() tells it what to load and where to listen. The process holds the
read end of a pipe from the host: when the host dies, the pipe closes and the process exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from dagster_fastdeploy.errors import HostError
from dagster_fastdeploy.host_api import LoadError

LOADER_SCRIPT = Path(__file__).resolve().parent.parent / "loader" / "code_server.py"
GET_SERVER_ID = "/api.DagsterApi/GetServerId"


class LoadFailed(Exception):
    """The location's code did not load; `error` is the loader's report (type, message, file,
    line, traceback) or what we know of a crash."""

    def __init__(self, error: LoadError):
        super().__init__(error.message)
        self.error = error


@dataclass
class LoadRequest:
    location_name: str
    target: dict[str, Any]
    working_directory: str
    sys_path: list[str]
    host: str
    port: int
    server_id: str = field(default_factory=lambda: str(uuid.uuid4()))


# The host's own secrets: the control token (with it, user code of one location could deploy or
# remove every location) and the store's credentials. A location that needs cloud credentials
# gets its own (an instance role, or names listed in DAGSTER_FASTDEPLOY_PASS_ENV).
HOST_SECRETS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
)
PASS_ENV = "DAGSTER_FASTDEPLOY_PASS_ENV"  # comma-separated names a host passes on anyway


def child_environment() -> dict[str, str]:
    """The host's environment without what would leak the host's Python into the child, and
    without the host's secrets: every DAGSTER_FASTDEPLOY_* variable (the control token among
    them) and the store's credentials (HOST_SECRETS), unless named in DAGSTER_FASTDEPLOY_PASS_ENV.
    Standbys get this environment, and the code servers they fork inherit it. With
    PYTHONDONTWRITEBYTECODE: an environment that serves is never written, not even bytecode
    (a module without it is compiled in memory; see bytecode.py)."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__", *HOST_SECRETS)
    passed = {n.strip() for n in os.environ.get(PASS_ENV, "").split(",") if n.strip()}
    env = {
        k: v
        for k, v in os.environ.items()
        if k in passed
        or not (k in drop or k.startswith("PEX_") or k.startswith("DAGSTER_FASTDEPLOY_"))
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def launch_loader(
    python: Path,
    run_dir: Path,
    log_path: Path,
    args: list[str],
    what: str,
    stdin: Any = subprocess.PIPE,
    pass_fds: tuple[int, ...] = (),
) -> subprocess.Popen:
    """Start `<env python> loader/code_server.py ARGS` in `run_dir`, its output in `log_path`,
    in a session of its own (a Ctrl-C on the host's terminal is the host's to handle)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 (the child owns it from here)
    try:
        return subprocess.Popen(
            [str(python), str(LOADER_SCRIPT), *args],
            stdin=stdin,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=run_dir,
            env=child_environment(),
            pass_fds=pass_fds,
            start_new_session=True,
        )
    except OSError as e:
        raise HostError(f"could not start {what} with {python}: {e}") from e
    finally:
        log.close()


def process_alive(pid: int) -> bool:
    """Whether a process `pid` exists (run dirs and disk leases are named by their pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim_run_dir(run: Path) -> Path:
    """`run/<pid>` for this host's code servers; dirs of hosts that are gone are removed."""
    run.mkdir(parents=True, exist_ok=True)
    for other in run.iterdir():
        if other.name.isdigit() and not process_alive(int(other.name)):
            shutil.rmtree(other, ignore_errors=True)
    mine = run / str(os.getpid())
    shutil.rmtree(mine, ignore_errors=True)
    return mine


class ChildProcess(Protocol):
    """The part of subprocess.Popen a code server's handle uses: a child the host started, or
    one a standby forked (runtime/forked.py ForkedChild), which the host cannot wait() for."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | Any: ...

    @property
    def stdin(self) -> IO[bytes] | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def kill(self) -> None: ...


class CodeServerProcess:
    def __init__(self, process: ChildProcess, run_dir: Path, log_path: Path):
        self.process = process
        self.run_dir = run_dir
        self.log_path = log_path
        self.request: LoadRequest | None = None
        self.report: dict[str, Any] | None = None
        self.stopped_because: str | None = None  # set by the host before it kills the process

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def address(self) -> str:
        assert self.request is not None
        return f"{self.request.host}:{self.request.port}"

    @property
    def server_id(self) -> str | None:
        return self.request.server_id if self.request else None

    @classmethod
    def spawn(
        cls, python: Path, run_dir: Path, preload: list[str] | None = None
    ) -> CodeServerProcess:
        args = ["--warm-file", str(run_dir / "warm.json")]
        if preload:
            args += ["--preload", ",".join(preload)]
        log_path = run_dir / "code_server.log"
        process = launch_loader(python, run_dir, log_path, args, "a code server")
        return cls(process, run_dir, log_path)

    def wait_warm(self, timeout: float) -> dict[str, Any]:
        """Wait until the process has imported dagster and the gRPC server machinery."""
        return self._wait_for_file(self.run_dir / "warm.json", timeout, "start")

    def load(self, request: LoadRequest) -> None:
        self.request = request
        self._send({"load": {**request.__dict__, "report_path": str(self._report_path)}})

    def wait_loaded(self, timeout: float) -> dict[str, Any]:
        """Wait for the loader's report; raise LoadFailed with the user's error if it failed."""
        report = self._wait_for_file(self._report_path, timeout, "load its definitions")
        if not report.get("ok"):
            raise LoadFailed(LoadError.from_json(report.get("error") or "the loader failed"))
        self.report = report
        return report

    def wait_answering(self, timeout: float, channel: Any = None) -> None:
        """Wait until Dagster's API answers GetServerId with this process's server id, through
        `channel` when given (left open: the endpoint forwards through it next), else through a
        channel of its own."""
        import grpc

        with contextlib.ExitStack() as stack:
            if channel is None:
                channel = stack.enter_context(grpc.insecure_channel(self.address))
            call = channel.unary_unary(GET_SERVER_ID)
            try:
                raw = call(b"", timeout=timeout, wait_for_ready=True)
            except grpc.RpcError as e:
                raise LoadFailed(self._crash_error(f"the code server did not answer: {e}")) from e
        if self.server_id and self.server_id.encode() not in raw:
            raise LoadFailed(LoadError(f"another server answers at {self.address}"))

    def warm(self) -> None:
        """Tell a loaded code server to make what a client's first call needs (see the loader's
        protocol); a process that has gone is left for the rollout to find."""
        with contextlib.suppress(OSError):
            self._send({"warm": {}})

    def stop(self, grace: float = 30.0) -> None:
        """Ask the process to stop after its running executions finish; kill it after `grace`.
        Only the code server is killed: run workers it started (own processes) finish their
        runs, so a deploy never cuts a run short."""
        if self.process.poll() is None:
            try:
                self._send({"stop": {}})
                assert self.process.stdin is not None
                self.process.stdin.close()
            except OSError:
                pass
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """Kill the process and anything it started (a load that failed or hung)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            # A child forked a moment ago may not lead its own process group yet (it calls
            # setsid first thing): killpg then finds no group, and only this reaches it.
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            self.process.wait()

    # -- internals -------------------------------------------------------------------------
    @property
    def _report_path(self) -> Path:
        return self.run_dir / "report.json"

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(message) + "\n").encode())
        self.process.stdin.flush()

    def _wait_for_file(self, path: Path, timeout: float, what: str) -> dict[str, Any]:
        started = time.monotonic()
        deadline = started + timeout
        while True:
            if path.exists():
                return dict(json.loads(path.read_text()))
            if self.process.poll() is not None:
                if path.exists():
                    continue
                raise LoadFailed(
                    self._crash_error(f"the code server exited ({self.process.returncode})")
                )
            if time.monotonic() > deadline:
                self.kill()
                raise LoadFailed(
                    self._crash_error(f"the code server did not {what} within {timeout:.0f} s")
                )
            # a fork or a small project's load is done in tens of milliseconds: look every
            # millisecond at first (a poll is one stat), then every 5 ms
            time.sleep(0.001 if time.monotonic() - started < 1.0 else 0.005)

    def exit_error(self, message: str) -> LoadError:
        """`message` with the process's last 30 lines of output (for a crash or an exit)."""
        return self._crash_error(message)

    def _crash_error(self, message: str) -> LoadError:
        tail = ""
        if self.log_path.exists():
            tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])
        if self.stopped_because:
            return LoadError(self.stopped_because, type="MemoryLimitExceeded", traceback=tail)
        return LoadError(message, type="CodeServerError", traceback=tail)
