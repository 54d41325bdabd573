"""`serve`, `status` and `workspace`: run a warm host and ask one what it serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dagster_fastdeploy.commands.options import (
    deployment_option,
    json_option,
    server_option,
    store_options,
    tls_ca_option,
    token_file_option,
)
from dagster_fastdeploy.host_api import DEFAULT_CONTROL_ADDRESS, DEFAULT_CONTROL_PORT

if TYPE_CHECKING:
    from dagster_fastdeploy.actions.fleet import FleetStatus
    from dagster_fastdeploy.host_api import LocationStatus


@click.command()
@store_options
@deployment_option()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=Path.home() / ".dagster-fastdeploy" / "host",
    show_default=True,
    help="Environments, ports and logs.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=DEFAULT_CONTROL_PORT, show_default=True, help="Control API port.")
@click.option("--location-ports", default="4300-4399", show_default=True)
@token_file_option("File holding the bearer token the control API requires")
@click.option("--no-standby", is_flag=True, help="Start every version cold.")
@click.option(
    "--reconcile-interval",
    default=1.0,
    show_default=True,
    help="Seconds between two looks at the store's change marker (one small request).",
)
@click.option("--load-timeout", default=300.0, show_default=True, help="Seconds per load.")
@click.option(
    "--memory-limit",
    default=None,
    metavar="SIZE",
    help="Most memory one location's code server may hold, e.g. 2GiB (a project's own "
    "memory_limit wins; default: half of this machine's memory).",
)
@click.option("--locations", help="Serve only these locations (a,b); default: all of them.")
@click.option("--host-group", help='Serve only locations whose config says host_group = "NAME".')
@click.option(
    "--host-id",
    help="This host's name in the store's registry (default: hostname-port). A replacement "
    "with the same id keeps its predecessor's endpoint ports.",
)
@click.option(
    "--advertise-host", help="The name other machines reach this host by (endpoints, registry)."
)
@click.option("--health-port", type=int, help="Plain-HTTP /healthz and /readyz for probes.")
@click.option("--tls-cert", type=click.Path(path_type=Path), help="PEM certificate (control API).")
@click.option("--tls-key", type=click.Path(path_type=Path), help="PEM private key (control API).")
@click.option(
    "--insecure-behind-mesh",
    is_flag=True,
    help="Allow a token over plain gRPC off loopback: a service mesh (mTLS) encrypts.",
)
@click.option(
    "--retain-versions",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="Recorded versions per location whose environments stay on disk (for fast "
    "rollbacks); older ones are removed unless they serve.",
)
@click.option(
    "--keep-unused-for",
    type=click.FloatRange(min=0),
    default=600.0,
    show_default=True,
    help="Seconds an environment no kept version needs stays on disk before it is removed.",
)
def serve(
    store_url: str | None,
    endpoint_url: str | None,
    deployment: str,
    data_dir: Path,
    host: str,
    port: int,
    location_ports: str,
    token_file: Path | None,
    no_standby: bool,
    reconcile_interval: float,
    load_timeout: float,
    memory_limit: str | None,
    locations: str | None,
    host_group: str | None,
    host_id: str | None,
    advertise_host: str | None,
    health_port: int | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    insecure_behind_mesh: bool,
    retain_versions: int,
    keep_unused_for: float,
) -> None:
    """Serve the code locations of a deployment, each on a stable gRPC endpoint."""
    from dagster_fastdeploy.runtime.serve import ServeOptions
    from dagster_fastdeploy.runtime.serve import serve as run

    run(
        ServeOptions(
            store_url=store_url,
            endpoint_url=endpoint_url,
            deployment=deployment,
            data_dir=data_dir,
            host=host,
            port=port,
            location_ports=location_ports,
            token_file=token_file,
            standby=not no_standby,
            reconcile_interval=reconcile_interval,
            load_timeout=load_timeout,
            memory_limit=memory_limit,
            locations=locations,
            host_group=host_group,
            host_id=host_id,
            advertise_host=advertise_host,
            health_port=health_port,
            tls_cert=tls_cert,
            tls_key=tls_key,
            insecure_behind_mesh=insecure_behind_mesh,
            retain_versions=retain_versions,
            keep_unused_for=keep_unused_for,
        )
    )


FOUND_HOST_HELP = (
    "The warm host's control API (default: the one host running on this machine, found by the "
    f"file it announces itself with, else {DEFAULT_CONTROL_ADDRESS})."
)


def _server(server: str | None) -> str:
    from dagster_fastdeploy.runtime.announce import the_running_host

    return server or the_running_host(DEFAULT_CONTROL_ADDRESS)


def ask_the_store(store_url: str, endpoint_url: str | None, deployment: str) -> FleetStatus:
    from dagster_fastdeploy.actions.fleet import fleet_status
    from dagster_fastdeploy.store import open_store

    return fleet_status(open_store(store_url, endpoint_url=endpoint_url), deployment)


@click.command()
@server_option(None, FOUND_HOST_HELP)
@token_file_option()
@tls_ca_option
@click.option(
    "--store",
    "store_url",
    help="Ask the store (the hosts' heartbeats) which hosts serve what, instead of one host.",
)
@click.option("--endpoint-url", help="S3-compatible endpoint, with --store.")
@deployment_option()
@json_option
def status(
    server: str | None,
    token_file: Path | None,
    tls_ca: Path | None,
    store_url: str | None,
    endpoint_url: str | None,
    deployment: str,
    as_json: bool,
) -> None:
    """What each location serves: version, state, endpoint, definitions, errors."""
    from dagster_fastdeploy.runtime.control_client import ControlClient
    from dagster_fastdeploy.runtime.control_token import read_token

    if store_url is not None:
        from dagster_fastdeploy.actions.fleet import format_fleet

        fleet = ask_the_store(store_url, endpoint_url, deployment)
        click.echo(json.dumps(fleet.to_json(), indent=2) if as_json else format_fleet(fleet))
        return
    with ControlClient(_server(server), token=read_token(token_file), ca_file=tls_ca) as client:
        answer = client.status()
    if as_json:
        data = answer.to_json()
        shown = {"locations": data["locations"], "standby": data["standby"]}
        click.echo(json.dumps(shown, indent=2))
        return
    click.echo(format_status(answer.locations))
    for standby in answer.standby.environments:
        click.echo(
            f"standby {standby.environment[:19]}: {standby.state}, pid {standby.pid}, "
            f"{len(standby.code_servers)} code servers forked from it"
        )


def format_status(locations: list[LocationStatus]) -> str:
    if not locations:
        return "No locations: deploy one with `dagster-fastdeploy deploy --server HOST:PORT`."
    rows = [("LOCATION", "VERSION", "STATE", "ENDPOINT", "ASSETS", "CHECKS", "JOBS", "SERVING")]
    for loc in locations:
        d = loc.definitions
        rows.append(
            (
                loc.name,
                str(loc.version or "-"),
                str(loc.state),
                loc.endpoint or "-",
                str(len(d.get("assets", []))),
                str(len(d.get("asset_checks", []))),
                str(len(d.get("jobs", []))),
                f"v{loc.serving_version}" if loc.serving_version else "nothing",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    for loc in locations:
        error = loc.error
        if error:
            serving = f"v{loc.serving_version}" if loc.serving_version else "nothing"
            lines.append(f"\n{loc.name} v{loc.version} failed (serving {serving}):")
            lines.append("  " + error.readable(indent="    "))
    return "\n".join(lines)


@click.command()
@server_option(None, FOUND_HOST_HELP)
@token_file_option()
@tls_ca_option
@click.option(
    "--store",
    "store_url",
    help="Every alive host's locations, from the store's registry (a multi-host workspace); "
    "with --local, the store to materialize from (default: the local file store).",
)
@click.option("--endpoint-url", help="S3-compatible endpoint, with --store.")
@deployment_option()
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="Write here instead of stdout."
)
@click.option(
    "--local",
    is_flag=True,
    help="No host: entries with which `dagster dev` starts each location's code server itself, "
    "in the environment materialized from its current deps.pex + source.pex.",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="With --local: where environments are materialized (default: a host's, "
    "~/.dagster-fastdeploy/host).",
)
@click.option(
    "--location", "locations", multiple=True, help="With --local: only this location (repeatable)."
)
def workspace(
    server: str | None,
    token_file: Path | None,
    tls_ca: Path | None,
    store_url: str | None,
    endpoint_url: str | None,
    deployment: str,
    output: Path | None,
    local: bool,
    data_dir: Path | None,
    locations: tuple[str, ...],
) -> None:
    """A workspace.yaml with a grpc_server entry per location, for `dagster dev -w`, or for the
    Dagster webserver and daemon of a multi-host setup (--store); with --local, entries that
    need no host at all."""
    from dagster_fastdeploy.actions.workspace import workspace_yaml
    from dagster_fastdeploy.runtime.control_client import ControlClient
    from dagster_fastdeploy.runtime.control_token import read_token

    if local:
        from dagster_fastdeploy.actions.local_workspace import (
            local_locations,
            local_workspace_yaml,
        )
        from dagster_fastdeploy.runtime.announce import fastdeploy_home
        from dagster_fastdeploy.store import open_store

        found = local_locations(
            open_store(store_url, endpoint_url=endpoint_url),
            deployment,
            (data_dir or fastdeploy_home() / "host").resolve(),
            list(locations) or None,
            say=lambda line: click.echo(line, err=True),
        )
        _write(local_workspace_yaml(found), output, len(found))
        return
    if store_url is not None:
        from dagster_fastdeploy.actions.fleet import workspace_entries

        entries = workspace_entries(ask_the_store(store_url, endpoint_url, deployment))
    else:
        with ControlClient(_server(server), token=read_token(token_file), ca_file=tls_ca) as c:
            entries = c.status().locations
    _write(workspace_yaml(entries), output, len(entries))


def _write(text: str, output: Path | None, count: int) -> None:
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        click.echo(f"Wrote {output} ({count} location{'' if count == 1 else 's'})", err=True)
