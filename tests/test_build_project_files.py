"""Which project files ship under working_directory/root: git's view, with or without git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dagster_fastdeploy.builder.project_files import project_files

FILES = {
    "pyproject.toml": "",
    ".gitignore": "*.log\n!keep.log\nscratch/\n/top_only.txt\n",
    "app.log": "",
    "keep.log": "",
    "top_only.txt": "",
    "pkg/top_only.txt": "",
    "pkg/__init__.py": "",
    "pkg/.gitignore": "local.txt\n",
    "pkg/local.txt": "",
    "pkg/scratch/notes.md": "",
    "scratch/notes.md": "",
    "pkg/__pycache__/x.cpython-311.pyc": "",
    "dist/fastdeploy/manifest.json": "",
    ".venv/bin/python": "",
    "data/a.csv": "",
    "data/b.json": "",
}
EXPECTED = [
    ".gitignore",
    "data/b.json",
    "keep.log",
    "pkg/.gitignore",
    "pkg/__init__.py",
    "pkg/top_only.txt",
    "pyproject.toml",
]


def make_project(root: Path) -> Path:
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize("in_git", [False, True], ids=["walker", "git"])
def test_gitignore_rules_and_excludes(tmp_path: Path, in_git: bool) -> None:
    root = make_project(tmp_path / "project")
    if in_git:
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        subprocess.run(["git", "-C", str(root), "add", "pyproject.toml"], check=True)
    assert project_files(root, exclude=["data/*.csv"]) == EXPECTED


@pytest.mark.parametrize("in_git", [False, True], ids=["walker", "git"])
def test_a_directory_with_pyvenv_cfg_is_a_virtualenv_whatever_its_name(
    tmp_path: Path, in_git: bool
) -> None:
    root = make_project(tmp_path / "project")
    for rel in ("envs/py311/pyvenv.cfg", "envs/py311/lib/site.py", ".venv2/pyvenv.cfg"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("home = /usr/bin\n")
    if in_git:
        subprocess.run(["git", "init", "-q", str(root)], check=True)
    assert project_files(root, exclude=["data/*.csv"]) == EXPECTED


@pytest.mark.parametrize("in_git", [False, True], ids=["walker", "git"])
def test_include_ships_a_git_ignored_file(tmp_path: Path, in_git: bool) -> None:
    root = make_project(tmp_path / "project")
    (root / ".env").write_text("SECRET=1\n")
    (root / ".gitignore").write_text((root / ".gitignore").read_text() + ".env\n")
    if in_git:
        subprocess.run(["git", "init", "-q", str(root)], check=True)
    assert ".env" not in project_files(root, exclude=["data/*.csv"])
    assert ".env" in project_files(root, exclude=["data/*.csv"], include=[".env"])
