"""Find a Python of a given version on this machine: `--python 3.12` means a python3.12 here, and
a host serving a location built for 3.12 needs one too. Builds and hosts use this one lookup.

The search order, first match wins:
1. the running interpreter, when it is that version (nothing to start; it is the one in use);
2. pyenv's installs ($PYENV_ROOT/versions/3.12.*), newest patch first. They come before PATH
   because pyenv puts shims on PATH that refuse to run a version not selected with `pyenv
   global/local`; shims are never used;
3. python3.12 on PATH;
4. uv-managed installs (~/.local/share/uv/python/cpython-3.12.*), newest first.
Each candidate is run once to check that it starts and is that version; a found one is remembered
for the life of the process (a missing one is looked for again next time: it may get installed).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

from dagster_fastdeploy.errors import ConfigError

_found: dict[str, Path] = {}


def running_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def locate_python(version: str) -> Path | None:
    """The interpreter for `version` ("3.12") in the order above, or None."""
    if version == running_python():
        return Path(sys.executable)
    if version in _found:
        return _found[version]
    for candidate in _candidates(version):
        if _runs_as(candidate, version):
            _found[version] = Path(candidate)
            return _found[version]
    return None


def find_python(version: str) -> Path:
    """locate_python for a build: a version that is not installed is a ConfigError."""
    found = locate_python(version)
    if found is None:
        raise ConfigError(
            f"Python {version} is not installed here (looked for python{version} on PATH, in "
            f"{_pyenv_root()}/versions and among uv's Pythons). Install it (e.g. `pyenv install "
            f"{version}` or `uv python install {version}`) or build for another version with "
            "--python."
        )
    return found


def _pyenv_root() -> str:
    return os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")


def _candidates(version: str) -> list[str]:
    pyenv = f"{_pyenv_root()}/versions/{version}.*/bin/python{version}"
    candidates = sorted(glob.glob(pyenv), key=_patch_number, reverse=True)
    on_path = shutil.which(f"python{version}")
    if on_path and "/shims/" not in on_path:
        candidates.append(on_path)
    uv = os.path.expanduser(f"~/.local/share/uv/python/cpython-{version}.*/bin/python{version}")
    candidates += sorted(glob.glob(uv), key=_patch_number, reverse=True)
    return candidates


def _patch_number(path: str) -> tuple[int, str]:
    """3.12.10 after 3.12.9: the number after the version in the install's folder name."""
    folder = Path(path).parent.parent.name  # 3.12.10 or cpython-3.12.10-linux-x86_64-gnu
    patch = folder.split("-")[1 if folder.startswith("cpython-") else 0].split(".")[2:3]
    return (int(patch[0]) if patch and patch[0].isdigit() else -1, folder)


def _runs_as(executable: str, version: str) -> bool:
    if not os.access(executable, os.X_OK):
        return False
    try:
        probe = subprocess.run(
            [executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0 and probe.stdout.strip() == version
