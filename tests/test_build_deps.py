"""deps.pex: the fast path, the store short-cut, lock reuse, and reproducibility."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from dagster_fastdeploy.builder import (
    BuildResult,
    build_project,
    deps_index_entry,
    deps_input_hash,
)
from dagster_fastdeploy.builder.cache import cache_root
from dagster_fastdeploy.builder.deps_pex import build_deps_pex
from dagster_fastdeploy.builder.lock import lock
from dagster_fastdeploy.builder.requirements import DeclaredDeps
from dagster_fastdeploy.builder.target import BuildTarget


def _forbid_resolving_and_pex(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_resolve(*args, **kwargs):
        raise AssertionError("the resolver ran")

    def no_pex(*args, **kwargs):
        raise AssertionError("pex ran for deps")

    monkeypatch.setattr("dagster_fastdeploy.builder.deps.lock", no_resolve)
    monkeypatch.setattr("dagster_fastdeploy.builder.deps_pex.build_deps_pex", no_pex)


def test_second_build_runs_no_resolver_and_no_pex_for_deps(
    example_build: BuildResult, example_project_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    _forbid_resolving_and_pex(monkeypatch)
    again = build_project(example_project_dir, out_dir=tmp_path)
    assert not again.deps_built
    assert again.deps_path is not None and again.deps_path.parent == tmp_path
    assert again.manifest.deps == example_build.manifest.deps
    assert again.manifest.deps_hash == example_build.manifest.deps_hash
    assert "lock" not in again.seconds


def test_deps_input_hash_is_the_manifests_and_needs_no_resolve(
    example_build: BuildResult, example_project_dir: Path, monkeypatch
) -> None:
    _forbid_resolving_and_pex(monkeypatch)
    assert deps_input_hash(example_project_dir) == example_build.manifest.deps_hash
    assert deps_input_hash(example_project_dir, python="3.12") != example_build.manifest.deps_hash


def test_known_deps_answer_the_deps_step_on_an_empty_cache(
    example_build: BuildResult, example_project_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("DAGSTER_FASTDEPLOY_CACHE", str(tmp_path / "empty_cache"))
    _forbid_resolving_and_pex(monkeypatch)
    entry = deps_index_entry(example_build)
    asked: list[str] = []

    def known_deps(deps_hash: str):
        asked.append(deps_hash)
        return entry if deps_hash == example_build.manifest.deps_hash else None

    result = build_project(example_project_dir, out_dir=tmp_path / "out", known_deps=known_deps)
    assert asked == [example_build.manifest.deps_hash]
    assert result.deps_path is None and not result.deps_built
    assert result.manifest.deps == example_build.manifest.deps
    assert result.manifest.deps_locked_hash == example_build.manifest.deps_locked_hash
    assert result.manifest.dagster_version == example_build.manifest.dagster_version
    assert result.manifest.pex_tag.startswith(f"files={example_build.manifest.deps.name}:source-")
    assert not list((tmp_path / "out").glob("deps-*.pex"))
    written = json.loads(result.manifest_path.read_text())
    assert written["deps"]["sha256"] == example_build.manifest.deps.sha256


def test_deps_index_entry_shape(example_build: BuildResult) -> None:
    entry = deps_index_entry(example_build)
    assert set(entry) == {"deps", "locked_hash", "dagster_version", "python", "platforms"}
    assert set(entry["deps"]) == {"name", "sha256", "size"}
    assert entry["dagster_version"] == example_build.manifest.dagster_version


def test_an_input_change_that_locks_the_same_reuses_deps_pex(
    example_build: BuildResult, copy_project, tmp_path: Path
) -> None:
    project = copy_project()
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"pandas",', '"pandas>=1.0",'))
    # As if this input were new here (FASTDEPLOY_TEST_CACHE may keep it from an earlier run).
    (cache_root() / "deps-by-input" / f"{deps_input_hash(project)}.json").unlink(missing_ok=True)
    result = build_project(project, out_dir=tmp_path / "out")
    assert result.manifest.deps_hash != example_build.manifest.deps_hash
    assert result.resolved and not result.deps_built
    assert result.manifest.deps == example_build.manifest.deps


def test_refresh_deps_resolves_again(
    example_build: BuildResult, example_project_dir: Path, tmp_path: Path
) -> None:
    result = build_project(example_project_dir, out_dir=tmp_path, refresh_deps=True)
    assert result.resolved
    assert "lock" in result.seconds
    assert result.manifest.deps_locked_hash == example_build.manifest.deps_locked_hash


def test_deps_pex_builds_are_byte_identical(tmp_path: Path) -> None:
    import sys

    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    target = BuildTarget(python=version, interpreter=Path(sys.executable), platforms=())
    declared = DeclaredDeps(requirements=["six", "attrs"])
    digests = []
    for name in ("one", "two"):
        work = tmp_path / name
        work.mkdir()
        locked = lock(declared, target, work, [], work)
        build_deps_pex(locked, declared, target, work / "deps.pex")
        digests.append(hashlib.sha256((work / "deps.pex").read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_find_links_reach_both_the_resolver_and_pex(tmp_path: Path) -> None:
    import sys
    import zipfile

    from dagster_fastdeploy.builder.project_wheel import build_wheel

    package = tmp_path / "only-here"
    (package / "only_here").mkdir(parents=True)
    (package / "only_here" / "__init__.py").write_text("WHERE = 'find-links'\n")
    (package / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        '[project]\nname = "only-here-fastdeploy-test"\nversion = "1.0"\n'
        '[tool.hatch.build.targets.wheel]\npackages = ["only_here"]\n'
    )
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(package, "hatchling.build", wheels)

    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    target = BuildTarget(python=version, interpreter=Path(sys.executable), platforms=())
    declared = DeclaredDeps(requirements=["only-here-fastdeploy-test"], find_links=[str(wheels)])
    locked = lock(declared, target, tmp_path, [], tmp_path)
    assert locked.versions == {"only-here-fastdeploy-test": "1.0"}
    build_deps_pex(locked, declared, target, tmp_path / "deps.pex")
    names = zipfile.ZipFile(tmp_path / "deps.pex").namelist()
    assert any(n.endswith("only_here/__init__.py") for n in names)


def test_the_store_knowing_the_same_pins_spares_the_deps_build(
    example_build: BuildResult, copy_project, tmp_path: Path, monkeypatch
) -> None:
    project = copy_project()
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"pandas",', '"pandas>=1.0",'))
    monkeypatch.setenv("DAGSTER_FASTDEPLOY_CACHE", str(tmp_path / "empty_cache"))
    monkeypatch.setattr(
        "dagster_fastdeploy.builder.deps_pex.build_deps_pex",
        lambda *a, **k: pytest.fail("pex ran although the store has these pins"),
    )
    index = {f"locked-{example_build.manifest.deps_locked_hash}": deps_index_entry(example_build)}
    asked: list[str] = []

    def known_deps(key: str):
        asked.append(key)
        return index.get(key)

    result = build_project(project, out_dir=tmp_path / "out", known_deps=known_deps)
    assert asked == [result.manifest.deps_hash, f"locked-{example_build.manifest.deps_locked_hash}"]
    assert result.resolved and not result.deps_built and result.deps_path is None
    assert result.manifest.deps == example_build.manifest.deps
