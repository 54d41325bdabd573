"""Find the interpreter a build targets: `--python 3.12` means a python3.12 on this machine."""

from __future__ import annotations

import glob
import os
import shutil
import sys
from functools import cache
from pathlib import Path

from dagster_fastdeploy.errors import ConfigError


def running_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


@cache
def find_python(version: str) -> Path:
    """The interpreter for `version` ("3.12"): this one if it matches, else python3.12 on PATH,
    else a pyenv or uv-managed install. A version that is not installed is a ConfigError."""
    if version == running_python():
        return Path(sys.executable)
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates = sorted(glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python{version}"))[::-1]
    on_path = shutil.which(f"python{version}")
    if on_path and "/shims/" not in on_path:
        candidates.append(on_path)
    uv_root = os.path.expanduser("~/.local/share/uv/python")
    candidates += sorted(glob.glob(f"{uv_root}/cpython-{version}.*/bin/python{version}"))[::-1]
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return Path(candidate)
    raise ConfigError(
        f"Python {version} is not installed here (looked for python{version} on PATH and in "
        f"{pyenv_root}/versions). Install it (e.g. `pyenv install {version}` or "
        f"`uv python install {version}`) or build for another version with --python."
    )
