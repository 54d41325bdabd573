"""The options every command that talks to a store or a host shares, written once: the same
names, defaults and help everywhere (`--store`, `--endpoint-url`, `--server`, `--token-file`,
`--deployment`, `--json`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click

from dagster_fastdeploy.host_api import DEFAULT_CONTROL_ADDRESS, DEFAULT_ROLLOUT_TIMEOUT

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def store_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """`--store URL` (as `store_url`) and `--endpoint-url` for S3-compatible servers."""
    f = click.option(
        "--endpoint-url",
        default=None,
        help="S3-compatible endpoint (default: $AWS_ENDPOINT_URL, else AWS).",
    )(f)
    return click.option(
        "--store",
        "store_url",
        default=None,
        help="file:///abs/path or s3://bucket/prefix "
        "(default: $DAGSTER_FASTDEPLOY_STORE, else ~/.dagster-fastdeploy/store).",
    )(f)


def token_file_option(help: str = "File holding the host's control token") -> Decorator:
    return click.option(
        "--token-file",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help=f"{help} (default: $DAGSTER_FASTDEPLOY_TOKEN).",
    )


def server_option(
    default: str | None = DEFAULT_CONTROL_ADDRESS, help: str = "The warm host's control API."
) -> Decorator:
    """`--server HOST:PORT`. Without a default, the command asks no host unless given one."""
    return click.option(
        "--server",
        default=default,
        show_default=default is not None,
        metavar="HOST:PORT",
        help=help,
    )


def host_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """What `deploy` and `rollback` need to roll a recorded version out to a host."""
    f = click.option(
        "--timeout",
        default=DEFAULT_ROLLOUT_TIMEOUT,
        show_default=True,
        help="Seconds to wait for the host.",
    )(f)
    f = token_file_option()(f)
    return server_option(None, "Warm host to roll the version out to.")(f)


def deployment_option(default: str = "prod") -> Decorator:
    return click.option(
        "--deployment", default=default, show_default=True, help="Deployment (a set of locations)."
    )


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


tls_ca_option = click.option(
    "--tls-ca",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="PEM of the CA that signed the host's TLS certificate "
    "(default: $DAGSTER_FASTDEPLOY_TLS_CA; none: plain gRPC).",
)
