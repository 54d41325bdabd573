"""Bad input: a clear message, a non-zero exit, no traceback, nothing left in the out dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dagster_fastdeploy.builder import BuildResult

CLI = [sys.executable, "-m", "dagster_fastdeploy.cli"]


def run_build(project: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "build", str(project), "--out", str(out), *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )


def assert_clean_failure(
    result: subprocess.CompletedProcess[str], out: Path, *phrases: str
) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr.split("do not load")[0]  # only the user's own
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())


def test_a_directory_with_nothing_that_declares_dependencies(tmp_path: Path) -> None:
    project = tmp_path / "empty"
    project.mkdir()
    (project / "definitions.py").write_text("import dagster\n")
    result = run_build(project, tmp_path / "out")
    assert_clean_failure(
        result, tmp_path / "out", "no pyproject.toml, setup.py or requirements.txt"
    )


def test_invalid_toml_names_the_file_and_line(copy_project, tmp_path: Path) -> None:
    project = copy_project()
    pyproject = project / "pyproject.toml"
    lines = pyproject.read_text().splitlines()
    lines.insert(5, 'description = "unterminated')
    pyproject.write_text("\n".join(lines) + "\n")
    result = run_build(project, tmp_path / "out")
    assert_clean_failure(result, tmp_path / "out", str(pyproject), "line 6")


def test_unknown_setting_is_named(copy_project, tmp_path: Path) -> None:
    project = copy_project()
    with open(project / "pyproject.toml", "a") as f:
        f.write('python_verison = "3.12"\n')
    result = run_build(project, tmp_path / "out")
    assert_clean_failure(result, tmp_path / "out", "tool.dagster-fastdeploy.python_verison")


def test_python_that_is_not_installed(example_project_dir: Path, tmp_path: Path) -> None:
    result = run_build(example_project_dir, tmp_path / "out", "--python", "3.99")
    assert_clean_failure(result, tmp_path / "out", "Python 3.99 is not installed")


def test_malformed_python_version(example_project_dir: Path, tmp_path: Path) -> None:
    result = run_build(example_project_dir, tmp_path / "out", "--python", "python3")
    assert_clean_failure(result, tmp_path / "out", '"3.12"')


def test_unknown_platform(example_project_dir: Path, tmp_path: Path) -> None:
    result = run_build(example_project_dir, tmp_path / "out", "--platform", "windows95")
    assert_clean_failure(result, tmp_path / "out", "Unknown platform 'windows95'")


def test_dagster_missing_from_the_dependencies(copy_project, tmp_path: Path) -> None:
    result = run_build(copy_project("no_dagster"), tmp_path / "out")
    assert_clean_failure(result, tmp_path / "out", "dagster is not among", "no-dagster")


def test_a_requirement_that_cannot_be_resolved(copy_project, tmp_path: Path) -> None:
    result = run_build(copy_project("unresolvable"), tmp_path / "out")
    assert_clean_failure(
        result, tmp_path / "out", "(dagster-fastdeploy-no-such-package)", "pypi.org/simple"
    )


@pytest.mark.usefixtures("example_build")
def test_a_dependency_with_no_wheel_and_no_way_to_build_one(copy_project, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("a file of the user's\n")
    result = run_build(copy_project("sdist_only"), out)
    assert result.returncode != 0
    assert "No wheel of docopt==0.6.2 fits Python" in result.stderr, result.stderr
    assert "build_sdists" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_check_fails_with_the_users_file_and_line(
    example_build: BuildResult, copy_project, tmp_path: Path
) -> None:
    project = copy_project("broken_defs")
    result = run_build(project, tmp_path / "out", "--check")
    assert_clean_failure(
        result,
        tmp_path / "out",
        "do not load",
        f'File "{project}/src/broken_defs/definitions.py", line 10, in lookup_table',
        "KeyError: 'totals'",
    )
    assert ".bootstrap" not in result.stderr
