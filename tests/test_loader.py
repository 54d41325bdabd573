"""The loader: what runs inside a location's environment (stdlib + dagster only), started the
way the host starts it, reporting definitions or the user's error with file and line."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import pytest

from dagster_fastdeploy.manifest import Manifest
from dagster_fastdeploy.runtime.code_server_process import (
    LOADER_SCRIPT,
    CodeServerProcess,
    LoadFailed,
    LoadRequest,
)
from dagster_fastdeploy.runtime.environments import Environment, Environments
from dagster_fastdeploy.runtime.ports import free_port
from tests.fixtures_runtime import ProjectCopy

LOADER_DIR = LOADER_SCRIPT.parent


def test_the_loader_imports_only_the_standard_library_and_dagster() -> None:
    siblings = {p.stem for p in LOADER_DIR.glob("*.py")}
    for path in LOADER_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top == "dagster" or top in siblings, (
                    f"{path.name} imports {name}"
                )


def environment_for(
    store: Any, data_dir: Path, project: ProjectCopy
) -> tuple[Environment, dict[str, Any]]:
    """The project built, published and materialized as the host would; and its target."""
    entry = project.publish(store, "loader_test")
    manifest = Manifest.from_dict(entry.manifest)
    env = Environments(data_dir, store).prepare(manifest, {}, "loader_test", entry.version)
    return env, {**vars(manifest.target), "dagster_version": manifest.dagster_version}


def load(env: Environment, run_dir: Path, target: dict[str, Any]) -> Any:
    process = CodeServerProcess.spawn(env.python, run_dir)
    request = LoadRequest(
        location_name="loader_test",
        target=target,
        working_directory=str(env.working_directory),
        sys_path=[str(env.source_dir)],
        host="127.0.0.1",
        port=free_port(),
    )
    return process, request


def test_a_prestarted_process_loads_when_told_and_reports_definitions(
    file_store: Any, host_data_dir: Path, project_copy: ProjectCopy,
    tmp_path: Path,
) -> None:  # fmt: skip
    env, target = environment_for(file_store, host_data_dir, project_copy)
    process, request = load(env, tmp_path / "run", target)
    try:
        warm = process.wait_warm(120)  # imported dagster, holds no user code yet
        assert warm["dagster_version"] == target["dagster_version"]  # the location's, built in
        process.load(request)
        report = process.wait_loaded(120)
        process.wait_answering(60)
        assert report["definitions"]["repositories"] == ["__repository__"]
        assert {a["key"] for a in report["definitions"]["assets"]} == {
            "raw_orders", "raw_customers", "orders_by_region"
        }  # fmt: skip
        assert report["load_s"] > 0 and report["import_s"] > 0
    finally:
        process.stop(10)
    assert process.process.returncode == 0


@pytest.mark.parametrize(
    "edit, error_type, line_text",
    [
        ("import package_that_is_not_installed\n", "ModuleNotFoundError", "import package_that"),
        ("raise RuntimeError('bad config')\n", "RuntimeError", "raise RuntimeError"),
        ("defs = dg.Definitions(assets=[42])\n", None, None),
    ],
    ids=["missing-dependency", "exception-at-import", "bad-definitions"],
)
def test_a_load_failure_reports_the_users_file_and_line(
    edit: str, error_type: str | None, line_text: str | None,
    file_store: Any, host_data_dir: Path, project_copy: ProjectCopy,
    tmp_path: Path,
) -> None:  # fmt: skip
    definitions = project_copy.package / "definitions.py"
    definitions.write_text(definitions.read_text() + "\n" + edit)
    line = len(definitions.read_text().splitlines())
    env, target = environment_for(file_store, host_data_dir, project_copy)
    process, request = load(env, tmp_path / "run", target)
    process.load(request)
    with pytest.raises(LoadFailed) as failure:
        process.wait_loaded(120)
    process.process.wait(60)
    assert process.process.returncode == 1
    error = failure.value.error
    # the user's own file, as a path in their project (not the materialized copy)
    assert error.file == "src/example_project/definitions.py"
    assert error.materialized_file.endswith("/example_project/definitions.py")
    assert error.line == line
    if error_type:
        assert error.type == error_type
        assert line_text is not None and error.code.startswith(line_text)
    # the user's frames only: none of Dagster's, importlib's or the loader's
    assert 'File "src/example_project/definitions.py", line' in error.traceback
    assert "site-packages" not in error.traceback and "importlib" not in error.traceback
    assert "site-packages" in error.full_traceback


@pytest.mark.faults
def test_a_crash_while_loading_is_reported_with_the_end_of_the_servers_output(
    file_store: Any, host_data_dir: Path, project_copy: ProjectCopy, tmp_path: Path
) -> None:
    definitions = project_copy.package / "definitions.py"
    definitions.write_text(
        "import os, sys\nprint('about to crash', file=sys.stderr, flush=True)\nos._exit(3)\n"
    )
    env, target = environment_for(file_store, host_data_dir, project_copy)
    process, request = load(env, tmp_path / "run", target)
    process.load(request)
    with pytest.raises(LoadFailed) as failure:
        process.wait_loaded(120)
    assert "exited (3)" in failure.value.error.message
    assert "about to crash" in failure.value.error.traceback


def test_a_load_that_takes_too_long_is_stopped_and_reported(
    file_store: Any, host_data_dir: Path, project_copy: ProjectCopy, tmp_path: Path
) -> None:
    definitions = project_copy.package / "definitions.py"
    definitions.write_text("import time\ntime.sleep(3600)\n")
    env, target = environment_for(file_store, host_data_dir, project_copy)
    process, request = load(env, tmp_path / "run", target)
    process.wait_warm(120)
    process.load(request)
    with pytest.raises(LoadFailed) as failure:
        process.wait_loaded(2)
    assert "did not load its definitions within 2 s" in failure.value.error.message
    assert process.process.poll() is not None  # killed, not left behind
