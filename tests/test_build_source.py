"""source.pex: what it holds, that it runs exactly like pex's own output, and reproducibility."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from dagster_fastdeploy.builder import BuildResult, build_project
from dagster_fastdeploy.builder.pex_zip import BOOTSTRAP_DIR, reference_flags

PEX_OWN_ENTRIES = {"PEX-INFO", "__main__.py", "__pex__/", "__pex__/__init__.py"}


def run_in_built_env(result: BuildResult, code: str, python: str = sys.executable):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PEX_PATH"] = str(result.deps_path)
    # cwd: `python -c` puts the working directory on sys.path; keep this repo off it.
    return subprocess.run(
        [python, str(result.source_path), "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=result.source_path.parent,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_built_environment_imports_the_definitions(example_build: BuildResult) -> None:
    code = (
        "import example_project.definitions as d, dagster\n"
        "graph = d.defs.resolve_asset_graph()\n"
        "print(sorted(k.to_user_string() for k in graph.get_all_asset_keys()))"
    )
    result = run_in_built_env(example_build, code)
    assert result.returncode == 0, result.stderr
    assert "orders_by_region" in result.stdout


def test_built_environment_sees_no_host_package(example_build: BuildResult) -> None:
    # boto3 and dagster_fastdeploy are installed where the tests run, but not in deps.pex.
    for module in ("boto3", "dagster_fastdeploy", "moto"):
        result = run_in_built_env(example_build, f"import {module}")
        assert result.returncode != 0
        assert "ModuleNotFoundError" in result.stderr


def test_source_pex_holds_project_code_only(example_build: BuildResult) -> None:
    names = zipfile.ZipFile(example_build.source_path).namelist()
    user = [n for n in names if not n.startswith(BOOTSTRAP_DIR) and n not in PEX_OWN_ENTRIES]
    assert "example_project/definitions.py" in user
    assert "working_directory/__init__.py" in user
    assert "working_directory/root/pyproject.toml" in user
    assert "working_directory/root/src/example_project/assets.py" in user
    assert not any("/dist/" in n or "__pycache__" in n or n.endswith(".pyc") for n in user)
    # No third-party code: every top-level name is the project's own.
    top = {n.split("/")[0] for n in user}
    assert top == {
        "example_project",
        "dagster_fastdeploy_example-0.1.0.dist-info",
        "working_directory",
    }


def test_source_pex_is_exactly_what_pex_builds_from_the_same_sources(
    example_build: BuildResult, tmp_path: Path
) -> None:
    sources = tmp_path / "sources"
    with zipfile.ZipFile(example_build.source_path) as zf:
        for info in zf.infolist():
            name = info.filename
            if name.startswith(BOOTSTRAP_DIR) or name in PEX_OWN_ENTRIES or info.is_dir():
                continue
            path = sources / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(zf.read(info))
            os.chmod(path, (info.external_attr >> 16) & 0o777)
    by_pex = tmp_path / "by_pex.pex"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pex",
            "-D",
            str(sources),
            *reference_flags("3.11"),
            "-o",
            str(by_pex),
        ],
        check=True,
        capture_output=True,
    )
    assert sha256(by_pex) == example_build.manifest.source.sha256


def test_two_builds_in_different_places_and_times_are_byte_identical(
    example_build: BuildResult, copy_project, tmp_path: Path
) -> None:
    first = build_project(copy_project(dest="a"), out_dir=tmp_path / "out_a")
    time.sleep(1.1)  # a different second for any timestamp that could leak in
    second_dir = copy_project(dest="b")
    for path in second_dir.rglob("*"):
        os.utime(path, (time.time() + 3600, time.time() + 3600))
    second = build_project(second_dir, out_dir=tmp_path / "out_b")
    assert sha256(first.source_path) == sha256(second.source_path)
    assert first.manifest.source == second.manifest.source
    assert first.manifest.deps == second.manifest.deps == example_build.manifest.deps
    assert first.manifest.pex_tag == second.manifest.pex_tag


def test_touch_keeps_source_pex_and_a_one_line_edit_changes_it(
    example_build: BuildResult, copy_project, tmp_path: Path
) -> None:
    project = copy_project()
    before = build_project(project, out_dir=tmp_path / "out")
    assets = project / "src" / "example_project" / "assets.py"
    os.utime(assets, (time.time() + 60, time.time() + 60))
    touched = build_project(project, out_dir=tmp_path / "out")
    assert touched.manifest.source.sha256 == before.manifest.source.sha256

    assets.write_text(assets.read_text().replace('amount": [10.0', 'amount": [11.0'))
    edited = build_project(project, out_dir=tmp_path / "out")
    assert edited.manifest.source.sha256 != before.manifest.source.sha256
    assert edited.manifest.deps == before.manifest.deps
    assert not edited.deps_built
    with zipfile.ZipFile(edited.source_path) as zf:
        assert b"[11.0" in zf.read("example_project/assets.py")


def test_gitignored_files_are_left_out(
    example_build: BuildResult, copy_project, tmp_path: Path
) -> None:
    project = copy_project()
    (project / ".gitignore").write_text("dist/\n__pycache__/\nsecrets.env\ndata/*.csv\n")
    (project / "secrets.env").write_text("TOKEN=1\n")
    (project / "data").mkdir()
    (project / "data" / "big.csv").write_text("a,b\n")
    (project / "data" / "keep.json").write_text("{}\n")
    (project / ".venv" / "lib").mkdir(parents=True)
    (project / ".venv" / "lib" / "x.py").write_text("x = 1\n")
    (project / "notebooks").mkdir()
    (project / "notebooks" / "explore.ipynb").write_text("{}\n")
    with open(project / "pyproject.toml", "a") as f:
        f.write('exclude = ["notebooks/"]\n')  # appended to [tool.dagster-fastdeploy]
    result = build_project(project, out_dir=tmp_path / "out")
    names = set(zipfile.ZipFile(result.source_path).namelist())
    assert "working_directory/root/data/keep.json" in names
    assert "working_directory/root/secrets.env" not in names
    assert "working_directory/root/data/big.csv" not in names
    assert not any(n.startswith("working_directory/root/.venv") for n in names)
    assert not any(n.startswith("working_directory/root/notebooks") for n in names)
