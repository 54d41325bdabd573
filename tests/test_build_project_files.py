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
