"""Which files of the project directory go into source.pex under `working_directory/root`:
everything git would commit (tracked and untracked-but-not-ignored files), without `.git`,
caches, virtualenvs (any directory holding a `pyvenv.cfg`, whatever its name), the project root's
own build outputs (`dist/`, `build/`) or the build's own output directory, less the user's
`exclude` patterns. `include` patterns name files shipped even when git-ignored (a `.env`, say).

Outside a git checkout, every `.gitignore` from the root down is read with git's rules (pathspec's
GitIgnoreSpec): a pattern with a slash is anchored to its file's directory (`docs/*.md` matches
docs/x.md, not docs/sub/x.md), a deeper file overrides a shallower one, `!` re-includes, and
nothing under an ignored directory comes back. `exclude` and `include` use the same rules,
relative to the root.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pathspec

# Never shipped, at any depth, whatever .gitignore says.
ALWAYS_EXCLUDED_DIRS = {
    ".git",
    ".hg",
    ".svn",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".tox",
    ".nox",
    ".cache",
    ".venv",
    "venv",
    ".eggs",
    "node_modules",
    ".idea",
    ".vscode",
}
# Build outputs of the project itself: only at the project root (a `build` package deeper down
# is user code).
ROOT_BUILD_OUTPUTS = {"dist", "build"}
ALWAYS_EXCLUDED_FILES = ("*.pyc", "*.pyo", ".DS_Store", "*.egg-info")


def project_files(
    root: Path, exclude: list[str], out_dir: Path | None = None, include: list[str] | None = None
) -> list[str]:
    """Relative POSIX paths of the files to ship, sorted."""
    listed = _git_files(root)
    if listed is None:
        listed = _walk(root, gitignore=True)
    if include:
        wanted = _rules(include)
        listed = sorted(set(listed) | set(wanted.match_files(_walk(root, gitignore=False))))
    virtualenvs = tuple(rel[: -len("pyvenv.cfg")] for rel in listed if rel.endswith("/pyvenv.cfg"))
    skip_prefix = None
    if out_dir is not None:
        with contextlib.suppress(ValueError):
            skip_prefix = out_dir.resolve().relative_to(root).as_posix() + "/"
    excluded = _rules(exclude) if exclude else None
    kept = []
    for rel in listed:
        parts = rel.split("/")
        if _never_shipped_dir(parts[:-1]):
            continue
        if any(fnmatch.fnmatch(parts[-1], pattern) for pattern in ALWAYS_EXCLUDED_FILES):
            continue
        if skip_prefix and rel.startswith(skip_prefix):
            continue
        if virtualenvs and rel.startswith(virtualenvs):
            continue
        if excluded is not None and excluded.match_file(rel):
            continue
        if (root / rel).is_file():
            kept.append(rel)
    return sorted(kept)


def _rules(lines: list[str]) -> pathspec.GitIgnoreSpec:
    """Patterns with git's rules. pathspec is imported only here: a git checkout without
    `include` or `exclude` patterns needs none."""
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)


def in_git_checkout(root: Path) -> bool:
    """Whether git could find a repository for `root`: a `.git` (a directory, or a worktree's
    file) in it or above it (physically: git resolves symlinks), or one named by $GIT_DIR.
    Outside one, git is not run at all: a process start on every build that could only fail."""
    if os.environ.get("GIT_DIR"):
        return True
    real = Path(root).resolve()
    return any((directory / ".git").exists() for directory in (real, *real.parents))


def _never_shipped_dir(dirs: list[str]) -> bool:
    if dirs and dirs[0] in ROOT_BUILD_OUTPUTS:
        return True
    return any(d in ALWAYS_EXCLUDED_DIRS or d.endswith(".egg-info") for d in dirs)


def _git_files(root: Path) -> list[str] | None:
    if not in_git_checkout(root):
        return None
    try:
        result = subprocess.run(
            [
                "git",
                "-C",
                str(root),
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
                ".",
            ],
            capture_output=True,
        )
    except OSError:
        return None
    if result.returncode != 0:
        return None
    return sorted({p for p in result.stdout.decode("utf-8", "surrogateescape").split("\0") if p})


def _walk(root: Path, gitignore: bool) -> list[str]:
    """Every file under root but always-excluded dirs and virtualenvs; with `gitignore`, the
    files git would list (for a project outside a git checkout)."""
    found: list[str] = []
    # (directory relative to root, its .gitignore) from the root down to the current directory
    rules: dict[str, pathspec.GitIgnoreSpec] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        ignore_file = Path(dirpath) / ".gitignore"
        if gitignore and ignore_file.is_file():
            lines = ignore_file.read_text(encoding="utf-8").splitlines()
            rules[rel_dir] = _rules(lines)
        prefix = f"{rel_dir}/" if rel_dir else ""
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in ALWAYS_EXCLUDED_DIRS
            and not (Path(dirpath) / d / "pyvenv.cfg").is_file()
            and not _ignored(rules, prefix + d, is_dir=True)
        )
        found += [prefix + f for f in filenames if not _ignored(rules, prefix + f, is_dir=False)]
    return found


def _ignored(rules: dict[str, pathspec.GitIgnoreSpec], rel: str, is_dir: bool) -> bool:
    """git's answer for one path (its parent directories are not ignored: the walk prunes
    those): the last matching pattern of the deepest .gitignore that has one decides."""
    parts = rel.split("/")
    ignored = False
    for depth in range(len(parts)):
        spec = rules.get("/".join(parts[:depth]))
        if spec is None:
            continue
        below = "/".join(parts[depth:]) + ("/" if is_dir else "")
        verdict = spec.check_file(below).include
        if verdict is not None:
            ignored = verdict
    return ignored
