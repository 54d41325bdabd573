"""`workspace --local`: a workspace.yaml with which plain `dagster dev` (or dagster-webserver)
starts each location's code server itself, in the environment materialized from the location's
current deps.pex + source.pex: exactly the deployed artifacts, and no warm host.

Each entry is Dagster's own `python_module` / `python_package` / `python_file` form with an
`executable_path` and a `working_directory`. The executable is a small script beside the
environments: the location's deps venv python with its source directory on PYTHONPATH (the
venv is shared by every version built from the same deps.pex, so the source cannot live in it).
Dagster runs that executable for the code server and for every run, so runs use it too.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dagster_fastdeploy.errors import StoreError
from dagster_fastdeploy.local_files import temp_file
from dagster_fastdeploy.manifest import CodeTarget
from dagster_fastdeploy.store.base import Store


@dataclass
class LocalLocation:
    name: str
    version: int
    pex_tag: str
    entry: list[str]  # its workspace.yaml lines
    executable_path: Path
    working_directory: Path


def python_with_source(path: Path, python: Path, source_dir: Path, about: str) -> Path:
    """Write an executable script at `path` that runs `python` with `source_dir` first on
    PYTHONPATH."""
    source, interpreter = shlex.quote(str(source_dir)), shlex.quote(str(python))
    with temp_file(path) as tmp:
        tmp.write_text(
            "#!/bin/sh\n"
            f"# {about}, written by `dagster-fastdeploy workspace --local`:\n"
            "# the location's deps environment with its source on the path.\n"
            f'PYTHONPATH={source}"${{PYTHONPATH:+:$PYTHONPATH}}" exec {interpreter} "$@"\n'
        )
        tmp.chmod(0o755)
        os.replace(tmp, path)
    return path


def _entry(name: str, target: CodeTarget, executable: Path, working_directory: Path) -> list[str]:
    q = json.dumps
    if target.module_name:
        lines = ["  - python_module:", f"      module_name: {q(target.module_name)}"]
    elif target.package_name:
        lines = ["  - python_package:", f"      package_name: {q(target.package_name)}"]
    else:  # a path relative to the workspace file in Dagster's eyes: written absolute
        path = (working_directory / str(target.python_file)).resolve()
        lines = ["  - python_file:", f"      relative_path: {q(str(path))}"]
    if target.attribute:
        lines.append(f"      attribute: {q(target.attribute)}")
    return lines + [
        f"      location_name: {q(name)}",
        f"      working_directory: {q(str(working_directory))}",
        f"      executable_path: {q(str(executable))}",
    ]


def local_locations(
    store: Store,
    deployment: str,
    data_dir: Path,
    only: list[str] | None = None,
    say: Callable[[str], None] | None = None,
) -> list[LocalLocation]:
    """Materialize the current version of each location of `deployment` (or those in `only`)
    under `data_dir` (shared with hosts on the same data dir) and describe its entry."""
    from dagster_fastdeploy.manifest import Manifest
    from dagster_fastdeploy.runtime.environments import Environments

    names = sorted(store.list_locations(deployment))
    if only:
        missing = sorted(set(only) - set(names))
        if missing:
            raise StoreError(
                f"no location {', '.join(missing)} in deployment {deployment!r} of {store.url} "
                f"(it has: {', '.join(names) or 'none'})"
            )
        names = [n for n in names if n in only]
    if not names:
        raise StoreError(
            f"deployment {deployment!r} of {store.url} has no location: deploy one first "
            "(`dagster-fastdeploy deploy PROJECT --store URL --deployment NAME`)"
        )
    environments = Environments(data_dir, store)
    found = []
    for name in names:
        record = store.read_record(deployment, name)
        if record is None or record.current is None:
            continue
        current = record.current
        if say:
            say(f"materializing {name} v{current.version}")
        manifest = Manifest.from_dict(current.manifest)
        env = environments.prepare(manifest, {}, name, current.version)
        executable = python_with_source(
            data_dir / "local" / deployment / name / f"v{current.version}" / "python",
            env.python,
            env.source_dir,
            f"{name} v{current.version} ({current.pex_tag})",
        )
        entry = _entry(name, manifest.target, executable, env.working_directory)
        found.append(
            LocalLocation(
                name, current.version, current.pex_tag, entry, executable, env.working_directory
            )
        )
    return found


def local_workspace_yaml(locations: list[LocalLocation]) -> str:
    lines = ["load_from:"]
    for location in locations:
        lines += location.entry
    return "\n".join(lines) + "\n"
