"""`rollback`: append a version that points at an earlier version's pex tag. History is
append-only: the rollback is a new version whose `rollback_of` names the version it restores."""

from __future__ import annotations

import time

from dagster_fastdeploy.errors import FastDeployError
from dagster_fastdeploy.host_api import DEFAULT_ROLLOUT_TIMEOUT, RollbackResult
from dagster_fastdeploy.manifest import parse_pex_tag
from dagster_fastdeploy.store.base import Store
from dagster_fastdeploy.store.records import (
    DeploymentRecord,
    VersionEntry,
    check_name,
    rollback_entry,
)


class NothingToRollBackError(FastDeployError):
    """The location has no version to roll back to, or the one asked for cannot be used."""


def _versions(record: DeploymentRecord) -> str:
    return ", ".join(str(e.version) for e in record.history)


def choose_target(record: DeploymentRecord, to: int | None) -> VersionEntry:
    """The version asked for, or by default the latest earlier version that serves different
    code than the current one (so rolling back twice does not land on the same code)."""
    current = record.current
    assert current is not None
    where = f"{record.deployment}/{record.location}"
    if to is not None:
        target = record.find(to)
        if target is None:
            raise NothingToRollBackError(
                f"{where} has no version {to}; its versions are {_versions(record)}"
            )
        if target.pex_tag == current.pex_tag:
            raise NothingToRollBackError(
                f"version {to} of {where} is the code already current (version "
                f"{current.version}); pick another of {_versions(record)}"
            )
        return target
    for earlier in reversed(record.history[:-1]):
        if earlier.pex_tag != current.pex_tag:
            return earlier
    raise NothingToRollBackError(
        f"{where} has no earlier version with different code to roll back to "
        f"(versions: {_versions(record)})"
    )


def rollback_location(
    store: Store,
    location: str,
    deployment: str = "prod",
    to: int | None = None,
    server: str | None = None,
    token: str | None = None,
    rollout_timeout: float = DEFAULT_ROLLOUT_TIMEOUT,
) -> RollbackResult:
    from dagster_fastdeploy.actions.provenance import deployed_by

    started = time.perf_counter()
    check_name("deployment", deployment)
    check_name("location", location)
    record = store.read_record(deployment, location)
    if record is None or record.current is None:
        there = ", ".join(store.list_locations(deployment)) or "none"
        raise NothingToRollBackError(
            f"no location {location!r} in deployment {deployment!r} of the store {store.url}: "
            f"deploy it first (locations there: {there})"
        )
    target = choose_target(record, to)
    missing = [name for name in parse_pex_tag(target.pex_tag) if not store.blob_complete(name)]
    if missing:
        raise NothingToRollBackError(
            f"version {target.version} of {deployment}/{location} cannot be restored: "
            f"{', '.join(missing)} is no longer in the store (removed by `gc --keep`?). "
            f"Pick a newer version of {_versions(record)}"
        )

    who = deployed_by(None)
    written = store.append_version(
        deployment, location, lambda version: rollback_entry(version, target, who)
    )
    entry = written.history[-1]
    seconds = {"record": round(time.perf_counter() - started, 3)}
    rollout = None
    if server:
        from dagster_fastdeploy.actions.deploy import roll_out_recorded

        rollout = roll_out_recorded(server, location, entry.version, token, rollout_timeout)
    seconds["total"] = round(time.perf_counter() - started, 3)
    return RollbackResult(
        location=location,
        deployment=deployment,
        version=entry.version,
        rolled_back_to=target.version,
        previous_version=written.history[-2].version,
        pex_tag=target.pex_tag,
        seconds=seconds,
        store=store.url,
        rollout=rollout,
    )
