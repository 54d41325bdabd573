"""`dagster-fastdeploy build` as a user runs it: JSON for scripts, a summary for people, live
progress only on a terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from dagster_fastdeploy.builder import BuildResult

CLI = [sys.executable, "-m", "dagster_fastdeploy.cli", "build"]


def test_json_prints_one_object_with_the_result(
    example_build: BuildResult, example_project_dir: Path, tmp_path: Path
) -> None:
    out = subprocess.run(
        [*CLI, str(example_project_dir), "--out", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout)
    m = example_build.manifest
    assert data["deps"] == {
        "name": m.deps.name,
        "path": str(tmp_path / m.deps.name),
        "sha256": m.deps.sha256,
        "size": m.deps.size,
        "built": False,
    }
    assert data["source"]["name"] == m.source.name
    assert set(data["source"]) == {"name", "path", "sha256", "size"}
    assert data["pex_tag"] == m.pex_tag
    assert data["python"] == m.python
    assert data["deps_hash"] == m.deps_hash
    assert data["dagster_version"] == m.dagster_version
    assert {"deps", "source_pex", "total"} <= set(data["seconds"])
    assert out.stderr == ""
    for name in (m.deps.name, m.source.name, "manifest.json"):
        assert (tmp_path / name).is_file()


def test_default_out_dir_and_plain_summary_when_piped(
    example_build: BuildResult, copy_project
) -> None:
    project = copy_project()
    out = subprocess.run([*CLI], cwd=project, capture_output=True, text=True, check=True)
    assert out.stdout.startswith("Built example_project for Python")
    assert "(reused)" in out.stdout
    assert "\x1b[" not in out.stdout + out.stderr  # no live display when piped
    built = project / "dist" / "fastdeploy"
    assert (built / "manifest.json").is_file()
    assert (built / example_build.manifest.deps.name).is_file()


def test_live_progress_on_a_terminal(example_build: BuildResult, copy_project) -> None:
    project = copy_project()
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [*CLI, "--refresh-deps"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=follower,
        env={**os.environ, "TERM": "xterm", "COLUMNS": "120"},
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    stdout, _ = process.communicate()
    os.close(leader)
    assert process.returncode == 0
    assert b"Resolving dependencies" in shown
    assert stdout.decode().startswith("Built example_project")
