"""Rolling a location out to a new version, one timed step at a time:

    fetch -> materialize -> start -> load -> switch      (then, off the critical path:)
                                                          drain -> stop (the old version)

where `start` is `handover` when the environment's standby forks the code server (and
`standby_start` + `handover` when that environment had no standby yet; see standby.py). When the
environment and its ready standby are there already (a source-only change), the handover runs
beside fetch and materialize.

The old version serves until `switch`; if anything before it fails (import error, syntax error,
bad definitions, a crash, a timeout), the old version keeps serving and the failure carries the
user's traceback.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster_fastdeploy.manifest import Manifest
from dagster_fastdeploy.runtime.code_server_process import (
    CodeServerProcess,
    LoadFailed,
    LoadRequest,
)
from dagster_fastdeploy.runtime.disk_gc import DEFAULT_KEEP_UNUSED_FOR, DEFAULT_RETAIN_VERSIONS
from dagster_fastdeploy.runtime.endpoint import Backend, StableEndpoint
from dagster_fastdeploy.runtime.environments import Environment, Environments
from dagster_fastdeploy.runtime.log import log_event, timed_step
from dagster_fastdeploy.runtime.memory import MemoryGuard, default_limit
from dagster_fastdeploy.runtime.ports import free_port
from dagster_fastdeploy.runtime.standby import StandbyPool
from dagster_fastdeploy.store.records import VersionEntry
from dagster_fastdeploy.store.version_check import checked_manifest


@dataclass
class ServingVersion:
    """The version a location's endpoint forwards to."""

    version: int
    pex_tag: str
    process: CodeServerProcess
    definitions: dict[str, Any]
    dagster_version: str | None
    python_version: str | None = None
    started_at: float = field(default_factory=time.time)
    # the endpoint's channel to it: the one the host saw it answer through (see switch)
    backend: Backend | None = None


@dataclass
class RolloutSettings:
    start_timeout: float = 120.0
    load_timeout: float = 300.0  # see docs/reliability.md: why five minutes
    memory_limit: int | None = None  # bytes per location; None: memory.default_limit()
    retain_versions: int = DEFAULT_RETAIN_VERSIONS  # recorded versions whose envs stay on disk
    keep_unused_for: float = DEFAULT_KEEP_UNUSED_FOR  # seconds before an unneeded env goes
    drain_timeout: float = 60.0
    stop_grace: float = 30.0


class Rollouts:
    def __init__(
        self,
        environments: Environments,
        run_root: Path,
        settings: RolloutSettings,
        standby: StandbyPool | None = None,
    ):
        self.environments = environments
        self.run_root = run_root
        self.settings = settings
        self.standby = standby
        self.memory = MemoryGuard()

    def start_version(
        self, location: str, entry: VersionEntry, timings: dict[str, float]
    ) -> ServingVersion:
        """Everything before the switch: returns a loaded, answering code server, or raises
        LoadFailed (user code) / FastDeployError (environment) with the old version untouched."""
        manifest = checked_manifest(entry, f"the record of {location}")
        early = None
        if self.standby is not None:
            pool = self.standby

            def early(deps_dir: Path) -> None:
                pool.start_early(deps_dir, location, manifest.preload)

        run_dir = self.run_root / location / f"v{entry.version}-{uuid.uuid4().hex[:8]}"
        ahead = self._fork_ahead(manifest, run_dir, timings, location, entry.version)
        try:
            env = self.environments.prepare(manifest, timings, location, entry.version, early)
        except BaseException:
            if ahead is not None:
                with contextlib.suppress(Exception):
                    ahead.result().kill()
            raise
        process = None
        backend = None
        try:
            if ahead is not None:
                process = ahead.result()
            else:
                process = self.code_server_for(
                    env, run_dir, manifest, timings, location, entry.version
                )
            limit = manifest.memory_limit or self.settings.memory_limit or default_limit()
            watched = process

            def exceeded(message: str) -> None:
                watched.stopped_because = message

            self.memory.watch(process.pid, limit, exceeded, location)
            process.load(self._load_request(location, manifest, env))
            with timed_step(timings, "load", location, entry.version):
                report = process.wait_loaded(self.settings.load_timeout)
                backend = Backend(process.address)  # connected once: answering, then serving
                process.wait_answering(self.settings.start_timeout, backend.channel)
            process.warm()  # its first answer is made while the endpoint switches to it
        except BaseException:
            if backend is not None:
                backend.close()
            if process is not None:
                process.kill()
            raise
        if self.standby is not None:
            self.standby.remember(env, report.get("deps_modules"), location)
        return ServingVersion(
            version=entry.version,
            pex_tag=entry.pex_tag,
            process=process,
            definitions=report.get("definitions") or {},
            dagster_version=report.get("dagster_version"),
            python_version=report.get("python_version"),
            backend=backend,
        )

    def code_server_for(
        self,
        env: Environment,
        run_dir: Path,
        manifest: Manifest,
        timings: dict[str, float],
        location: str,
        version: int | None,
    ) -> CodeServerProcess:
        """A code-server process in `env`, warm and not yet told what to load: forked from the
        environment's standby (steps `standby_start` when there was none, then `handover`), or
        with the standby pool disabled, a cold start (step `start`)."""
        if self.standby is not None:
            return self.standby.code_server_for(
                env.deps_dir, run_dir, manifest.preload, timings, location, version
            )
        with timed_step(timings, "start", location, version):
            process = CodeServerProcess.spawn(env.python, run_dir, manifest.preload)
            process.wait_warm(self.settings.start_timeout)
        return process

    def _fork_ahead(
        self,
        manifest: Manifest,
        run_dir: Path,
        timings: dict[str, float],
        location: str,
        version: int | None,
    ) -> Future[CodeServerProcess] | None:
        """When the deps environment is made and its standby ready (a source-only change), fork
        the code server now, in the background: the standby forks while the host fetches and
        extracts the source. None otherwise (code_server_for forks once the environment is
        made)."""
        standby = self.standby
        deps_dir = self.environments.deps_dir(manifest)
        if standby is None or not deps_dir.is_dir() or not standby.ready(deps_dir):
            return None
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"fork-{location}")
        args = (deps_dir, run_dir, manifest.preload, timings, location, version)
        forked = pool.submit(standby.code_server_for, *args)
        pool.shutdown(wait=False)
        return forked

    def switch(
        self,
        location: str,
        endpoint: StableEndpoint,
        new: ServingVersion,
        old: ServingVersion | None,
        timings: dict[str, float],
    ) -> None:
        """Point the endpoint at `new`; drain and stop `old` in the background."""
        with timed_step(timings, "switch", location, new.version):
            old_backend = endpoint.switch(new.process.address, new.backend)
            new.backend = None  # the endpoint's now: it closes it when it switches away
        if old is not None or old_backend is not None:
            threading.Thread(
                target=self.retire,
                args=(location, old, old_backend),
                name=f"retire-{location}",
                daemon=True,
            ).start()

    def retire(self, location: str, old: ServingVersion | None, backend: Backend | None) -> None:
        """Let calls in flight on the old version finish, then stop its process."""
        version = old.version if old else None
        timings: dict[str, float] = {}
        if backend is not None:
            with timed_step(timings, "drain", location, version):
                drained = backend.drain(self.settings.drain_timeout)
            if not drained:
                log_event(
                    "rollout.drain_timeout",
                    location=location,
                    version=version,
                    in_flight=backend.in_flight,
                )
            backend.close()
        if old is not None:
            with timed_step(timings, "stop", location, version):
                old.process.stop(self.settings.stop_grace)
            shutil.rmtree(old.process.run_dir, ignore_errors=True)
        if self.standby is not None:
            self.standby.prune()  # the old version's environment may serve nothing now

    def _load_request(self, location: str, manifest: Manifest, env: Environment) -> LoadRequest:
        target = manifest.target
        return LoadRequest(
            location_name=location,
            target={
                "module_name": target.module_name,
                "package_name": target.package_name,
                "python_file": target.python_file,
                "attribute": target.attribute,
            },
            working_directory=str(env.working_directory),
            sys_path=[str(env.source_dir)],
            host="127.0.0.1",
            port=free_port(),
        )


__all__ = ["LoadFailed", "RolloutSettings", "Rollouts", "ServingVersion"]
