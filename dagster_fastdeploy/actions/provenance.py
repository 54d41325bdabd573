"""Who and what deployed a version, for the deployment record's history."""

from __future__ import annotations

import getpass
import socket
import subprocess
from pathlib import Path
from typing import Any


def _git(project_dir: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(project_dir), *args],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def deployed_by(project_dir: Path | None) -> dict[str, Any]:
    """{user, host, tool, and git_commit + git_dirty when the project is in a git work tree}."""
    from dagster_fastdeploy import __version__
    from dagster_fastdeploy.builder.project_files import in_git_checkout

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    who: dict[str, Any] = {
        "user": user,
        "host": socket.gethostname(),
        "tool": f"dagster-fastdeploy {__version__}",
    }
    if project_dir is not None and in_git_checkout(project_dir):
        commit = _git(project_dir, "rev-parse", "HEAD")
        if commit:
            who["git_commit"] = commit
            status = _git(project_dir, "status", "--porcelain", "--untracked-files=no", "--", ".")
            who["git_dirty"] = bool(status)
    return who
