"""`serve`, `status` and `workspace`: run a warm host and ask one what it serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from dagster_fastdeploy.host_api import LocationStatus

DEFAULT_SERVER = "127.0.0.1:4270"


@click.command()
@click.option("--store", "store_url", help="Artifact store URL (default: the local file store).")
@click.option("--deployment", default="prod", show_default=True)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=Path.home() / ".dagster-fastdeploy" / "host",
    show_default=True,
    help="Environments, ports and logs.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=4270, show_default=True, help="Control API port.")
@click.option("--location-ports", default="4300-4399", show_default=True)
@click.option("--token-file", type=click.Path(path_type=Path), help="Bearer token for the API.")
@click.option("--no-standby", is_flag=True, help="Start every version cold.")
@click.option("--reconcile-interval", default=3.0, show_default=True, help="Seconds.")
@click.option("--load-timeout", default=300.0, show_default=True, help="Seconds per load.")
def serve(
    store_url: str | None,
    deployment: str,
    data_dir: Path,
    host: str,
    port: int,
    location_ports: str,
    token_file: Path | None,
    no_standby: bool,
    reconcile_interval: float,
    load_timeout: float,
) -> None:
    """Serve every code location of a deployment, each on a stable gRPC endpoint."""
    from dagster_fastdeploy.runtime.serve import ServeOptions
    from dagster_fastdeploy.runtime.serve import serve as run

    run(
        ServeOptions(
            store_url=store_url,
            deployment=deployment,
            data_dir=data_dir,
            host=host,
            port=port,
            location_ports=location_ports,
            token_file=token_file,
            standby=not no_standby,
            reconcile_interval=reconcile_interval,
            load_timeout=load_timeout,
        )
    )


@click.command()
@click.option("--server", default=DEFAULT_SERVER, show_default=True, help="Host's HOST:PORT.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def status(server: str, as_json: bool) -> None:
    """What each location serves: version, state, endpoint, definitions, errors."""
    from dagster_fastdeploy.runtime.control_client import ControlClient

    with ControlClient(server) as client:
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
            where = f"{error.file}:{error.line}: " if error.file else ""
            lines.append(f"\n{loc.name} v{loc.version} failed: {where}{error.message}")
            if error.traceback:
                lines.append(error.traceback.rstrip())
    return "\n".join(lines)


@click.command()
@click.option("--server", default=DEFAULT_SERVER, show_default=True, help="Host's HOST:PORT.")
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="Write here instead of stdout."
)
def workspace(server: str, output: Path | None) -> None:
    """A workspace.yaml with a grpc_server entry per location, for `dagster dev -w`."""
    from dagster_fastdeploy.runtime.control_client import ControlClient

    with ControlClient(server) as client:
        locations = client.status().locations
    text = workspace_yaml(locations)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        click.echo(f"Wrote {output} ({len(locations)} locations)", err=True)


def workspace_yaml(locations: list[LocationStatus]) -> str:
    lines = ["load_from:"]
    for loc in locations:
        host, _, port = (loc.endpoint or "").rpartition(":")
        lines += [
            "  - grpc_server:",
            f"      host: {json.dumps(host)}",
            f"      port: {int(port)}",
            f"      location_name: {json.dumps(loc.name)}",
        ]
    if not locations:
        lines[0] = "load_from: []"
    return "\n".join(lines) + "\n"
