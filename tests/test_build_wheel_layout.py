"""A source-only edit re-creates the project's wheel files from the remembered layout, without the
build backend, and they are exactly the files the backend builds."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dagster_fastdeploy.builder.cache import cache_root
from dagster_fastdeploy.builder.source import source_files
from dagster_fastdeploy.config import load_project


def _files(project: Path) -> list[tuple[str, bytes, bool]]:
    config = load_project(project)
    return sorted((f.name, f.data, f.executable) for f in source_files(config, [], None))


def _backend_runs(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    runs: list[Path] = []
    from dagster_fastdeploy.builder import source

    real = source.build_wheel

    def counting(project_dir: Path, backend: str, wheel_dir: Path) -> Path:
        runs.append(project_dir)
        return real(project_dir, backend, wheel_dir)

    monkeypatch.setattr(source, "build_wheel", counting)
    return runs


def test_an_edit_needs_no_wheel_build_and_gives_the_backends_files(
    copy_project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_FASTDEPLOY_CACHE", str(tmp_path / "cache"))
    project = copy_project()
    runs = _backend_runs(monkeypatch)
    _files(project)
    assert len(runs) == 1

    definitions = project / "src" / "example_project" / "definitions.py"
    definitions.write_text(definitions.read_text() + "\nEDITED = True\n")
    from_layout = _files(project)
    assert len(runs) == 1  # the backend did not run for the edit

    shutil.rmtree(cache_root() / "wheel-layouts")
    assert _files(project) == from_layout  # what the backend builds, byte for byte
    assert len(runs) == 2
    edited = [data for name, data, _ in from_layout if name == "example_project/definitions.py"]
    assert edited and b"EDITED = True" in edited[0]


def test_a_change_the_layout_cannot_know_runs_the_backend(
    copy_project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_FASTDEPLOY_CACHE", str(tmp_path / "cache"))
    project = copy_project()
    runs = _backend_runs(monkeypatch)
    _files(project)

    (project / "src" / "example_project" / "new_module.py").write_text("X = 1\n")  # new file
    with_new = _files(project)
    assert len(runs) == 2 and any(
        n.endswith("example_project/new_module.py") for n, _, _ in with_new
    )

    pyproject = project / "pyproject.toml"  # the metadata changes
    pyproject.write_text(pyproject.read_text().replace('version = "0.1.0"', 'version = "0.2.0"'))
    bumped = _files(project)
    assert len(runs) == 3
    assert any(n == "dagster_fastdeploy_example-0.2.0.dist-info/METADATA" for n, _, _ in bumped)
