"""The CLI as one self-contained PEX (scripts/build_cli_pex.py), run by a bare interpreter outside
any virtualenv, as a CI runner runs it: it builds a project, resolving and packing deps.pex with
the pex and uv inside it. Marked `cli_pex` (it resolves and packs our own dependencies):
`.ci/run` runs it; `pytest -m cli_pex` here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dagster_fastdeploy.builder.interpreters import find_python

pytestmark = pytest.mark.cli_pex
REPO = Path(__file__).resolve().parent.parent


def bare_python() -> Path:
    """An interpreter that is no virtualenv's (pyenv's or the system's python3.11)."""
    python = Path(find_python("3.11")).resolve()
    assert not (python.parent.parent / "pyvenv.cfg").exists(), python
    return python


def test_the_cli_pex_builds_a_project_with_nothing_installed(
    shared_caches: Path, tmp_path: Path, copy_project
) -> None:
    cli = tmp_path / "dagster-fastdeploy.pex"
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_cli_pex.py"), "--out", str(cli)],
        check=True,
        capture_output=True,
    )
    env = {  # the machine's settings (certificates, proxies) but no virtualenv
        **{k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")},
        "PATH": "/usr/bin:/bin",  # no virtualenv's bin, no dagster-fastdeploy on PATH
        "HOME": str(tmp_path / "home"),
        "DAGSTER_FASTDEPLOY_CACHE": str(tmp_path / "fresh-cache"),  # deps.pex built in the PEX
    }
    python = str(bare_python())
    version = subprocess.run(
        [python, str(cli), "--version"], env=env, capture_output=True, text=True, check=True
    )
    assert "dagster-fastdeploy" in version.stdout or "version" in version.stdout
    project = copy_project()
    out = subprocess.run(
        [python, str(cli), "build", str(project), "--json", "--out", str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    data = json.loads(out.stdout)
    assert data["deps"]["built"] is True
    assert data["dagster_version"]
    assert (tmp_path / "out" / data["deps"]["name"]).is_file()
    assert (tmp_path / "out" / data["source"]["name"]).is_file()
