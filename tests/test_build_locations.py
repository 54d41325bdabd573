"""`build` at a repository whose dagster_cloud.yaml lists two locations (example_locations): both
built, each with its own name and target, one deps.pex shared, the local ../shared_lib inside
each source.pex."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Callable

from dagster_fastdeploy.builder import BuildResult, build_locations

CLI = [sys.executable, "-m", "dagster_fastdeploy.cli", "build"]


def test_every_location_is_built_and_equal_deps_are_shared(
    example_build: BuildResult, copy_project: Callable, tmp_path: Path
) -> None:
    root = copy_project("example_locations")
    out = subprocess.run(
        [*CLI, str(root), "--out", str(tmp_path / "out"), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout)
    a, b = data["locations"]
    assert (a["location"], a["target"]) == ("loc_a", "loc_a.definitions")
    assert (b["location"], b["target"]) == ("loc_b", "loc_b")
    # one dependency set: one deps.pex, never built twice in one run
    assert a["deps"]["name"] == b["deps"]["name"] == example_build.manifest.deps.name
    assert not b["deps"]["built"]
    for loc in (a, b):
        names = zipfile.ZipFile(loc["source"]["path"]).namelist()
        assert "shared_lib/__init__.py" in names  # ../shared_lib, a path dependency
        assert f"{loc['location']}/__init__.py" in names
    manifest_b = json.loads(Path(b["manifest"]).read_text())
    assert manifest_b["container_context"] == {"k8s": {"env_vars": ["TEAM=b"]}}
    assert Path(a["manifest"]).parent == tmp_path / "out" / "loc_a"


def test_text_is_one_line_per_location_and_location_selects(
    example_build: BuildResult, copy_project: Callable, tmp_path: Path
) -> None:
    root = copy_project("example_locations")
    out = subprocess.run(
        [*CLI, "--out", str(tmp_path / "all")], cwd=root, capture_output=True, text=True, check=True
    )
    lines = out.stdout.splitlines()
    assert [line.split()[1] for line in lines] == ["loc_a", "loc_b"]
    one = subprocess.run(
        [*CLI, "--location", "loc_b", "--json", "--out", str(tmp_path / "b")],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(one.stdout)["location"] == "loc_b"  # one location: the single object


def test_each_location_loads_its_definitions_with_the_shared_library(
    example_build: BuildResult, copy_project: Callable, tmp_path: Path
) -> None:
    root = copy_project("example_locations")
    results = build_locations(root, out_dir=tmp_path, check=True)
    assert [r.manifest.location for r in results] == ["loc_a", "loc_b"]
    assert results[0].manifest.deps == results[1].manifest.deps


def test_a_yaml_target_without_definitions_points_at_the_one_that_has_them(
    example_build: BuildResult, copy_project: Callable, tmp_path: Path
) -> None:
    root = copy_project("example_locations")
    (root / "loc_a" / "loc_a" / "empty.py").write_text("x = 1\n")
    yaml_path = root / "dagster_cloud.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("loc_a.definitions", "loc_a.empty"))
    with open(root / "loc_a" / "pyproject.toml", "a") as f:
        f.write('\n[tool.dagster]\nmodule_name = "loc_a.definitions"\n')
    out = subprocess.run(
        [*CLI, str(root), "--location", "loc_a", "--check", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0
    assert "'loc_a.empty' but pyproject.toml's [tool.dagster] module_name" in out.stderr
    assert "pyproject.toml's [tool.dagster] module_name (loc_a.definitions) loads" in out.stderr


def test_a_left_out_env_file_is_said_with_how_to_ship_it(
    example_build: BuildResult, copy_project: Callable, tmp_path: Path
) -> None:
    root = copy_project("example_locations")
    (root / "loc_a" / ".env").write_text("WAREHOUSE_PASSWORD=secret\n")
    (root / "loc_a" / ".gitignore").write_text(".env\n")
    out = subprocess.run(
        [*CLI, str(root), "--location", "loc_a", "--out", str(tmp_path / "1")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert ".env was left out of source.pex" in out.stderr
    assert 'include = [".env"]' in out.stderr
    names = zipfile.ZipFile(next((tmp_path / "1").glob("source-*.pex"))).namelist()
    assert "working_directory/root/.env" not in names

    with open(root / "loc_a" / "pyproject.toml", "a") as f:
        f.write('\n[tool.dagster-fastdeploy]\ninclude = [".env"]\n')
    [result] = build_locations(root, ["loc_a"], out_dir=tmp_path / "2")
    assert "working_directory/root/.env" in zipfile.ZipFile(result.source_path).namelist()
    assert not result.warnings
