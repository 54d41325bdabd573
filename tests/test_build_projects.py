"""Kinds of projects: setup.py, a bare requirements.txt, local path dependencies.

Each declares dagster + pandas like example_project, so their lock resolves to the same pins and
reuses the session's deps.pex; only source.pex is built."""

from __future__ import annotations

import zipfile
from pathlib import Path

from dagster_fastdeploy.builder import BuildResult, build_project
from dagster_fastdeploy.builder.pex_zip import BOOTSTRAP_DIR


def user_entries(result: BuildResult) -> set[str]:
    names = zipfile.ZipFile(result.source_path).namelist()
    return {n for n in names if not n.startswith((BOOTSTRAP_DIR, "__pex__", "__main__", "PEX-"))}


def test_setup_py_project(example_build: BuildResult, copy_project, tmp_path: Path) -> None:
    result = build_project(copy_project("setup_py_project"), out_dir=tmp_path / "out", check=True)
    m = result.manifest
    assert m.location == "setup_py_location"  # from dagster_cloud.yaml
    assert m.target.package_name == "setup_py_project.definitions"
    assert m.deps == example_build.manifest.deps  # same pins: deps.pex reused
    names = user_entries(result)
    assert "setup_py_project/definitions.py" in names
    assert "working_directory/root/setup.py" in names
    assert not any(".egg-info" in n or n.startswith("build/") for n in names)


def test_requirements_txt_project(example_build: BuildResult, copy_project, tmp_path: Path) -> None:
    project = copy_project("requirements_project")
    result = build_project(project, out_dir=tmp_path / "out", check=True)
    m = result.manifest
    assert m.location == "requirements_project"
    assert m.target.python_file == "definitions.py"
    assert m.deps == example_build.manifest.deps
    names = user_entries(result)
    assert {"working_directory/root/definitions.py", "working_directory/root/helpers.py"} <= names
    assert not any(n.split("/")[0] not in ("working_directory",) for n in names)


def test_local_path_dependency_goes_into_source_not_deps(
    example_build: BuildResult, copy_project, tmp_path: Path
) -> None:
    result = build_project(copy_project("with_local_lib"), out_dir=tmp_path / "out", check=True)
    assert result.manifest.deps == example_build.manifest.deps  # shared_lib is not in deps
    names = user_entries(result)
    assert "shared_lib/__init__.py" in names
    assert "with_local_lib/definitions.py" in names
    assert "working_directory/root/libs/shared_lib/src/shared_lib/__init__.py" in names
