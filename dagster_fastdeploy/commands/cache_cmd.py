"""`cache`: the local build cache ($DAGSTER_FASTDEPLOY_CACHE): `cache prune`, a thin front over
builder/cache_prune.py."""

from __future__ import annotations

import json

import click

from dagster_fastdeploy.commands.options import json_option


@click.group()
def cache() -> None:
    """The local build cache ($DAGSTER_FASTDEPLOY_CACHE, default ~/.cache/dagster-fastdeploy)."""


@cache.command()
@click.option(
    "--older-than",
    "days",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Remove what no build has used for this many days.",
)
@json_option
def prune(days: float, as_json: bool) -> None:
    """Remove the cached deps.pex files, wheel entries and fetched wheels no build has used
    lately; the next build that needs one builds or fetches it again."""
    from dagster_fastdeploy.builder import cache_prune

    result = cache_prune.prune(days * cache_prune.DAY)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    click.echo(
        f"Removed {result.removed} entries ({result.bytes_freed / 1e6:.1f} MB) unused for "
        f"{days:g} days from {result.cache}; kept {result.kept}."
    )
