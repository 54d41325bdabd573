"""`dagster-fastdeploy build`: parse options, call build_project, print the result."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import click

if TYPE_CHECKING:
    from dagster_fastdeploy.builder import BuildResult


@click.command()
@click.argument(
    "project_dir", required=False, default=".", type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output directory (default PROJECT_DIR/dist/fastdeploy).",
)
@click.option(
    "--python",
    "python",
    metavar="X.Y",
    help="Target Python version (default: the project's, else this interpreter's).",
)
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    metavar="TAG",
    help="Target platform, e.g. manylinux_2_28_x86_64. Repeatable.",
)
@click.option(
    "--refresh-deps",
    is_flag=True,
    help="Re-resolve floating requirements even when deps.pex is cached.",
)
@click.option("--check", is_flag=True, help="Also load the definitions in the built environment.")
@click.option(
    "--location",
    "locations",
    multiple=True,
    metavar="NAME",
    help="Build only this dagster_cloud.yaml location (default: all of them). Repeatable.",
)
@click.option(
    "--for",
    "for_target",
    type=click.Choice(["dagster-plus"]),
    default=None,
    help="Build for Dagster+'s multi-PEX servers: CPython 3.11 and their manylinux platform "
    "unless set, dagster-cloud required (default: [tool.dagster-fastdeploy] for, else a "
    "fastdeploy host).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object and nothing else.")
def build(
    project_dir: Path,
    out_dir: Path | None,
    python: str | None,
    platforms: tuple[str, ...],
    refresh_deps: bool,
    check: bool,
    locations: tuple[str, ...],
    for_target: str | None,
    as_json: bool,
) -> None:
    """Build PROJECT_DIR into deps-<sha256>.pex, source-<sha256>.pex and manifest.json.

    With a dagster_cloud.yaml in PROJECT_DIR, every location it lists is built (one manifest
    each; equal dependency sets share one deps.pex)."""
    from dagster_fastdeploy.builder import build_locations

    said: set[str] = set()

    def say(note: str) -> None:
        if note not in said:
            said.add(note)
            click.echo(f"note: {note}", err=True)

    with _progress(live=not as_json and sys.stderr.isatty()) as progress:
        results = build_locations(
            project_dir,
            locations,
            out_dir=out_dir,
            warn=say,
            for_target=for_target,
            python=python,
            platforms=list(platforms) or None,
            refresh_deps=refresh_deps,
            check=check,
            progress=progress,
        )
    for result in results:
        for note in result.warnings:
            say(note)
    if len(results) > 1:
        if as_json:
            data = {"locations": [result.to_json() for result in results]}
            click.echo(json.dumps(data, indent=2))
            return
        for result in results:
            click.echo(_one_line(result))
        return
    result = results[0]
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    m = result.manifest
    deps_note = "built" if result.deps_built else "reused"
    where = f"Python {m.python} ({', '.join(m.platforms)})"
    click.echo(f"Built {m.location} for {where} in {result.seconds['total']:.2f}s")
    click.echo(f"  deps    {m.deps.name}  {m.deps.size / 1e6:.1f} MB  ({deps_note})")
    click.echo(f"  source  {m.source.name}  {m.source.size / 1e3:.0f} kB")
    click.echo(f"  dagster {m.dagster_version}, target {m.target.describe()}")
    click.echo(f"  {result.manifest_path}")


def _one_line(result: BuildResult) -> str:
    m = result.manifest
    deps_note = "built" if result.deps_built else "reused"
    return (
        f"Built {m.location} ({m.target.describe()}) in {result.seconds['total']:.2f}s: "
        f"{m.deps.name[:17]}… {m.deps.size / 1e6:.1f} MB ({deps_note}), "
        f"{m.source.name[:19]}… {m.source.size / 1e3:.0f} kB -> {result.manifest_path}"
    )


@contextmanager
def _progress(live: bool) -> Iterator[Callable[[str], None] | None]:
    """A rich status line on a terminal; nothing when piped or with --json."""
    if not live:
        yield None
        return
    from rich.console import Console

    console = Console(stderr=True)
    with console.status("Building") as status:

        def update(message: str) -> None:
            status.update(message[:100])

        yield update
