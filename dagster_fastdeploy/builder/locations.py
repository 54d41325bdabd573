"""Build every code location at a directory (see config_locations): all of them read and checked
first, then built one after another. Locations whose dependency sets are equal have one deps
input hash, so the first build resolves and builds deps.pex and the others reuse it from the build
cache (or the store's deps index) without resolving again."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

from dagster_fastdeploy.builder.pipeline import BuildResult, build_project


def build_locations(
    directory: Path,
    locations: Sequence[str] = (),
    out_dir: Path | None = None,
    warn: Callable[[str], None] | None = None,
    for_target: str | None = None,
    **options: Any,
) -> list[BuildResult]:
    """Build the locations at `directory` (all, or those named in `locations`); `options` are
    build_project's. With one location this is build_project's result in a list. `warn` hears
    each configuration note once, before anything is built. `for_target` is `--for`."""
    from dagster_fastdeploy.config.locations import load_locations, location_out_dirs

    projects = load_locations(Path(directory), locations, for_target)
    outs = location_out_dirs(projects, out_dir)
    if warn is not None:
        for note in dict.fromkeys(note for project in projects for note in project.warnings):
            warn(note)
    return [
        build_project(project.root, out_dir=out, config=project, **options)
        for project, out in zip(projects, outs)
    ]
