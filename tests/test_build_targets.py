"""Building for another Python and for other platforms than the host's."""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from dagster_fastdeploy.builder import BuildResult, build_project
from dagster_fastdeploy.builder.interpreters import find_python
from dagster_fastdeploy.builder.platforms import platform_tags
from dagster_fastdeploy.errors import ConfigError


def python312() -> Path:
    try:
        return find_python("3.12")
    except ConfigError:
        pytest.skip("needs a Python 3.12 on this machine (pyenv install 3.12)")


def run_under(python: Path, result: BuildResult, code: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PEX_PATH"] = str(result.deps_path)
    out = subprocess.run(
        [str(python), str(result.source_path), "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=result.source_path.parent,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


CODE = "import sys, example_project.definitions, dagster; print(sys.version_info[:2])"


def test_build_for_python_312_runs_under_python_312(
    example_project_dir: Path, tmp_path: Path
) -> None:
    python = python312()
    result = build_project(example_project_dir, out_dir=tmp_path, python="3.12")
    assert result.manifest.python == "3.12"
    assert result.source_path.read_bytes().startswith(b"#!/usr/bin/env python3.12\n")
    assert run_under(python, result, CODE) == "(3, 12)"


def wheel_platform_tags(deps_pex: Path) -> dict[str, set[str]]:
    info = json.loads(zipfile.ZipFile(deps_pex).read("PEX-INFO"))
    tags = {}
    for wheel in info["distributions"]:
        platform = wheel[: -len(".whl")].split("-")[-1]
        tags[wheel] = set(platform.split("."))
    return tags


def test_build_for_manylinux_2_28_picks_wheels_that_run_there(
    example_project_dir: Path, tmp_path: Path
) -> None:
    python = python312()
    result = build_project(
        example_project_dir, out_dir=tmp_path, python="3.12", platforms=["manylinux_2_28_x86_64"]
    )
    assert result.manifest.platforms == ["manylinux_2_28_x86_64"]
    allowed = set(platform_tags("manylinux_2_28_x86_64")) | {"any"}
    tags = wheel_platform_tags(result.deps_path)
    for wheel, wheel_tags in tags.items():
        assert wheel_tags & allowed, f"{wheel} does not run on manylinux_2_28_x86_64"
    # numpy publishes no manylinux2014 wheel any more: only a newer manylinux tag gets it.
    numpy = [w for w in tags if w.startswith("numpy-")]
    assert numpy and not tags[numpy[0]] & {"manylinux2014_x86_64", "manylinux_2_17_x86_64"}
    # This host (glibc >= 2.28, x86_64) is such a platform: the result runs here.
    assert run_under(python, result, CODE) == "(3, 12)"
