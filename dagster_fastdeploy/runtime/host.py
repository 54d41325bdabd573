"""The warm host: every code location of one deployment, each behind its stable endpoint.

The store's deployment records say which version each location should serve; the host makes it
so, when told (Deploy/Rollback through the control API) and on its own (reconcile at start and
every few seconds), so a restarted host or a second host on the same store converges.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from pathlib import Path

from dagster_fastdeploy.errors import FastDeployError, HostError
from dagster_fastdeploy.host_api import (
    DEFAULT_CONTROL_PORT,
    DEFAULT_ROLLOUT_TIMEOUT,
    HealthAnswer,
    LoadError,
    LocationStatus,
    RemoveAnswer,
    StandbyPoolStatus,
    StatusAnswer,
)
from dagster_fastdeploy.runtime.code_server_process import claim_run_dir
from dagster_fastdeploy.runtime.disk_gc import DiskGC, environment_names
from dagster_fastdeploy.runtime.endpoint import StableEndpoint
from dagster_fastdeploy.runtime.environments import Environments
from dagster_fastdeploy.runtime.last_served import LastServed, fallback_candidates
from dagster_fastdeploy.runtime.load_error_answers import LoadErrorAnswers
from dagster_fastdeploy.runtime.location import LocationState
from dagster_fastdeploy.runtime.log import log_event, log_exception
from dagster_fastdeploy.runtime.ports import LocationPorts
from dagster_fastdeploy.runtime.rollout import LoadFailed, Rollouts, RolloutSettings
from dagster_fastdeploy.runtime.selection import LocationSelection
from dagster_fastdeploy.runtime.standby import StandbyPool, standby_supported
from dagster_fastdeploy.runtime.watchdog import Watchdog
from dagster_fastdeploy.store.base import Store
from dagster_fastdeploy.store.records import VersionEntry, check_name, rollback_entry
from dagster_fastdeploy.store.watch import RecordWatch


class Host:
    def __init__(
        self,
        store: Store,
        deployment: str,
        data_dir: Path,
        bind_host: str = "127.0.0.1",
        location_ports: tuple[int, int] = (4300, 4399),
        settings: RolloutSettings | None = None,
        reconcile_interval: float = 3.0,
        control_port: int = DEFAULT_CONTROL_PORT,
        standby: bool = True,
        selection: LocationSelection | None = None,
        advertise_host: str | None = None,
        resync_interval: float = 60.0,
    ):
        self.store = store
        self.deployment = check_name("deployment", deployment)
        self.data_dir = data_dir
        self.bind_host = bind_host
        self.advertise_host = advertise_host
        self.reconcile_interval = reconcile_interval
        self.selection = selection or LocationSelection()
        # the deployment's records, kept fresh by watching its change marker (store/watch.py)
        self.watch = RecordWatch(
            store, self.deployment, resync_interval, only=self.selection.locations
        )
        self.last_reconcile: float | None = None  # time.monotonic() of the last full pass
        data_dir.mkdir(parents=True, exist_ok=True)
        run_root = claim_run_dir(data_dir / "run")
        # Environments are shared by every host on this data dir; ports belong to one host
        # (its deployment and control port), so a restart with the same flags gets them back.
        ports_file = data_dir / f"ports-{self.deployment}-{control_port}.json"
        self.ports = LocationPorts(ports_file, location_ports, bind_host)
        settings = settings or RolloutSettings()
        if standby and not standby_supported():
            log_event("standby.unavailable", reason="no SOCK_SEQPACKET or pidfd: cold starts")
            standby = False
        pool = StandbyPool(data_dir, run_root, settings.start_timeout) if standby else None
        self.rollouts = Rollouts(Environments(data_dir, store), run_root, settings, pool)
        self.disk = DiskGC(data_dir, self._environments_needed, settings.keep_unused_for)
        self.last_served = LastServed(data_dir / f"last-served-{self.deployment}.json")
        self._locations: dict[str, LocationState] = {}
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        # a reconcile pass and a removal never interleave (no location comes back to life)
        self._reconcile_lock = threading.Lock()
        self._reconciler: threading.Thread | None = None
        self.watchdog = Watchdog(
            self.rollouts,
            locations=lambda: list(self._locations.values()),
            find_entry=self._recorded_entry,
            gave_up=self._watchdog_gave_up,
            lock=self._lock,
        )

    # -- life ------------------------------------------------------------------------------
    def start(self) -> None:
        """Bring every recorded location up (in the background) and keep reconciling."""
        self._reconciler = threading.Thread(
            target=self._reconcile_loop, name="reconcile", daemon=True
        )
        self._reconciler.start()
        self.watchdog.start()
        self.disk.collect_soon()

    def stop(self) -> None:
        """Stop every location (in parallel: each lets its running executions finish)."""
        self._stopping.set()
        self.watchdog.stop()
        self.rollouts.memory.stop()
        with self._lock:
            names = list(self._locations)
        stoppers = [
            threading.Thread(target=self._drop, args=(name, False), name=f"stop-{name}")
            for name in names
        ]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()
        if self.rollouts.standby is not None:
            self.rollouts.standby.stop()
        self.rollouts.environments.stop()
        self.disk.stop()

    # -- the control API -------------------------------------------------------------------
    def deploy(
        self,
        location: str,
        version: int | None = None,
        pex_tag: str | None = None,
        timeout: float = DEFAULT_ROLLOUT_TIMEOUT,
    ) -> LocationStatus:
        """Serve the location's recorded version (the current one, or the one named, which
        must be current) and wait up to `timeout` for it to serve or fail."""
        check_name("location", location)
        record = self.store.read_record(self.deployment, location)
        if record is None or record.current is None:
            raise HostError(
                f"location {location!r} has no record in deployment {self.deployment!r} of "
                f"{self.store.url}: deploy it to this store first"
            )
        entry = record.current
        self.selection.check(location, entry)
        wanted = version
        if wanted is None and pex_tag is not None:
            matches = [e for e in record.history if e.pex_tag == pex_tag]
            if not matches:
                raise HostError(f"no recorded version of {location!r} has pex tag {pex_tag}")
            wanted = matches[-1].version
        if wanted is not None and wanted != entry.version:
            raise HostError(
                f"version {wanted} of {location!r} is not its current recorded version "
                f"({entry.version}): `deploy` records a new version, `rollback` brings back an "
                "old one"
            )
        return self._serve_and_wait(location, entry, timeout, retry_failed=True)

    def rollback(
        self, location: str, version: int, timeout: float = DEFAULT_ROLLOUT_TIMEOUT
    ) -> LocationStatus:
        """Record `version` again as the location's newest version (rollback_of), then serve it."""
        check_name("location", location)
        record = self.store.read_record(self.deployment, location)
        old = record.find(version) if record else None
        if record is None or old is None:
            raise HostError(f"location {location!r} has no recorded version {version}")
        self.selection.check(location, record.current)
        current = record.current
        if current is None or current.rollback_of != version:
            from dagster_fastdeploy.actions.provenance import deployed_by

            who = deployed_by(None)
            record = self.store.append_version(
                self.deployment, location, lambda n: rollback_entry(n, old, who)
            )
            current = record.current
        assert current is not None
        return self._serve_and_wait(location, current, timeout, retry_failed=True)

    def remove(self, location: str) -> RemoveAnswer:
        """Stop serving the location, free its port and delete its record from the store."""
        check_name("location", location)
        with self._reconcile_lock:
            self.store.remove_location(self.deployment, location)
            self.watch.forget(location)
            found = self._drop(location, release_port=True)
        return RemoveAnswer(location=location, removed=found)

    def status(self) -> StatusAnswer:
        with self._lock:
            states = [self._locations[n] for n in sorted(self._locations)]
        pool = self.rollouts.standby
        return StatusAnswer(
            deployment=self.deployment,
            locations=[self._describe(s) for s in states],
            standby=StandbyPoolStatus(
                enabled=pool is not None,
                environments=pool.status() if pool is not None else [],
            ),
        )

    def health(self) -> HealthAnswer:
        from dagster_fastdeploy import __version__

        return HealthAnswer(
            ok=True,
            deployment=self.deployment,
            store=self.store.url,
            pid=os.getpid(),
            version=__version__,
            locations=len(self._locations),
            serves=self.selection.describe(),
            dagster_imported="dagster" in sys.modules,
        )

    # -- reconcile -------------------------------------------------------------------------
    def reconcile_once(self) -> None:
        """Make every location this host serves serve its recorded current version; drop the
        ones whose record is gone (or that this host no longer serves). Versions that failed
        here are not retried until a new one is recorded. The store is read only when its
        change marker moved (one conditional read otherwise: store/watch.py)."""
        with self._reconcile_lock:
            changed, removed = self.watch.poll()
            wanted = {
                name: record.current
                for name, record in self.watch.records.items()
                if record.current is not None and self.selection.serves(name, record.current)
            }
            for name in sorted(wanted):
                state, _ = self._ensure(name, wanted[name], retry_failed=False, only_newer=True)
                if _older(wanted[name], state.target):
                    self._ensure_recorded(name)  # a control call asked for a newer one
            with self._lock:
                gone = [n for n in self._locations if n not in wanted]
            for name in gone:
                if self._ensure_recorded(name):  # deployed by a control call just now
                    continue
                reason = (
                    "no record in the store"
                    if name not in self.watch.records
                    else f"not served by this host ({self.selection.describe()})"
                )
                log_event("location.removed", location=name, reason=reason)
                self._drop(name, release_port=True)
            if changed or removed:  # disk GC's view of the histories moved: collect again
                self.disk.collect_soon()
            self.last_reconcile = time.monotonic()

    def _ensure_recorded(self, name: str) -> bool:
        """Ensure the location's current version as the store itself records it: the watch
        lags the store (its marker is read once a pass, and a marker write may have failed),
        so what a control call deployed a moment ago is confirmed here before the reconciler
        drops it or asks for an older version. Whether this host serves the location."""
        record = self.store.read_record(self.deployment, name)
        current = record.current if record is not None else None
        if current is None or not self.selection.serves(name, current):
            return False
        self._ensure(name, current, retry_failed=False)
        return True

    def _reconcile_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.reconcile_once()
            except FastDeployError as e:
                log_event("reconcile.error", error=str(e))
            except Exception as e:  # the loop must outlive any one bad record
                log_exception("reconcile.error", error=repr(e))
            self._stopping.wait(self.reconcile_interval)

    # -- internals -------------------------------------------------------------------------
    def _location(self, name: str) -> LocationState:
        with self._lock:
            state = self._locations.get(name)
            if state is None:
                port = self.ports.assign(name)
                endpoint = StableEndpoint(name, self.bind_host, port)
                state = self._locations[name] = LocationState(name=name, endpoint=endpoint)
                log_event("location.endpoint", location=name, endpoint=self._endpoint(port))
            return state

    def _ensure(
        self, name: str, entry: VersionEntry, retry_failed: bool, only_newer: bool = False
    ) -> tuple[LocationState, threading.Event]:
        """Start a rollout to `entry` unless it serves, is under way, or failed before. With
        `only_newer`, nothing changes when the location was asked for a newer version (the
        reconciler's view of the store may be older than a control call's)."""
        state = self._location(name)
        with self._lock:
            done = threading.Event()
            if only_newer and _older(entry, state.target):
                done.set()
                return state, done
            state.target = entry
            # Under way first: a rollout serves its version a moment before it ends (switch,
            # last-served write), and until it ends `describe` says `starting`.
            if entry.version in state.pending:
                return state, state.pending[entry.version]
            if state.serving is not None and state.serving.version == entry.version:
                done.set()
                return state, done
            if entry.version in state.failed and not retry_failed:
                done.set()
                return state, done
            fresh = state.serving is None and not state.failed and not state.pending
            state.failed.pop(entry.version, None)
            state.pending[entry.version] = done
        first = self._last_served_first(name, entry) if fresh else None
        threading.Thread(
            target=self._roll_out_after,
            args=(state, first, entry, done),
            name=f"rollout-{name}",
            daemon=True,
        ).start()
        return state, done

    def _last_served_first(self, name: str, entry: VersionEntry) -> VersionEntry | None:
        """On a (re)started host, the version this location served last, when the newest recorded
        one is another: it serves first (its environment is usually still on disk), so a restart
        never leaves the location dark while the newest materializes or fails."""
        remembered = self.last_served.get(name)
        if remembered is None or remembered == entry.version:
            return None
        try:
            return self._recorded_entry(name, remembered)
        except FastDeployError as e:
            log_event("restore.error", location=name, version=remembered, error=str(e))
            return None

    def _roll_out_after(
        self,
        state: LocationState,
        first: VersionEntry | None,
        entry: VersionEntry,
        done: threading.Event,
    ) -> None:
        """Roll out `entry`, after serving `first` (see _last_served_first) when there is one."""
        if first is not None:
            log_event(
                "rollout.restore", location=state.name, version=first.version, newest=entry.version
            )
            self._roll_out(state, first, threading.Event(), fallback=True)
        self._roll_out(state, entry, done)

    def _roll_out(
        self,
        state: LocationState,
        entry: VersionEntry,
        done: threading.Event,
        fallback: bool = False,
    ) -> None:
        timings: dict[str, float] = {}
        with self._lock:  # filled step by step: `status` shows how far the rollout got
            state.timings[entry.version] = timings
        started = time.perf_counter()
        names = environment_names(entry.pex_tag)
        self.disk.hold(names)
        try:
            with state.rollout_lock:
                if fallback and state.serving is not None:
                    return  # something serves again (a newer version): no fallback needed
                target = state.target
                if not fallback and target is not None and target.version != entry.version:
                    raise HostError(f"superseded by version {target.version}")
                log_event(
                    "rollout.begin",
                    location=state.name,
                    version=entry.version,
                    pex_tag=entry.pex_tag,
                )
                new = self.rollouts.start_version(state.name, entry, timings)
                if self._stopping.is_set() or self._locations.get(state.name) is not state:
                    new.process.stop(0)
                    raise HostError("the location was removed during its rollout")
                with self._lock:
                    old, state.serving = state.serving, new
                self.rollouts.switch(state.name, state.endpoint, new, old, timings)
                self.last_served.remember(state.name, entry.version)
                self.disk.touch(names)
                timings["total"] = round(time.perf_counter() - started, 4)
                log_event(
                    "rollout.serving",
                    location=state.name,
                    version=entry.version,
                    server_id=new.process.server_id,
                    **timings,
                )
        except LoadFailed as e:
            self._failed(state, entry, e.error, timings)
        except Exception as e:
            if not isinstance(e, FastDeployError):  # a bug of ours, not the user's or the store's
                log_exception("rollout.error", location=state.name, version=entry.version)
            self._failed(state, entry, LoadError.from_exception(e), timings)
        finally:
            with self._lock:
                state.timings[entry.version] = timings
                if state.pending.get(entry.version) is done:  # a fallback's is nobody's
                    del state.pending[entry.version]
            self.disk.release(names)
            self.disk.collect_soon()
            done.set()
        if not fallback:
            self._fall_back_if_dark(state, entry)

    def _environments_needed(self) -> set[str]:
        """What disk_gc must keep for this host: the environments of what serves, what is
        asked for, and the last `retain_versions` recorded versions of each location it serves.
        The histories are the watch's (no store read: a host of 1000 locations would otherwise
        read every record after each rollout); when they lag a version a control call deployed,
        that version is the target, kept above, and reconcile collects again once the watch
        has caught up."""
        keep = self.rollouts.settings.retain_versions
        tags = set()
        with self._lock:
            states = list(self._locations.values())
        for state in states:
            if state.serving is not None:
                tags.add(state.serving.pex_tag)
            if state.target is not None:
                tags.add(state.target.pex_tag)
        if self.watch.listed:
            records = list(self.watch.records.copy().values())  # a dict copy is atomic
        else:  # collecting before the first reconcile pass: read the store itself
            found = (self.store.read_record(self.deployment, name) for name in self._served())
            records = [record for record in found if record is not None]
        if keep > 0:
            for record in records:
                tags |= {e.pex_tag for e in record.history[-keep:]}
        return {name for tag in tags for name in environment_names(tag)}

    def _served(self) -> list[str]:
        """The recorded locations this host would read (all, or those of --locations)."""
        names = self.store.list_locations(self.deployment)
        return [n for n in names if self.watch.only is None or n in self.watch.only]

    def _watchdog_gave_up(
        self, state: LocationState, entry: VersionEntry | None, error: LoadError
    ) -> None:
        if entry is not None:
            self._fall_back_if_dark(state, entry)

    def _recorded_entry(self, location: str, version: int) -> VersionEntry | None:
        record = self.store.read_record(self.deployment, location)
        return record.find(version) if record is not None else None

    def _fall_back_if_dark(self, state: LocationState, entry: VersionEntry) -> None:
        """`entry` failed and the location serves nothing: serve the last version that served
        (see last_served.py), while `status` keeps reporting `entry`'s failure."""
        with self._lock:
            if state.serving is not None or entry.version not in state.failed:
                return
            failed = set(state.failed)
        if self._stopping.is_set() or self._locations.get(state.name) is not state:
            return
        try:
            record = self.store.read_record(self.deployment, state.name)
        except FastDeployError as e:
            log_event("fallback.error", location=state.name, error=str(e))
            return
        if record is None:
            return
        remembered = self.last_served.get(state.name)
        for candidate in fallback_candidates(record, failed, remembered):
            if state.serving is not None or self._stopping.is_set():
                return
            log_event(
                "rollout.fallback",
                location=state.name,
                failed_version=entry.version,
                version=candidate.version,
            )
            self._roll_out(state, candidate, threading.Event(), fallback=True)

    def _failed(
        self,
        state: LocationState,
        entry: VersionEntry,
        error: LoadError,
        timings: dict[str, float],
    ) -> None:
        with self._lock:
            state.failed[entry.version] = error
            if state.serving is None:  # the UI shows the user's error on the location
                state.endpoint.show_load_error(LoadErrorAnswers.for_error(error, entry.version))
        log_event(
            "rollout.failed",
            location=state.name,
            version=entry.version,
            error=error.message,
            file=error.file,
            line=error.line,
            still_serving=state.serving.version if state.serving else None,
            **timings,
        )

    def _serve_and_wait(
        self, location: str, entry: VersionEntry, timeout: float, retry_failed: bool
    ) -> LocationStatus:
        deadline = time.monotonic() + timeout
        state, done = self._ensure(location, entry, retry_failed)
        # Another call may have started the version again (a retry of a failure) as this rollout
        # ended: the answer is that rollout's outcome, within the same deadline.
        while done.wait(max(0.0, deadline - time.monotonic())):
            with self._lock:
                again = state.pending.get(entry.version)
            if again is None or again is done:
                break
            done = again
        return self._describe(state, version=entry.version)

    def _drop(self, name: str, release_port: bool) -> bool:
        with self._lock:
            state = self._locations.pop(name, None)
        if state is None:
            if release_port:
                self.ports.release(name)
            return False
        state.endpoint.stop(grace=1.0)
        if state.serving is not None:
            state.serving.process.stop(self.rollouts.settings.stop_grace)
        if release_port:
            self.ports.release(name)
        if self.rollouts.standby is not None:
            self.rollouts.standby.prune()
        return True

    def _endpoint(self, port: int) -> str:
        host = self.advertise_host or self.bind_host
        if host in ("0.0.0.0", "::", ""):
            host = socket.gethostname()
        return f"{host}:{port}"

    def _describe(self, state: LocationState, version: int | None = None) -> LocationStatus:
        with self._lock:
            return state.describe(version, self._endpoint(state.endpoint.port))


def _older(entry: VersionEntry, target: VersionEntry | None) -> bool:
    """Whether `entry` is older than the version the location was last asked for (version
    numbers only grow within a record)."""
    return target is not None and entry.version < target.version
