"""Which project files ship under working_directory/root: git's view, with or without git, less
the user's `exclude` (gitignore rules, relative to the project root)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dagster_fastdeploy.builder.project_files import project_files

FILES = {
    "pyproject.toml": "",
    ".gitignore": "*.log\n!keep.log\nscratch/\n/top_only.txt\ndocs/*.md\n",
    "app.log": "",
    "keep.log": "",
    "top_only.txt": "",
    "pkg/top_only.txt": "",
    "pkg/__init__.py": "",
    "pkg/.gitignore": "local.txt\n!special.log\n",
    "pkg/local.txt": "",
    "pkg/special.log": "",  # re-included by the deeper .gitignore
    "pkg/other.log": "",
    "pkg/scratch/notes.md": "",
    "scratch/notes.md": "",
    "docs/index.md": "",  # docs/*.md: only directly in docs/
    "docs/guide/intro.md": "",
    "pkg/__pycache__/x.cpython-311.pyc": "",
    "dist/fastdeploy/manifest.json": "",
    "build/lib/pkg/__init__.py": "",  # the root's build output
    "pkg/build/__init__.py": "",  # a package named build: user code
    ".venv/bin/python": "",
    "data/a.csv": "",
    "data/keep.csv": "",
    "data/b.json": "",
    "data/raw/c.csv": "",
    "notes/todo.txt": "",
}
EXCLUDE = ["data/*.csv", "!data/keep.csv", "notes/"]
EXPECTED = [
    ".gitignore",
    "data/b.json",
    "data/keep.csv",
    "data/raw/c.csv",
    "docs/guide/intro.md",
    "keep.log",
    "pkg/.gitignore",
    "pkg/__init__.py",
    "pkg/build/__init__.py",
    "pkg/special.log",
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
    """Nested patterns, negation at two depths, directory patterns, and `exclude` on top: the
    walker (no git) ships exactly what git would."""
    root = make_project(tmp_path / "project")
    if in_git:
        if shutil.which("git") is None:
            pytest.skip("git is not installed here")
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        subprocess.run(["git", "-C", str(root), "add", "pyproject.toml"], check=True)
    assert project_files(root, exclude=EXCLUDE) == EXPECTED


def test_the_walker_agrees_with_git_check_ignore(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed here")
    root = make_project(tmp_path / "project")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    paths = [p for p in FILES if not p.startswith((".venv/", "pkg/__pycache__/"))]
    ignored_by_git = subprocess.run(
        ["git", "-C", str(root), "check-ignore", "--no-index", "--stdin"],
        input="\n".join(paths),
        capture_output=True,
        text=True,
    ).stdout.split()
    shutil.rmtree(root / ".git")
    shipped = set(project_files(root, exclude=[]))
    for path in paths:
        never = path.startswith(("dist/", "build/"))
        assert (path in shipped) == (path not in ignored_by_git and not never), path


def test_an_exclude_pattern_with_a_slash_is_anchored_to_the_root(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project")
    shipped = project_files(root, exclude=["guide/*.md", "*.json"])
    assert "docs/guide/intro.md" in shipped  # guide/ is not at the root
    assert "data/b.json" not in shipped and "pyproject.toml" in shipped


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
    assert project_files(root, exclude=EXCLUDE) == EXPECTED


@pytest.mark.parametrize("in_git", [False, True], ids=["walker", "git"])
def test_include_ships_a_git_ignored_file(tmp_path: Path, in_git: bool) -> None:
    root = make_project(tmp_path / "project")
    (root / ".env").write_text("SECRET=1\n")
    (root / ".gitignore").write_text((root / ".gitignore").read_text() + ".env\n")
    if in_git:
        subprocess.run(["git", "init", "-q", str(root)], check=True)
    assert ".env" not in project_files(root, exclude=EXCLUDE)
    assert ".env" in project_files(root, exclude=EXCLUDE, include=[".env"])


def _commit_all(repo: Path) -> None:
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)


def test_a_project_inside_a_checkout_gets_gits_view_by_any_path(tmp_path: Path) -> None:
    """A project below the checkout's root, reached through a symlink, or in a worktree (whose
    .git is a file): git lists the files, so a tracked file a .gitignore matches still ships
    (the walker alone would leave it out)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed here")
    repo = tmp_path / "repo"
    project = make_project(repo / "project")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (project / "forced.log").write_text("tracked although *.log is ignored\n")
    subprocess.run(["git", "-C", str(repo), "add", "-f", "project/forced.log"], check=True)
    _commit_all(repo)
    (tmp_path / "link").symlink_to(project)
    worktree = tmp_path / "worktree"
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "-q", str(worktree)], check=True)
    for root in (project, tmp_path / "link", worktree / "project"):
        assert "forced.log" in project_files(root, exclude=[]), root


def test_outside_a_checkout_git_is_not_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No git process per build for a project outside any checkout (what `git ls-files` would
    answer there is a failure): a `git` first on PATH that records being run is never run."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ran = tmp_path / "git-ran"
    fake = bin_dir / "git"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {ran}\nexit 128\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.delenv("GIT_DIR", raising=False)
    root = make_project(tmp_path / "project")
    assert project_files(root, exclude=EXCLUDE) == EXPECTED
    assert not ran.exists()
