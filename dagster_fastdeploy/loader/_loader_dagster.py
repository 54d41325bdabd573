"""Constructing Dagster's gRPC code server directly, across dagster versions.

`dagster api grpc` builds a DagsterApiServer (which loads the definitions) and a
DagsterGrpcServer (which binds the port). We build the same two objects without the CLI, so a
process can import everything first and be told what to load later. Their keyword arguments
changed between dagster versions: we pass only those the installed version accepts.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
import os
import sys
import threading
from typing import Any, Callable

# What a standby imports before it is told what to load: dagster, its gRPC server, and the
# modules Dagster imports lazily while loading code (most of a cold start). The host compiles
# their bytecode before a new environment's first standby (runtime/bytecode.py).
START_MODULES = (
    "dagster",
    "dagster._grpc.server",
    "dagster._core.storage.event_log",
    "dagster._core.workspace.autodiscovery",
    "dagster._utils.test",
)


def import_server_machinery() -> str:
    """Import START_MODULES. Returns the dagster version."""
    import dagster
    import dagster._grpc.server  # noqa: F401

    for name in START_MODULES[2:]:
        with contextlib.suppress(Exception):  # a speed-up, absent in some versions
            importlib.import_module(name)
    return dagster.__version__


def preload(modules: list[str]) -> int:
    """Import `modules` ahead; returns how many could not be (a preload is a hint, never a
    failure: each failure is logged once)."""
    failed = 0
    for name in modules:
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except BaseException as e:  # noqa: BLE001 (SystemExit from a module is a failure too)
            failed += 1
            logging.getLogger("dagster.code_server").warning("could not preload %s: %s", name, e)
    return failed


def modules_under(prefix: str, imported_before: set[str]) -> list[str]:
    """Modules imported from the environment at `prefix` (its deps, never the user's source)
    since `imported_before`, in the order they were imported: what a standby of this
    environment imports ahead next time."""
    root = os.path.join(os.path.abspath(prefix), "")
    names = []
    for name, module in list(sys.modules.items()):
        if name in imported_before or name == "__main__" or name.startswith("_loader"):
            continue
        path = getattr(module, "__file__", None)
        if path and path.startswith(root):
            names.append(name)
    return names


def rehearse() -> None:
    """Load and snapshot a tiny Definitions once (two assets, a job, a schedule), as a code
    server loads the user's: the caches Dagster fills and the modules it imports the first time
    it builds any definitions are then made in the standby, before its next fork, and each code
    server's load starts past them (a fifth of a small project's load here). None of it is user
    code. A speed-up only: a failure is logged and changes nothing else."""
    try:
        import dagster as dg
        from dagster._core.remote_representation.external_data import RepositorySnap
        from dagster._serdes import serialize_value

        @dg.asset
        def fastdeploy_rehearsal_upstream() -> int:
            return 1

        @dg.asset(deps=[fastdeploy_rehearsal_upstream])
        def fastdeploy_rehearsal(context) -> int:  # type: ignore[no-untyped-def]
            return 1  # (an annotation here would be a string Dagster cannot resolve)

        job = dg.define_asset_job("fastdeploy_rehearsal_job")
        definitions = dg.Definitions(
            assets=[fastdeploy_rehearsal_upstream, fastdeploy_rehearsal],
            jobs=[job],
            schedules=[dg.ScheduleDefinition(job=job, cron_schedule="0 0 * * *")],
        )
        repository = definitions.get_repository_def()
        repository.load_all_definitions()
        serialize_value(RepositorySnap.from_def(repository, defer_snapshots=True))
    except Exception:
        logging.getLogger("dagster.code_server").exception("the standby's rehearsal failed")


def warm_first_answer(server: RunningCodeServer) -> None:
    """Make each repository's snapshot once, as a client's first ExternalRepository call does
    (the asset graph and the jobs built from the definitions, cached on them), so that the first
    call after the switch finds them made. Run beside the host's switch, when the new code
    server would otherwise wait idle. A speed-up only: a failure is logged, and that call meets
    it again and answers it as Dagster does."""
    try:
        from dagster._core.remote_representation.external_data import RepositorySnap
        from dagster._serdes import serialize_value
    except ImportError:  # another dagster version: its first call makes them
        return
    for repository in server.repositories():
        try:
            serialize_value(RepositorySnap.from_def(repository, defer_snapshots=True))
        except Exception:
            logging.getLogger("dagster.code_server").exception(
                "making the snapshot of %s ahead of the first call failed", repository.name
            )


def _call_with_accepted(fn: Callable[..., Any], **kwargs: Any) -> Any:
    params = inspect.signature(fn).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in params}
    return fn(**kwargs)


class RunningCodeServer:
    """A Dagster code server serving in a background thread."""

    def __init__(self, api_servicer: Any, grpc_server: Any, termination_event: threading.Event):
        self.api_servicer = api_servicer
        self.grpc_server = grpc_server
        self.termination_event = termination_event
        self._thread = threading.Thread(target=grpc_server.serve, name="code-server", daemon=True)
        self._thread.start()

    def repositories(self) -> list[Any]:
        loaded = getattr(self.api_servicer, "_loaded_repositories", None)
        by_name = getattr(loaded, "definitions_by_name", None) or {}
        return list(by_name.values())

    def shutdown(self) -> None:
        """Stop once running executions finish (what Dagster's ShutdownServer call does)."""
        finish_event = getattr(self.api_servicer, "_shutdown_once_executions_finish_event", None)
        if finish_event is not None:
            finish_event.set()
        else:
            self.termination_event.set()

    def wait(self) -> None:
        self._thread.join()


def start_code_server(request: dict[str, Any], logger: logging.Logger) -> RunningCodeServer:
    """Load the request's target and serve it on request["host"]:request["port"]. Raises
    whatever the user's code raised when the definitions do not load."""
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._grpc.server import DagsterApiServer, DagsterGrpcServer

    # After sys.path[0], which Dagster drops while importing user code (see code_server.py).
    for path in reversed(request.get("sys_path") or []):
        if path not in sys.path:
            sys.path.insert(1, path)
    working_directory = request["working_directory"]
    os.chdir(working_directory)
    target = request["target"]
    python_file = target.get("python_file")
    if python_file and not os.path.isabs(python_file):
        python_file = os.path.join(working_directory, python_file)
    origin = _call_with_accepted(
        LoadableTargetOrigin,
        executable_path=sys.executable,
        python_file=python_file,
        module_name=target.get("module_name"),
        package_name=target.get("package_name"),
        attribute=target.get("attribute"),
        working_directory=working_directory,
    )

    termination_event = threading.Event()
    executor = _threadpool_executor()
    api_servicer = _call_with_accepted(
        DagsterApiServer,
        server_termination_event=termination_event,
        logger=logger,
        server_threadpool_executor=executor,
        loadable_target_origin=origin,
        heartbeat=False,
        lazy_load_user_code=False,
        fixed_server_id=request.get("server_id"),
        location_name=request.get("location_name"),
    )
    grpc_server = _call_with_accepted(
        DagsterGrpcServer,
        server_termination_event=termination_event,
        dagster_api_servicer=api_servicer,
        logger=logger,
        threadpool_executor=executor,
        max_workers=None,
        host=request.get("host", "127.0.0.1"),
        port=int(request["port"]),
        socket=None,
    )
    return RunningCodeServer(api_servicer, grpc_server, termination_event)


def _threadpool_executor() -> Any:
    try:
        from dagster._core.utils import FuturesAwareThreadPoolExecutor
    except ImportError:  # older dagster: DagsterGrpcServer makes its own pool
        return None
    return FuturesAwareThreadPoolExecutor(max_workers=None)
