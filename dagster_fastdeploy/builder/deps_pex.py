"""Run pex to turn a pinned dependency set into deps.pex: reproducible, no project code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Callable

from dagster_fastdeploy.builder.lock import LockedDeps
from dagster_fastdeploy.builder.requirements import DeclaredDeps
from dagster_fastdeploy.builder.target import BuildTarget
from dagster_fastdeploy.errors import BuildError


def pex_command() -> list[str]:
    return [sys.executable, "-m", "pex"]


def pex_index_args(declared: DeclaredDeps) -> list[str]:
    """pex's index flags: `--index-url` adds an index, `--no-pypi` drops PyPI."""
    args: list[str] = []
    if declared.index_url:
        args += ["--no-pypi", "--index-url", declared.index_url]
    for url in declared.extra_index_urls:
        args += ["--index-url", url]
    for link in declared.find_links:
        args += ["--find-links", link]
    return args


def build_deps_pex(
    locked: LockedDeps,
    declared: DeclaredDeps,
    target: BuildTarget,
    output: Path,
    build_sdists: bool = True,
    progress: Callable[[str], None] | None = None,
    pre_resolved: Path | None = None,
    exclude: tuple[str, ...] = (),
) -> None:
    """Write deps.pex for `locked` at `output`; a failure is a BuildError that names the package.
    `pre_resolved`: a directory holding the locked wheels already (pex then runs no pip).
    `exclude`: projects pex leaves out (and names in PEX-INFO `excluded`) though a pin needs
    them: a part of a lock built on its own (deps_parts.py)."""
    args = [
        *pex_command(),
        *locked.pex_args,
        *target.pex_args(output.parent),
        *pex_index_args(declared),
        "--no-strip-pex-env",
        # pex vendors pip 20.3.4, older than newer platform tags and Pythons.
        "--pip-version",
        "26.2.1",
        "--no-emit-warnings",
        "-o",
        str(output),
    ]
    if not build_sdists:
        args.append("--no-build")
    if pre_resolved is not None:
        # pex checks that pre-resolved dists hold their own dependencies; an intransitive pin
        # list (a few new pins of a lock) need not. PEX-INFO's ignore_errors is true for an
        # intransitive build either way, so the bytes are the same.
        args += ["--pre-resolved-dists", str(pre_resolved), "--ignore-errors"]
    for name in exclude:
        args += ["--exclude", name]
    if progress is not None:
        args.append("-v")  # pex then reports its steps (resolving, downloading, installing) live
    env = {**os.environ, "_PEX_FILE_LOCK_STYLE": "bsd"}
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert process.stdout is not None
    lines: list[str] = []
    in_step = False  # inside a verbose `pex: ...` report, whose continuation lines are indented
    for line in process.stdout:
        if line.startswith("pex: ") or (in_step and line.startswith("  ")):
            in_step = True
            if progress is not None and line.startswith("pex: ") and "Re-writing" not in line:
                progress(line[len("pex: ") :].strip().split(" :: ")[-1][:100])
            continue
        in_step = False
        lines.append(line.rstrip())
    if process.wait() != 0:
        raise BuildError(_explain_pex_failure("\n".join(lines[-60:]), target))


def _explain_pex_failure(output: str, target: BuildTarget) -> str:
    platforms = ", ".join(target.platform_names)
    no_wheel = re.search(
        r"(?:No pre-built wheel was available for|Could not find a version that satisfies the "
        r"requirement|no wheel.*?for) ([A-Za-z0-9_.\-]+(?:[=<>!~]=?[^\s,]+)?)",
        output,
        re.I,
    )
    if no_wheel:
        return (
            f"No wheel of {no_wheel.group(1)} fits Python {target.python} on {platforms}, and it "
            "could not be built here.\nPin a version that publishes wheels for that platform, "
            "build for a platform it supports (--platform), or allow sdist builds "
            "(tool.dagster-fastdeploy.build_sdists = true) on a machine of the target platform.\n"
            f"pex said:\n{output}"
        )
    return f"pex could not build deps.pex for Python {target.python} on {platforms}:\n{output}"
