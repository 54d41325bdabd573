"""Reading a project's configuration: names, targets, settings and their errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dagster_fastdeploy.config import load_project
from dagster_fastdeploy.errors import ConfigError


def write_project(root: Path, pyproject: str, cloud_yaml: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(pyproject)
    if cloud_yaml is not None:
        (root / "dagster_cloud.yaml").write_text(cloud_yaml)
        (root / "src").mkdir(exist_ok=True)
        (root / "src" / "cloud_defs.py").write_text("")  # CLOUD's python_file must exist
    return root


PROJECT = """
[project]
name = "my-project"
version = "1.0"
dependencies = ["dagster"]
"""
DAGSTER = """
[tool.dagster]
module_name = "my_project.defs"
code_location_name = "from_tool_dagster"
"""
DG = """
[tool.dg.project]
root_module = "my_project"
code_location_target_module = "my_project.dg_defs"
code_location_name = "from_tool_dg"
"""
CLOUD = """
locations:
  - location_name: from_cloud_yaml
    code_source:
      python_file: cloud_defs.py
      attribute: my_defs
    working_directory: ./src
"""


def test_example_project(example_project_dir: Path) -> None:
    config = load_project(example_project_dir)
    assert config.location_name == "example_project"
    assert config.target.module_name == "example_project.definitions"
    assert config.python == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert config.platforms == []
    assert config.default_out_dir == example_project_dir.resolve() / "dist" / "fastdeploy"


def test_location_name_precedence(tmp_path: Path) -> None:
    setting = '\n[tool.dagster-fastdeploy]\nlocation = "from_setting"\n'
    root = tmp_path / "p"
    assert load_project(write_project(root, PROJECT + DAGSTER)).location_name == "from_tool_dagster"
    assert load_project(write_project(root, PROJECT + DAGSTER + DG)).location_name == "from_tool_dg"
    write_project(root, PROJECT + DAGSTER + DG, CLOUD)
    assert load_project(root).location_name == "from_cloud_yaml"
    write_project(root, PROJECT + DAGSTER + DG + setting, CLOUD)
    assert load_project(root).location_name == "from_setting"
    bare = write_project(tmp_path / "bare", PROJECT + '\n[tool.dagster]\nmodule_name = "m"\n')
    assert load_project(bare).location_name == "my-project"


def test_target_precedence(tmp_path: Path) -> None:
    root = tmp_path / "p"
    target = load_project(write_project(root, PROJECT + DAGSTER)).target
    assert (target.module_name, target.attribute) == ("my_project.defs", None)
    assert load_project(write_project(root, PROJECT + DAGSTER + DG)).target.module_name == (
        "my_project.dg_defs"
    )
    target = load_project(write_project(root, PROJECT + DAGSTER + DG, CLOUD)).target
    assert target.python_file == "cloud_defs.py" and target.module_name is None
    assert target.attribute == "my_defs"
    assert target.working_directory == "./src"


def test_target_is_guessed_from_the_layout(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", PROJECT)
    (root / "src" / "my_project").mkdir(parents=True)
    (root / "src" / "my_project" / "definitions.py").write_text("")
    assert load_project(root).target.module_name == "my_project.definitions"


def test_no_target_says_where_to_name_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[tool.dagster\]"):
        load_project(write_project(tmp_path / "p", PROJECT))


def test_settings_are_read_and_typed(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p",
        PROJECT
        + DAGSTER
        + """
[tool.dagster-fastdeploy]
python = "3.12"
platforms = ["manylinux_2_28_x86_64"]
extras = ["aws"]
preload = ["pandas"]
out-dir = "build/pex"
index_url = "https://example.org/simple"
extra_index_urls = ["https://example.com/simple"]
exclude = ["data/*.csv"]
build_sdists = false
host_group = "etl"
""",
    )
    config = load_project(root)
    assert config.host_group == "etl"
    assert config.python == "3.12"
    assert config.platforms == ["manylinux_2_28_x86_64"]
    assert config.extras == ["aws"] and config.preload == ["pandas"]
    assert config.default_out_dir == root.resolve() / "build" / "pex"
    assert config.index_url == "https://example.org/simple"
    assert config.extra_index_urls == ["https://example.com/simple"]
    assert config.exclude == ["data/*.csv"] and config.build_sdists is False


def test_hatch_target_table_is_read_too(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p",
        PROJECT
        + DAGSTER
        + '\n[tool.hatch.build.targets.fastdeploy]\npython = "3.12"\ndependencies = ["x"]\n',
    )
    assert load_project(root).python == "3.12"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[tool.dagster-fastdeploy]\nplatfroms = ["x"]', "`tool.dagster-fastdeploy.platfroms`"),
        ('[tool.hatch.build.targets.fastdeploy]\npyhton = "3.12"', "fastdeploy.pyhton`"),
        ('[tool.dagster-fastdeploy]\npython = "3"', '"3.12"'),
        ("[tool.dagster-fastdeploy]\npreload = 3", "`tool.dagster-fastdeploy.preload` must be"),
        ('[tool.dagster-fastdeploy]\nbuild_sdists = "no"', "true or false"),
        ('[tool.dagster-fastdeploy]\nhost_group = "a/b"', "`tool.dagster-fastdeploy.host_group`"),
    ],
)
def test_bad_settings_name_the_key(tmp_path: Path, table: str, message: str) -> None:
    root = write_project(tmp_path / "p", PROJECT + DAGSTER + "\n" + table + "\n")
    with pytest.raises(ConfigError) as error:
        load_project(root)
    assert message in str(error.value)


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", '[project]\nname = "x"\nversion = 1.0.0\n')
    with pytest.raises(ConfigError) as error:
        load_project(root)
    assert str(root / "pyproject.toml") in str(error.value)
    assert "line 3" in str(error.value)


def test_directory_without_project_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no pyproject.toml, setup.py or requirements.txt"):
        load_project(tmp_path)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        # a value from the hatch target's table is named there, not under tool.dagster-fastdeploy
        ("[tool.hatch.build.targets.fastdeploy]\nout_dir = 3", "targets.fastdeploy.out_dir` must"),
        ("[tool.hatch.build.targets.fastdeploy]\npreload = 3", "targets.fastdeploy.preload` must"),
        ("[tool.dagster-fastdeploy]\nout-dir = 3", "`tool.dagster-fastdeploy.out-dir` must"),
        ("[tool.dagster-fastdeploy]\npython = 3.12", '"3.12"'),
        ("[tool.dagster-fastdeploy]\nlocation = 7", "`tool.dagster-fastdeploy.location` must"),
        ('[tool.dagster-fastdeploy]\nindex_url = ["a"]', "index_url` must be a non-empty string"),
        ('[tool.dagster-fastdeploy]\nplatforms = ["win_amd64"]', "platforms`: Unknown platform"),
    ],
)
def test_a_bad_value_names_the_table_it_came_from(tmp_path: Path, table: str, message: str) -> None:
    root = write_project(tmp_path / "p", PROJECT + DAGSTER + "\n" + table + "\n")
    with pytest.raises(ConfigError) as error:
        load_project(root)
    assert message in str(error.value)


def test_the_hatch_target_table_takes_every_key_hatch_reads(tmp_path: Path) -> None:
    """hatch's own target keys (only-packages was missing from a copied list) are not ours to
    reject; ours override the same setting from the hatch table."""
    root = write_project(
        tmp_path / "p",
        PROJECT
        + DAGSTER
        + '\n[tool.hatch.build.targets.fastdeploy]\nonly-packages = true\nversions = ["standard"]'
        + '\nskip-excluded-dirs = true\nout_dir = "from_hatch"\npreload = ["a"]\n'
        + '\n[tool.dagster-fastdeploy]\nout_dir = "from_ours"\n',
    )
    config = load_project(root)
    assert config.default_out_dir == root.resolve() / "from_ours"
    assert config.preload == ["a"]
    assert config.key_of("preload") == "tool.hatch.build.targets.fastdeploy.preload"
    assert config.key_of("out_dir") == "tool.dagster-fastdeploy.out_dir"


def test_an_unknown_extra_is_named_in_the_table_that_asked_for_it(tmp_path: Path) -> None:
    from dagster_fastdeploy.builder.requirements import collect

    root = write_project(
        tmp_path / "p",
        PROJECT + DAGSTER + '\n[tool.hatch.build.targets.fastdeploy]\nextras = ["aws"]\n',
    )
    with pytest.raises(ConfigError) as error:
        collect(load_project(root), Path(sys.executable))
    assert "`tool.hatch.build.targets.fastdeploy.extras` names 'aws'" in str(error.value)
