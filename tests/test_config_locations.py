"""dagster_cloud.yaml with many code locations: every location read, each from its own build
directory, and every bad entry a clear error naming the file, the location and the field, raised
before anything is built."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Callable

import pytest

from dagster_fastdeploy.config import load_project
from dagster_fastdeploy.config.locations import load_locations
from dagster_fastdeploy.errors import ConfigError

PYPROJECT = """
[project]
name = "{name}"
version = "1.0"
dependencies = ["dagster"]
"""


def repo(tmp_path: Path, cloud_yaml: str, projects: tuple[str, ...] = ("loc_a", "loc_b")) -> Path:
    for name in projects:
        (tmp_path / name).mkdir(parents=True, exist_ok=True)
        (tmp_path / name / "pyproject.toml").write_text(PYPROJECT.format(name=name))
    (tmp_path / "dagster_cloud.yaml").write_text(textwrap.dedent(cloud_yaml))
    return tmp_path


TWO = """
locations:
  - location_name: loc_a
    code_source:
      module_name: loc_a.definitions
    build:
      directory: ./loc_a
    executable_path: /venvs/a/bin/python
  - location_name: loc_b
    code_source:
      package_name: loc_b
      attribute: defs
    working_directory: ./src
    build:
      directory: loc_b
    container_context:
      k8s: {env_vars: [TEAM=b]}
"""


def test_every_location_is_read_from_its_build_directory(tmp_path: Path) -> None:
    root = repo(tmp_path, TWO)
    a, b = load_locations(root)
    assert (a.location_name, a.root, a.target.module_name) == (
        "loc_a",
        root / "loc_a",
        "loc_a.definitions",
    )
    assert (b.location_name, b.root) == ("loc_b", root / "loc_b")
    assert (b.target.package_name, b.target.attribute) == ("loc_b", "defs")
    assert b.target.working_directory == "./src"
    assert b.container_context == {"k8s": {"env_vars": ["TEAM=b"]}}
    assert any("executable_path" in w and "ignored" in w for w in a.warnings)
    assert not b.warnings


def test_location_option_selects_and_an_unknown_name_lists_the_known_ones(tmp_path: Path) -> None:
    root = repo(tmp_path, TWO)
    assert [p.location_name for p in load_locations(root, ["loc_b"])] == ["loc_b"]
    with pytest.raises(ConfigError, match="no location named 'loc_c'.*loc_a, loc_b"):
        load_locations(root, ["loc_c"])


def test_a_location_directory_built_alone_still_reads_the_root_yaml(tmp_path: Path) -> None:
    """Building ./loc_b directly uses its root dagster_cloud.yaml entry (name, package_name)."""
    root = repo(tmp_path, TWO)
    project = load_project(root / "loc_b")
    assert project.location_name == "loc_b"
    assert project.target.package_name == "loc_b"


def test_a_directory_without_yaml_is_one_location_and_location_names_it(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        PYPROJECT.format(name="solo") + '[tool.dagster]\nmodule_name = "solo.defs"\n'
    )
    [project] = load_locations(tmp_path, ["renamed"])
    assert project.location_name == "renamed"


def test_yaml_and_tool_dagster_disagreeing_says_both_and_which_wins(tmp_path: Path) -> None:
    root = repo(tmp_path, TWO)
    with open(root / "loc_a" / "pyproject.toml", "a") as f:
        f.write('[tool.dagster]\nmodule_name = "loc_a.other_defs"\n')
    [a] = load_locations(root, ["loc_a"])
    [note] = [w for w in a.warnings if "disagree" in w or "but" in w]
    assert "'loc_a.definitions'" in note and "'loc_a.other_defs'" in note
    assert "[tool.dagster] module_name" in note
    assert "using 'loc_a.definitions'" in note and "Dagster+" in note
    assert a.target.module_name == "loc_a.definitions"


BAD = {
    "invalid YAML": ("locations: [\n  - {location_name: a", "is not valid YAML"),
    "not a mapping": ("- just\n- a list\n", "must be a mapping with a `locations:` list"),
    "plain string": ("hello world\n", "must be a mapping with a `locations:` list"),
    "no code source": (
        "locations:\n  - location_name: loc_a\n    build: {directory: ./loc_a}\n",
        "location 'loc_a' has no `code_source`",
    ),
    "two sources": (
        "locations:\n  - location_name: loc_a\n"
        "    code_source: {module_name: m, python_file: f.py}\n",
        "location 'loc_a': `code_source` must name exactly one",
    ),
    "same name twice": (
        "locations:\n"
        "  - {location_name: loc_a, code_source: {module_name: m}, build: {directory: loc_a}}\n"
        "  - {location_name: loc_a, code_source: {module_name: m}, build: {directory: loc_b}}\n",
        "locations 1 and 2 are both named 'loc_a' (location_name)",
    ),
    "directory outside": (
        "locations:\n  - {location_name: loc_a, code_source: {module_name: m}, "
        "build: {directory: ../elsewhere}}\n",
        "location 'loc_a': `build.directory` '../elsewhere' is outside the repository",
    ),
    "directory missing": (
        "locations:\n  - {location_name: loc_a, code_source: {module_name: m}, "
        "build: {directory: ./loc_c}}\n",
        "location 'loc_a': `build.directory` './loc_c' does not exist",
    ),
    "python_file missing": (
        "locations:\n  - {location_name: loc_a, code_source: {python_file: defs.py}, "
        "build: {directory: ./loc_a}}\n",
        "location 'loc_a': `code_source.python_file` 'defs.py' does not exist",
    ),
    "no name": (
        "locations:\n  - {code_source: {module_name: m}}\n",
        "location 1 has no `location_name`",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_dagster_cloud_yaml_names_file_location_and_field(tmp_path: Path, case: str) -> None:
    text, message = BAD[case]
    root = repo(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_locations(root)
    assert str(root / "dagster_cloud.yaml") in str(error.value)
    assert message in str(error.value)


def test_a_binary_dagster_cloud_yaml_is_a_clear_error(tmp_path: Path) -> None:
    root = repo(tmp_path, "")
    (root / "dagster_cloud.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0")
    with pytest.raises(ConfigError, match="dagster_cloud.yaml is a binary file"):
        load_locations(root)


def test_a_bad_entry_stops_before_any_build(tmp_path: Path, copy_project: Callable) -> None:
    """The second location is broken: nothing is built for the first either."""
    from dagster_fastdeploy.builder import build_locations

    root = copy_project("example_locations")
    text = (root / "dagster_cloud.yaml").read_text().replace("./loc_b", "./loc_missing")
    (root / "dagster_cloud.yaml").write_text(text)
    with pytest.raises(ConfigError, match="location 'loc_b': `build.directory`"):
        build_locations(root)
    assert not (root / "loc_a" / "dist").exists()
