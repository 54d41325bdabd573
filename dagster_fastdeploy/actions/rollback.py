"""`rollback`: append a version that points at an earlier version's pex tag. History is
append-only: the rollback is a new version whose `rollback_of` names the version it restores.

The hosts' heartbeats say which version each last failed to load: by default a rollback skips
code a host reported failing, and `--to` such a version goes ahead with a warning."""

from __future__ import annotations

import time
from collections.abc import Mapping

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


def failing_on_hosts(store: Store, deployment: str, location: str) -> dict[int, list[str]]:
    """The versions of `location` that hosts last reported failing, and which hosts."""
    from dagster_fastdeploy.store.heartbeats import read_hosts

    failing: dict[int, list[str]] = {}
    for host in read_hosts(store, deployment):
        for served in host.locations:
            if served.name == location and served.state == "failed" and served.version:
                failing.setdefault(served.version, []).append(host.host_id)
    return failing


def choose_target(
    record: DeploymentRecord, to: int | None, failing: Mapping[str, list[str]] | None = None
) -> VersionEntry:
    """The version asked for, or by default the latest earlier version that serves different
    code than the current one (so rolling back twice does not land on the same code) and whose
    code no host reported failing (`failing`: pex tag -> hosts, see failing_code)."""
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
    bad = failing or {}
    skipped = []
    for earlier in reversed(record.history[:-1]):
        if earlier.pex_tag == current.pex_tag:
            continue
        if earlier.pex_tag in bad:
            skipped.append(earlier.version)
            continue
        return earlier
    if skipped:
        listed = ", ".join(f"v{v}" for v in skipped)
        raise NothingToRollBackError(
            f"every earlier version of {where} with different code failed to load on a host "
            f"({listed}, as the hosts last reported); to restore one anyway, name it with --to"
        )
    raise NothingToRollBackError(
        f"{where} has no earlier version with different code to roll back to "
        f"(versions: {_versions(record)})"
    )


def failing_code(
    record: DeploymentRecord, failing: Mapping[int, list[str]]
) -> dict[str, list[str]]:
    """The code (pex tag) of the versions hosts reported failing, and which hosts: a rollback
    to v5 that restored v3's code fails where v3 failed."""
    hosts: dict[str, set[str]] = {}
    for entry in record.history:
        if entry.version in failing:
            hosts.setdefault(entry.pex_tag, set()).update(failing[entry.version])
    return {tag: sorted(names) for tag, names in hosts.items()}


def _warnings(target: VersionEntry, failing: Mapping[str, list[str]]) -> list[str]:
    """A warning when the code restored is code some host reported failing to load."""
    hosts = failing.get(target.pex_tag)
    if not hosts:
        return []
    return [
        f"the code of v{target.version} failed to load on {', '.join(hosts)} (the hosts' last "
        "report); it is restored as asked, and those hosts may fail it again"
    ]


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
    failing = failing_code(record, failing_on_hosts(store, deployment, location))
    target = choose_target(record, to, failing)
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
        warnings=_warnings(target, failing),
    )
