"""`dev`: local store, warm host, Dagster UI, deploy on save."""

from __future__ import annotations

from pathlib import Path

import click

from dagster_fastdeploy.actions.dev import DEV_CONTROL_PORT
from dagster_fastdeploy.commands.options import deployment_option, store_options


@click.command()
@click.argument(
    "project_dir", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@store_options
@deployment_option("dev")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Host data, builds, logs, default DAGSTER_HOME (default: ~/.dagster-fastdeploy/dev).",
)
@click.option(
    "--port",
    "host_port",
    default=DEV_CONTROL_PORT,
    show_default=True,
    help="Warm host control port.",
)
@click.option("--location-ports", default="4400-4499", show_default=True)
@click.option("--ui-port", default=3000, show_default=True, help="dagster-webserver port.")
@click.option("--no-ui", is_flag=True, help="Do not start dagster-webserver.")
@click.option("--no-standby", is_flag=True, help="Start every version cold.")
@click.option(
    "--dagster-home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The Dagster instance the UI and daemon use "
    "(default: $DAGSTER_HOME, else <data-dir>/dagster_home).",
)
def dev(
    project_dir: Path,
    store_url: str | None,
    endpoint_url: str | None,
    deployment: str,
    data_dir: Path | None,
    host_port: int,
    location_ports: str,
    ui_port: int,
    no_ui: bool,
    no_standby: bool,
    dagster_home: Path | None,
) -> None:
    """Serve PROJECT_DIR on a warm host with the Dagster UI and deploy every saved change."""
    from dagster_fastdeploy.actions.dev import DevOptions, run_dev
    from dagster_fastdeploy.store import default_store_url

    options = DevOptions(
        project_dir=project_dir.resolve(),
        store_url=store_url or default_store_url(),
        data_dir=(data_dir or Path.home() / ".dagster-fastdeploy" / "dev").resolve(),
        deployment=deployment,
        host_port=host_port,
        location_ports=location_ports,
        ui=not no_ui,
        ui_port=ui_port,
        standby=not no_standby,
        endpoint_url=endpoint_url,
        dagster_home=dagster_home,
    )
    from dagster_fastdeploy.commands.progress import step_progress

    run_dev(options, lambda line: click.echo(line), step_progress)
