"""A Dagster code server that is told which code to load. Runs in the location's environment
(stdlib + dagster only; the host runs `<env python> code_server.py`).

Protocol with the host, one JSON object per line on stdin:

1. At start the process imports dagster and Dagster's gRPC server machinery (and the modules
   named by `--preload`), then writes `{"pid", "import_s", "dagster_version"}` to `--warm-file`
   if one is given. A pre-started process (standby) waits here, holding no user code.
2. `{"load": {...}}` (see LoadRequest below): add the source to sys.path, chdir to the working
   directory, load the definitions by constructing Dagster's gRPC server directly, bind
   `host:port`, start serving, then write the report (definitions metadata, or the user's error
   with file and line) atomically to `report_path`. On a load error the process exits 1.
3. `{"warm": {}}` (sent once the host has seen the server answer, while it switches the
   endpoint to it): make each repository's snapshot once, in the background, so that the first
   client's call does not (see _loader_dagster.warm_first_answer).
4. `{"stop": {}}` or end of stdin (the host went away): stop taking calls, let running
   executions finish, exit 0.

With `--fork-server FD` the warm process is a standby that never loads code itself: it forks a
child per code server (see _loader_fork.py); each child writes its own warm file and goes on
from step 2 with its own stdin pipe from the host.
"""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import platform
import sys
import threading
import time
from typing import Any

STARTED = time.perf_counter()
LOADER_DIR = os.path.dirname(os.path.abspath(__file__))


def hide_loader_dir() -> None:
    """The loader's own directory must not shadow the user's modules. Dagster drops sys.path[0]
    ("the script path") while it imports user code, so a placeholder that holds nothing stays."""
    if sys.path and os.path.abspath(sys.path[0]) == LOADER_DIR:
        sys.path[0] = os.path.join(LOADER_DIR, "__script_path_placeholder__")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm-file", help="write import timings here once warm")
    parser.add_argument("--preload", default="", help="comma-separated modules to import ahead")
    parser.add_argument("--preload-file", help="a JSON list of more modules to import ahead")
    parser.add_argument("--fork-server", type=int, help="serve forks on this unix socket fd")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    logger = logging.getLogger("dagster.code_server")
    logger.setLevel(logging.INFO)

    dagster_version = _loader_dagster.import_server_machinery()
    _loader_dagster.preload([m for m in args.preload.split(",") if m])
    if args.preload_file:
        with open(args.preload_file) as f:
            _loader_dagster.preload(list(json.load(f)))
    import_s = time.perf_counter() - STARTED
    if args.warm_file:
        write_json(
            args.warm_file,
            {"pid": os.getpid(), "import_s": import_s, "dagster_version": dagster_version},
        )
    if args.fork_server is not None:
        fork = _loader_fork.serve_forks(
            args.fork_server, _loader_dagster.preload, _loader_dagster.rehearse
        )
        if fork is None:
            return 0  # the host went away
        forked_from, import_s = os.getppid(), 0.0
        write_json(
            fork["warm_file"],
            {
                "pid": os.getpid(),
                "forked_from": forked_from,
                "import_s": import_s,
                "dagster_version": dagster_version,
            },
        )

    line = sys.stdin.readline()
    if not line.strip():
        return 0  # told to stop (or the host went away) before any code was loaded
    message = json.loads(line)
    if "load" not in message:
        return 0
    request = message["load"]
    load_started = time.perf_counter()
    imported_before = set(sys.modules)
    try:
        server = _loader_dagster.start_code_server(request, logger)
    except BaseException as exc:  # the user's code failed to load: report it, exit non-zero
        error = _loader_errors.describe_load_error(exc, user_roots(request))
        write_json(
            request["report_path"],
            {
                "ok": False,
                "error": error,
                "dagster_version": dagster_version,
                "import_s": import_s,
                "load_s": time.perf_counter() - load_started,
            },
        )
        logger.error("could not load %s:\n%s", request.get("location_name"), error["traceback"])
        return 1

    definitions = _loader_definitions.describe(server.repositories())
    write_json(
        request["report_path"],
        {
            "ok": True,
            "pid": os.getpid(),
            "server_id": request.get("server_id"),
            "dagster_version": dagster_version,
            "python_version": platform.python_version(),
            "import_s": import_s,
            "load_s": time.perf_counter() - load_started,
            "definitions": definitions,
            "deps_modules": _loader_dagster.modules_under(sys.prefix, imported_before),
        },
    )
    wait_for_stop(server)
    return 0


def user_roots(request: dict[str, Any]) -> list[str]:
    roots = list(request.get("sys_path") or [])
    if request.get("working_directory"):
        roots.append(request["working_directory"])
    return [os.path.abspath(r) for r in roots]


def wait_for_stop(server: _loader_dagster.RunningCodeServer) -> None:
    """Serve until the host says stop or goes away (end of stdin), then shut down gracefully."""
    watcher = threading.Thread(target=_read_until_stop, args=(server,), daemon=True)
    watcher.start()
    server.wait()


def _read_until_stop(server: _loader_dagster.RunningCodeServer) -> None:
    for line in sys.stdin:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if "warm" in message:
            threading.Thread(
                target=_loader_dagster.warm_first_answer,
                args=(server,),
                name="warm-first-answer",
                daemon=True,
            ).start()
        if "stop" in message:
            break
    server.shutdown()


def exit_without_teardown(code: int) -> None:
    """Exit as Python does (threads joined, thread pools shut down, atexit handlers run, output
    flushed), minus the teardown of every module. A code server forked from a standby would
    otherwise write to every object it shares with the standby on its way out, copying those
    pages, and burn a core for a few tenths of a second right after a switch, while the new
    version takes its first calls."""
    shutdown_threads = getattr(threading, "_shutdown", None)
    if shutdown_threads is None:  # not in this Python: its own exit
        sys.exit(code)
    shutdown_threads()
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)


def write_json(path: str, data: dict[str, Any]) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, default=str)
    os.replace(tmp, path)


if __name__ == "__main__":
    # The siblings are imported only here: Dagster spawns run workers with multiprocessing,
    # which imports this file again (as __mp_main__) without the loader dir on sys.path.
    import _loader_dagster
    import _loader_definitions
    import _loader_errors
    import _loader_fork

    hide_loader_dir()
    exit_without_teardown(main())
