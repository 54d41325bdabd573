"""The watchdog: a serving code server that exits (killed, crashed, out of memory) is replaced.

Every CHECK_INTERVAL seconds it looks at each location's serving process. When one has exited,
the same version is started again (forked from its environment's standby where there is one)
and the endpoint switched to it: the dead process stays the endpoint's target until the
replacement answers, so a location is never pointed at nothing. Exits in a row back off
(0, 0.5, 1, 2, 4 s ... at most 30 s between attempts); MAX_EXITS exits within EXIT_WINDOW seconds
end it: the version is reported `failed` with the code server's last output, and the host falls
back to an older version (last_served.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dagster_fastdeploy.errors import FastDeployError
from dagster_fastdeploy.host_api import LoadError
from dagster_fastdeploy.runtime.code_server_process import LoadFailed
from dagster_fastdeploy.runtime.location import LocationState
from dagster_fastdeploy.runtime.log import log_event, log_exception
from dagster_fastdeploy.runtime.rollout import Rollouts, ServingVersion
from dagster_fastdeploy.store.records import VersionEntry

CHECK_INTERVAL = 0.25
MAX_EXITS = 5
EXIT_WINDOW = 120.0
MAX_BACKOFF = 30.0


@dataclass
class _Exits:
    times: list[float] = field(default_factory=list)

    def add(self, now: float) -> int:
        self.times = [t for t in self.times if now - t < EXIT_WINDOW] + [now]
        return len(self.times)


def backoff(exits: int) -> float:
    """Seconds to wait before the restart that follows the `exits`-th exit in a row."""
    return 0.0 if exits <= 1 else min(MAX_BACKOFF, 0.5 * 2 ** (exits - 2))


class Watchdog:
    def __init__(
        self,
        rollouts: Rollouts,
        locations: Callable[[], list[LocationState]],
        find_entry: Callable[[str, int], VersionEntry | None],
        gave_up: Callable[[LocationState, VersionEntry | None, LoadError], None],
        lock: threading.RLock,
    ):
        self.rollouts = rollouts
        self._locations = locations
        self._find_entry = find_entry
        self._gave_up = gave_up
        self._lock = lock
        self._exits: dict[str, _Exits] = {}
        self._restarting: set[str] = set()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def _loop(self) -> None:
        while not self._stopping.wait(CHECK_INTERVAL):
            try:
                for state in self._locations():
                    serving = state.serving
                    if serving is None or state.name in self._restarting:
                        continue
                    if serving.process.process.poll() is not None:
                        self._restarting.add(state.name)
                        threading.Thread(
                            target=self._restart,
                            args=(state, serving),
                            name=f"watchdog-{state.name}",
                            daemon=True,
                        ).start()
            except Exception:  # the watchdog must outlive any one location
                log_exception("watchdog.error")

    def _restart(self, state: LocationState, dead: ServingVersion) -> None:
        try:
            exits = self._exits.setdefault(state.name, _Exits()).add(time.monotonic())
            error = dead.process.exit_error(
                f"the code server of version {dead.version} exited "
                f"({dead.process.process.returncode})"
            )
            log_event(
                "code_server.exited",
                location=state.name,
                version=dead.version,
                returncode=dead.process.process.returncode,
                exits_in_a_row=exits,
            )
            entry = self._find_entry(state.name, dead.version)
            if exits >= MAX_EXITS or entry is None:
                if exits >= MAX_EXITS:
                    error.message = (
                        f"the code server of version {dead.version} exited {exits} times within "
                        f"{EXIT_WINDOW:.0f} s; it is not restarted again. Its last output is "
                        "below."
                    )
                self._give_up(state, dead, entry, error)
                return
            if self._stopping.wait(backoff(exits)):
                return
            self._replace(state, dead, entry)
        except (LoadFailed, FastDeployError) as e:
            log_event("watchdog.restart_failed", location=state.name, error=str(e))
        except Exception:
            log_exception("watchdog.error", location=state.name)
        finally:
            self._restarting.discard(state.name)

    def _replace(self, state: LocationState, dead: ServingVersion, entry: VersionEntry) -> None:
        timings: dict[str, float] = {}
        with state.rollout_lock:
            if state.serving is not dead:
                return  # a rollout replaced it meanwhile
            new = self.rollouts.start_version(state.name, entry, timings)
            with self._lock:
                if state.serving is not dead:
                    new.process.stop(0)
                    return
                state.serving = new
            self.rollouts.switch(state.name, state.endpoint, new, dead, timings)
        log_event(
            "code_server.restarted",
            location=state.name,
            version=entry.version,
            server_id=new.process.server_id,
            **timings,
        )

    def _give_up(
        self,
        state: LocationState,
        dead: ServingVersion,
        entry: VersionEntry | None,
        error: LoadError,
    ) -> None:
        with self._lock:
            if state.serving is not dead:
                return
            state.serving = None
            state.failed[dead.version] = error
        log_event("code_server.given_up", location=state.name, version=dead.version)
        self._gave_up(state, entry, error)
