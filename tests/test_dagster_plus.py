"""The Dagster+ target: example_locations (plus dagster-cloud) built `--for dagster-plus` and
started through dagster-cloud's own multi-PEX manager, as a Dagster+ agent starts its own builds.

dagster-cloud pins pex below 2.60, so it lives in its own virtualenv (cached beside the test
caches), never in ours. Marked `dagster_plus`: `.ci/run` runs it; `pytest -m dagster_plus` here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from dagster_fastdeploy.builder import BuildResult, build_locations
from dagster_fastdeploy.builder.interpreters import find_python
from dagster_fastdeploy.errors import ConfigError

pytestmark = pytest.mark.dagster_plus
DRIVER = Path(__file__).parent / "dagster_plus" / "run_in_multipex.py"


@pytest.fixture(scope="session")
def dagster_cloud_python(shared_caches: Path) -> Path:
    """python of a virtualenv holding dagster-cloud (made once, then reused)."""
    venv = shared_caches / "dagster-cloud-venv"
    python, complete = venv / "bin" / "python", venv / ".complete"
    if not complete.is_file():  # console scripts name the venv's path: made in place, marked last
        shutil.rmtree(venv, ignore_errors=True)
        uv = str(Path(sys.executable).parent / "uv")
        interpreter = str(find_python("3.11"))
        subprocess.run([uv, "venv", "-q", str(venv), "--python", interpreter], check=True)
        env = {**os.environ, "VIRTUAL_ENV": str(venv)}
        subprocess.run([uv, "pip", "install", "-q", "dagster-cloud"], env=env, check=True)
        complete.write_text("")
    return python


def with_dagster_cloud(root: Path) -> Path:
    for loc in ("loc_a", "loc_b"):
        pyproject = root / loc / "pyproject.toml"
        text = pyproject.read_text().replace('"pandas",', '"pandas", "dagster-cloud",')
        pyproject.write_text(text)
    return root


def test_dagster_plus_needs_dagster_cloud_and_says_what_to_add(
    copy_project: Callable, tmp_path: Path
) -> None:
    root = copy_project("example_locations")
    with pytest.raises(ConfigError, match="needs dagster-cloud in deps.pex.*Add 'dagster-cloud'"):
        build_locations(root, ["loc_a"], out_dir=tmp_path, for_target="dagster-plus")
    assert not (tmp_path / "loc_a").exists() or not any((tmp_path).rglob("*.pex"))


def test_our_pair_runs_under_dagster_clouds_multipex_manager(
    copy_project: Callable, tmp_path: Path, dagster_cloud_python: Path
) -> None:
    root = with_dagster_cloud(copy_project("example_locations"))
    results: list[BuildResult] = build_locations(
        root, out_dir=tmp_path / "out", for_target="dagster-plus"
    )
    pex_dir = tmp_path / "pex-files"
    pex_dir.mkdir()
    locations = []
    for result in results:
        m = result.manifest
        assert (m.python, m.platforms) == ("3.11", ["manylinux_2_36_x86_64"])
        assert result.to_json()["for"] == "dagster-plus"
        shutil.copy(result.manifest_path.parent / m.deps.name, pex_dir)
        shutil.copy(result.source_path, pex_dir)
        target = {k: v for k, v in vars(m.target).items() if v and k != "working_directory"}
        locations.append({"name": m.location, "pex_tag": m.pex_tag, "target": target})

    env = {
        "PATH": f"{dagster_cloud_python.parent}:/usr/bin:/bin",
        "S3_PEX_DISABLED": "1",
        "VENVS_ROOT": str(tmp_path / "venvs"),
        "PEX_ROOT": str(tmp_path / "pex_root"),  # the manager deletes PEX_ROOT: never ours
        "HOME": str(tmp_path),
        "DAGSTER_HOME": str(tmp_path),
    }
    args = {"pex_dir": str(pex_dir), "deadline": 120, "locations": locations}
    out = subprocess.run(
        [str(dagster_cloud_python), str(DRIVER), json.dumps(args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    expected = {"loc_a": ["a_orders"], "loc_b": ["b_revenue"]}
    for result in results:
        name = result.manifest.location
        served = report[name]
        assert "error" not in served, served.get("error")
        assert served["ping"] == "fastdeploy"
        assert served["asset_keys"] == expected[name]
        assert served["working_directory"].endswith("working_directory/root")
        assert served["dagster_cloud_instance"] is True
        assert served["their_tag"] == result.manifest.pex_tag  # their tag: files=, sorted
