"""PEP 517 backend: hatchling, plus deps.pex / source.pex / manifest.json.

    [build-system]
    requires = ["hatchling", "dagster-fastdeploy"]
    build-backend = "dagster_fastdeploy.backend"

`pip wheel .`, `python -m build` and friends get the wheel and sdist exactly as hatchling builds
them; the PEX outputs are written to the configured out dir (default dist/fastdeploy) from the
project's source tree: by build_wheel when it runs there (`pip wheel .`, `python -m build --wheel`),
by build_sdist otherwise (`python -m build` builds the wheel from the unpacked sdist, a temporary
copy whose outputs nobody would see). Set DAGSTER_FASTDEPLOY_SKIP_PEX=1 to build only what
hatchling builds.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import hatchling.build as _hatchling

SKIP_PEX_ENV = "DAGSTER_FASTDEPLOY_SKIP_PEX"
get_requires_for_build_wheel = _hatchling.get_requires_for_build_wheel
get_requires_for_build_sdist = _hatchling.get_requires_for_build_sdist
# Hooks only some hatchling versions have: offered exactly when the installed hatchling has them.
_OPTIONAL_HOOKS = (
    "prepare_metadata_for_build_wheel",
    "build_editable",
    "get_requires_for_build_editable",
    "prepare_metadata_for_build_editable",
)


def __getattr__(name: str) -> Any:
    if name in _OPTIONAL_HOOKS and hasattr(_hatchling, name):
        return getattr(_hatchling, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_wheel(
    wheel_directory: str,
    config_settings: dict[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    name = _hatchling.build_wheel(wheel_directory, config_settings, metadata_directory)
    if not Path("PKG-INFO").is_file():  # a source tree, not an unpacked sdist
        _build_pex_outputs()
    return name


def build_sdist(sdist_directory: str, config_settings: dict[str, Any] | None = None) -> str:
    name = _hatchling.build_sdist(sdist_directory, config_settings)
    _build_pex_outputs()
    return name


def _build_pex_outputs() -> None:
    if os.environ.get(SKIP_PEX_ENV, "").lower() in ("1", "true", "yes"):
        return
    from dagster_fastdeploy.builder import build_project
    from dagster_fastdeploy.errors import FastDeployError

    try:
        result = build_project(Path.cwd())
    except FastDeployError as e:
        raise SystemExit(
            f"dagster-fastdeploy: {e}\n(set {SKIP_PEX_ENV}=1 to skip the PEX outputs)"
        ) from e
    m = result.manifest
    print(
        f"dagster-fastdeploy: wrote {m.deps.name}, {m.source.name} and manifest.json "
        f"to {result.manifest_path.parent}",
        file=sys.stderr,
    )
