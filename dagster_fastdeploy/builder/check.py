"""`build --check`: load the definitions in the environment just built, as a code server would
(`PEX_PATH=deps.pex python source.pex`), and fail with the user's traceback when they do not load.
Paths in the traceback are mapped back to the user's own files."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from dagster_fastdeploy.errors import DefinitionsLoadError
from dagster_fastdeploy.manifest import Manifest

_LOAD_SCRIPT = r"""
import importlib, os, runpy, sys
target = dict(arg.split("=", 1) for arg in sys.argv[1:])
import working_directory
root = os.path.join(os.path.dirname(working_directory.__file__), "root")
os.chdir(os.path.join(root, target.get("working_directory", ".")))
sys.path.insert(0, os.getcwd())
import dagster
if "module_name" in target or "package_name" in target:
    namespace = vars(importlib.import_module(target.get("module_name") or target["package_name"]))
else:
    namespace = runpy.run_path(target["python_file"], run_name="__dagster_fastdeploy_check__")
attribute = target.get("attribute")
if attribute:
    found = [namespace[attribute]]
else:
    found = [v for v in list(namespace.values()) if isinstance(v, dagster.Definitions)]
    if not found:
        found = [v for v in list(namespace.values()) if isinstance(v, dagster.RepositoryDefinition)]
if not found:
    sys.exit("no dagster.Definitions object found in " + str(target))
for defs in found:
    if isinstance(defs, dagster.Definitions):
        if hasattr(dagster.Definitions, "validate_loadable"):
            dagster.Definitions.validate_loadable(defs)
        defs.get_repository_def().load_all_definitions()
print("ok", dagster.__version__)
"""


def check_definitions(
    manifest: Manifest, deps_path: Path, source_path: Path, python: Path, project_root: Path
) -> None:
    target = manifest.target
    args = [f"working_directory={target.working_directory}"]
    for key in ("module_name", "package_name", "python_file", "attribute"):
        value = getattr(target, key)
        if value:
            args.append(f"{key}={value}")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "PEX_PATH", "VIRTUAL_ENV"))
    }
    env["PEX_PATH"] = str(deps_path)
    result = subprocess.run(
        [str(python), str(source_path), "-c", _LOAD_SCRIPT, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=source_path.parent,
    )
    if result.returncode != 0:
        raise DefinitionsLoadError(
            f"The definitions of location {manifest.location} ({target.describe()}) do not load:\n"
            + user_traceback(result.stderr.strip(), project_root)
        )


# A frame inside the unpacked source.pex: PEX_ROOT/unzipped_pexes/<n>/<pex hash>/<path>.
_IN_SOURCE_PEX = re.compile(r"/unzipped_pexes/(?:\d+/)?[0-9a-f]{40}/(.+)$")
_FRAME = re.compile(r'^  File "([^"]+)", line \d+')
_NOISE = ("/.bootstrap/", "<frozen ", "-c <cmd>", "/importlib/__init__.py")


def user_traceback(text: str, project_root: Path) -> str:
    """Drop pex's and importlib's own frames; point frames in source.pex at the user's files."""
    out: list[str] = []
    skipping = False
    for line in text.splitlines():
        frame = _FRAME.match(line)
        if frame:
            path = frame.group(1)
            inner = _IN_SOURCE_PEX.search(path)
            skipping = any(n in path for n in _NOISE) or (
                inner is not None and inner.group(1) == "__main__.py"
            )
            if inner is not None and not skipping:
                line = line.replace(path, str(_project_file(inner.group(1), project_root)))
        elif not line.startswith("    "):
            skipping = False
        if not skipping:
            out.append(line)
    return "\n".join(out)


def _project_file(rel: str, root: Path) -> Path:
    if rel.startswith("working_directory/root/"):
        return root / rel[len("working_directory/root/") :]
    for candidate in (root / "src" / rel, root / rel):
        if candidate.is_file():
            return candidate
    matches = sorted(root.rglob(rel))
    return matches[0] if matches else Path(rel)
