"""The code locations a command works on: every location of the directory's dagster_cloud.yaml
(each its own project, `build.directory` relative to the yaml), or the directory's one project.

`--location NAME` (repeatable) selects among them. Everything is read and checked here, before
anything is built, so a bad entry anywhere stops the command before its first build.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dagster_fastdeploy.config import ProjectConfig, load_project
from dagster_fastdeploy.config.cloud_yaml import FILE_NAME, read_cloud_yaml
from dagster_fastdeploy.errors import ConfigError


def load_locations(
    directory: Path, selected: Sequence[str] = (), for_target: str | None = None
) -> list[ProjectConfig]:
    """The projects of the locations at `directory`, in the yaml's order.

    With a dagster_cloud.yaml of one location or none, the directory is one location; there, one
    `selected` name names it (as `deploy --location` always did). `for_target` is
    `--for` (see load_project)."""
    root = Path(directory).resolve()
    yaml_path = root / FILE_NAME
    entries = read_cloud_yaml(yaml_path) if yaml_path.is_file() else []
    if len(entries) <= 1:
        if len(selected) > 1:
            raise ConfigError(
                f"{root} is one code location ({FILE_NAME} lists no more); "
                f"--location was given {len(selected)} times."
            )
        entry = entries[0] if entries else None
        where = entry.directory if entry else root
        project = load_project(where, location=entry, for_target=for_target)
        if selected:
            project.location_name = selected[0]
        return [project]
    names = [entry.name for entry in entries]
    unknown = [name for name in selected if name not in names]
    if unknown:
        raise ConfigError(
            f"{yaml_path} has no location named {', '.join(map(repr, unknown))}. "
            f"Its locations: {', '.join(names)}."
        )
    chosen = [entry for entry in entries if not selected or entry.name in selected]
    return [load_project(e.directory, location=e, for_target=for_target) for e in chosen]


def location_out_dirs(projects: Sequence[ProjectConfig], out_dir: Path | None) -> list[Path | None]:
    """Where each location's build goes: `out_dir` (or the project's default) for one location;
    with several, `<out_dir>/<location>`, or the project's default when no other location shares
    the project directory (else `<default>/<location>`)."""
    if len(projects) == 1:
        return [out_dir]
    roots = [p.root for p in projects]
    return [
        Path(out_dir) / p.location_name
        if out_dir is not None
        else (p.default_out_dir / p.location_name if roots.count(p.root) > 1 else None)
        for p in projects
    ]
