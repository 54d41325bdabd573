"""Which files of the project directory go into source.pex under `working_directory/root`:
everything git would commit (tracked and untracked-but-not-ignored files), without `.git`,
caches, `dist/`, virtualenvs (any directory holding a `pyvenv.cfg`, whatever its name) or the
build's own output. Outside a git checkout, `.gitignore` files are read with the same pattern
rules. `include` patterns name files shipped even when git-ignored (a `.env`, say)."""

from __future__ import annotations

import contextlib
import fnmatch
import os
import subprocess
from pathlib import Path

# Never shipped, whatever .gitignore says.
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
    "dist",
    "build",
    "node_modules",
    ".idea",
    ".vscode",
}
ALWAYS_EXCLUDED_FILES = ("*.pyc", "*.pyo", ".DS_Store", "*.egg-info")


def project_files(
    root: Path, exclude: list[str], out_dir: Path | None = None, include: list[str] | None = None
) -> list[str]:
    """Relative POSIX paths of the files to ship, sorted."""
    listed = _git_files(root)
    if listed is None:
        listed = _walk(root, _GitIgnore(root))
    if include:
        wanted = {rel for rel in _walk(root, None) if _matches_any(rel, include)}
        listed = sorted(set(listed) | wanted)
    virtualenvs = tuple(rel[: -len("pyvenv.cfg")] for rel in listed if rel.endswith("/pyvenv.cfg"))
    skip_prefix = None
    if out_dir is not None:
        with contextlib.suppress(ValueError):
            skip_prefix = out_dir.resolve().relative_to(root).as_posix() + "/"
    kept = []
    for rel in listed:
        parts = rel.split("/")
        if any(p in ALWAYS_EXCLUDED_DIRS or p.endswith(".egg-info") for p in parts[:-1]):
            continue
        if any(fnmatch.fnmatch(parts[-1], pattern) for pattern in ALWAYS_EXCLUDED_FILES):
            continue
        if skip_prefix and rel.startswith(skip_prefix):
            continue
        if virtualenvs and rel.startswith(virtualenvs):
            continue
        if exclude and _matches_any(rel, exclude):
            continue
        if (root / rel).is_file():
            kept.append(rel)
    return sorted(kept)


def _git_files(root: Path) -> list[str] | None:
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


def _matches_any(rel: str, patterns: list[str]) -> bool:
    """Whether a gitignore-style pattern names the file or one of its directories."""
    parts = rel.split("/")
    paths = [("/".join(parts[:i]), True) for i in range(1, len(parts))] + [(rel, False)]
    return any(
        _GitIgnore.match(pattern, path, is_dir) for pattern in patterns for path, is_dir in paths
    )


class _GitIgnore:
    """Enough of gitignore's rules for projects outside a git checkout."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.rules: dict[str, list[str]] = {}

    def load(self, rel_dir: str) -> None:
        path = self.root / rel_dir / ".gitignore"
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
        self.rules[rel_dir] = [
            line.strip() for line in lines if line.strip() and not line.startswith("#")
        ]

    def ignored(self, rel: str, is_dir: bool) -> bool:
        result = False
        parts = rel.split("/")
        for depth in range(len(parts)):
            base = "/".join(parts[:depth])
            sub = "/".join(parts[depth:])
            for pattern in self.rules.get(base, []):
                negate = pattern.startswith("!")
                if self.match(pattern.lstrip("!"), sub, is_dir):
                    result = not negate
        return result

    @staticmethod
    def match(pattern: str, rel: str, is_dir: bool) -> bool:
        if pattern.endswith("/"):
            if not is_dir:
                return False
            pattern = pattern.rstrip("/")
        if pattern.startswith("/") or "/" in pattern:
            return fnmatch.fnmatch(rel, pattern.lstrip("/")) or fnmatch.fnmatch(
                rel, pattern.lstrip("/") + "/*"
            )
        return any(fnmatch.fnmatch(part, pattern) for part in rel.split("/"))


def _walk(root: Path, ignore: _GitIgnore | None) -> list[str]:
    """Every file under root but always-excluded dirs and virtualenvs (and, with `ignore`,
    git-ignored files)."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        if ignore is not None:
            ignore.load(rel_dir)
        prefix = f"{rel_dir}/" if rel_dir else ""
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in ALWAYS_EXCLUDED_DIRS
            and not (Path(dirpath) / d / "pyvenv.cfg").is_file()
            and not (ignore is not None and ignore.ignored(prefix + d, True))
        )
        found += [
            prefix + f for f in filenames if ignore is None or not ignore.ignored(prefix + f, False)
        ]
    return found
