"""`deploy`, `rollback` and `gc`: thin fronts over deploy.py, rollback.py and gc.py."""

from __future__ import annotations

import json
from pathlib import Path

import click

from dagster_fastdeploy.commands.options import (
    deployment_option,
    host_options,
    json_option,
    store_options,
)
from dagster_fastdeploy.commands.progress import step_progress
from dagster_fastdeploy.errors import HostError
from dagster_fastdeploy.host_api import (
    DeployResult,
    LocationStatus,
    RollbackResult,
    VersionState,
)


def _size(n: int) -> str:
    """Decimal units, as `build` prints them (a 109,958,674-byte deps.pex is 110.0 MB in both)."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def _rollout_lines(server: str, rollout: LocationStatus | None) -> list[str]:
    if rollout is None:
        return [f"  host {server}: no answer"]
    line = f"  host {server}: {rollout.state}"
    if rollout.server_id:
        line += f" (server id {rollout.server_id})"
    if rollout.endpoint:
        line += f" at {rollout.endpoint}"
    lines = [line]
    if rollout.error:
        lines.append("  error: " + rollout.error.readable(indent="    "))
    return lines


def _finish(
    as_json: bool,
    result: DeployResult | RollbackResult,
    lines: list[str],
    server: str | None,
) -> None:
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo("\n".join(lines))
    if server and result.state is VersionState.UNREACHABLE:
        reason = result.rollout.error.message if result.rollout and result.rollout.error else ""
        raise HostError(
            f"{reason}\n{result.location} version {result.version} is recorded in the store: "
            "a host serving this deployment picks it up when it next reconciles (or run the "
            "command again with --server once the host answers)"
        )
    if server and result.state is not VersionState.SERVING:
        serving = result.rollout.serving_version if result.rollout else None
        still = f"keeps serving v{serving}" if serving else "serves nothing for this location yet"
        raise HostError(
            f"the host at {server} did not start serving {result.location} version "
            f"{result.version} (state: {result.state}); the version is recorded and the "
            f"host {still}. See the error above and the host's log."
        )


@click.command()
@click.argument(
    "project_dir", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@store_options
@deployment_option()
@click.option(
    "--location",
    "locations",
    multiple=True,
    metavar="NAME",
    help="Deploy only this dagster_cloud.yaml location (repeatable; default: all). For a "
    "directory without one: the code location's name (default: the project's).",
)
@host_options
@click.option(
    "--verify",
    is_flag=True,
    help="Read back the blobs the store already has and replace damaged chunks (slower).",
)
@json_option
def deploy(
    project_dir: Path,
    store_url: str | None,
    endpoint_url: str | None,
    deployment: str,
    locations: tuple[str, ...],
    server: str | None,
    token_file: Path | None,
    timeout: float,
    verify: bool,
    as_json: bool,
) -> None:
    """Build PROJECT_DIR, upload what the store lacks, and record a new version.

    With a dagster_cloud.yaml in PROJECT_DIR, every location it lists is deployed (each its own
    location; equal dependency sets share one deps.pex)."""
    from dagster_fastdeploy.actions.deploy_locations import deploy_locations
    from dagster_fastdeploy.runtime.control_token import read_token
    from dagster_fastdeploy.store import open_store

    token = read_token(token_file)
    store = open_store(store_url, endpoint_url=endpoint_url)
    with step_progress(as_json) as progress:
        results = deploy_locations(
            project_dir,
            store,
            locations,
            deployment=deployment,
            server=server,
            token=token,
            progress_for=progress.upload_bar,
            rollout_timeout=timeout,
            verify=verify,
            progress=progress.say,
        )
    if len(results) == 1:
        result = results[0]
        lines = _deploy_lines(result)
        if server:
            lines += _rollout_lines(server, result.rollout)
        _finish(as_json, result, lines, server)
        return
    if as_json:
        data = {"locations": [result.to_json() for result in results]}
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo("\n".join(_deploy_line(result, server) for result in results))
    failed = [r for r in results if server and r.state is not VersionState.SERVING]
    if failed:
        names = ", ".join(f"{r.location} v{r.version} ({r.state})" for r in failed)
        raise HostError(
            f"the host at {server} did not start serving {names}; those versions are recorded "
            "and the host keeps serving what it served before, if anything. See the errors "
            "above and the host's log."
        )


def _deploy_lines(result: DeployResult) -> list[str]:
    was = f"v{result.previous_version} -> " if result.previous_version else ""
    deps_sent = any(name.startswith("deps-") for name in result.uploaded)
    whole_deps = f"; the whole deps.pex is {_size(result.deps_bytes)}" if deps_sent else ""
    return [
        f"Deployed {result.location} {was}v{result.version} to {result.deployment} at "
        f"{result.store} ({result.path} path{', deps built' if result.deps_built else ''})",
        "  uploaded: "
        + (
            ", ".join(result.uploaded) + f" ({_size(result.bytes_uploaded)} sent{whole_deps})"
            if result.uploaded
            else "nothing, the store had every blob"
        ),
        f"  pex tag: {result.pex_tag}",
        "  seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in result.seconds.items()),
    ]


def _deploy_line(result: DeployResult, server: str | None) -> str:
    """One line per location when several are deployed."""
    was = f"v{result.previous_version} -> " if result.previous_version else ""
    sent = f"{_size(result.bytes_uploaded)} sent" if result.uploaded else "nothing sent"
    line = (
        f"Deployed {result.location} {was}v{result.version} to {result.deployment} "
        f"({result.path} path, {sent}, {result.seconds.get('total', 0):.2f}s)"
    )
    if server:
        rollout = result.rollout
        line += f"; host: {rollout.state if rollout else 'no answer'}"
        if rollout is not None and rollout.endpoint:
            line += f" at {rollout.endpoint}"
        if rollout is not None and rollout.error:
            line += f" ({rollout.error.message})"
    return line


@click.command()
@click.option("--location", required=True, help="Code location to roll back.")
@click.option(
    "--to", "to", type=int, default=None, help="Version to restore (default: the one before)."
)
@store_options
@deployment_option()
@host_options
@json_option
def rollback(
    location: str,
    to: int | None,
    store_url: str | None,
    endpoint_url: str | None,
    deployment: str,
    server: str | None,
    token_file: Path | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Record a new version of LOCATION that serves an earlier version's code."""
    from dagster_fastdeploy.actions.rollback import rollback_location
    from dagster_fastdeploy.runtime.control_token import read_token
    from dagster_fastdeploy.store import open_store

    token = read_token(token_file)
    store = open_store(store_url, endpoint_url=endpoint_url)
    result = rollback_location(
        store,
        location,
        deployment=deployment,
        to=to,
        server=server,
        token=token,
        rollout_timeout=timeout,
    )
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    lines = [
        f"Rolled back {result.location} in {result.deployment}: v{result.version} serves the "
        f"code of v{result.rolled_back_to} (was v{result.previous_version})",
        f"  pex tag: {result.pex_tag}",
    ]
    if server:
        lines += _rollout_lines(server, result.rollout)
    _finish(as_json, result, lines, server)


@click.command()
@store_options
@click.option("--deployment", default=None, help="Apply --keep to this deployment only.")
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=None,
    help="Versions of each location to keep (default: all history).",
)
@click.option(
    "--min-age",
    type=float,
    default=3600.0,
    show_default=True,
    help="Never delete blobs younger than this many seconds (a deploy may be running).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
@json_option
def gc(
    store_url: str | None,
    endpoint_url: str | None,
    deployment: str | None,
    keep: int | None,
    min_age: float,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Delete blobs that no kept version of any location references."""
    from dagster_fastdeploy.actions.gc import collect_garbage
    from dagster_fastdeploy.store import open_store

    store = open_store(store_url, endpoint_url=endpoint_url)
    result = collect_garbage(
        store, deployment=deployment, keep=keep, dry_run=dry_run, min_age=min_age
    )
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    verb = "would delete" if dry_run else "deleted"
    click.echo(
        f"{result.store}: {verb} {len(result.deleted)} blobs ({_size(result.bytes_freed)}), "
        f"kept {result.kept}"
    )
    for name in result.deleted:
        click.echo(f"  {verb} {name}")
    if result.kept_young:
        click.echo(
            f"  kept {len(result.kept_young)} unreferenced blobs younger than {min_age:.0f} s"
        )
    if result.index_entries_deleted:
        click.echo(f"  {verb} {len(result.index_entries_deleted)} deps index entries")
    if result.quarantine_deleted:
        click.echo(f"  {verb} {result.quarantine_deleted} damaged chunks kept in quarantine/")
    if result.partial_uploads_cleaned:
        click.echo(f"  cleaned {result.partial_uploads_cleaned} interrupted uploads")
