"""Pin a project's dependencies: from its own lock file (uv.lock, pylock.toml, a pex lock) when it
has one, else by resolving with `uv pip compile` (faster than `pex3 lock` here, see docs/build.md).

The result is a pinned, hashed requirements list that pex installs intransitively, and its
locked hash: a digest of the names, versions and artifact hashes, which names the deps.pex in the
cache, so that any input change that resolves to the same set reuses the same deps.pex.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dagster_fastdeploy.builder.pins import (
    Pin,
    canonical_text,
    locked_hash,
    pins_from_pex_lock,
    pins_from_pylock,
    pins_from_requirements,
    versions,
)
from dagster_fastdeploy.builder.requirements import DeclaredDeps
from dagster_fastdeploy.builder.target import BuildTarget
from dagster_fastdeploy.errors import BuildError

LOCK_FILES = ("uv.lock", "pylock.toml", "pex.lock", "lock.json")


@dataclass
class LockedDeps:
    """A pinned dependency set. `pex_args` makes pex install exactly it."""

    pins: list[Pin]
    pex_args: list[str]

    @property
    def locked_hash(self) -> str:
        return locked_hash(self.pins)

    @property
    def lock_text(self) -> str:
        """The pins as a hashed requirements file, kept beside deps.pex for people to read."""
        return canonical_text(self.pins)

    @property
    def versions(self) -> dict[str, str]:
        return versions(self.pins)

    @property
    def dagster_version(self) -> str | None:
        return self.versions.get("dagster")


def find_lock_file(root: Path) -> Path | None:
    for name in LOCK_FILES:
        path = root / name
        if path.is_file() and (name != "lock.json" or '"locked_resolves"' in path.read_text()):
            return path
    return None


def lock(
    declared: DeclaredDeps,
    target: BuildTarget,
    root: Path,
    extras: list[str],
    work_dir: Path,
) -> LockedDeps:
    """Pin the dependencies: from the project's lock file when it has one, else with uv."""
    lock_file = find_lock_file(root)
    if lock_file is not None and lock_file.name not in ("uv.lock", "pylock.toml"):
        data = json.loads(lock_file.read_text(encoding="utf-8"))
        return LockedDeps(
            pins_from_pex_lock(data), ["--lock", str(lock_file), *declared.requirements]
        )
    if lock_file is None:
        pins = pins_from_requirements(_uv_compile(declared, target, work_dir))
    elif lock_file.name == "uv.lock":
        pins = pins_from_requirements(_uv_export(root, extras))
    else:
        from dagster_fastdeploy.config import read_toml

        pins = _select_extras(pins_from_pylock(read_toml(lock_file)), extras)
    path = work_dir / "requirements.lock.txt"
    path.write_text(canonical_text(pins))
    return LockedDeps(pins, ["--intransitive", "-r", str(path)])


def _select_extras(pins: list[Pin], extras: list[str]) -> list[Pin]:
    """Evaluate pylock markers that name extras (PEP 751 `'x' in extras`) for `extras`."""
    kept = []
    for pin in pins:
        if pin.marker and "extras" in pin.marker:
            from packaging.markers import Marker

            try:
                selected = Marker(pin.marker).evaluate(
                    {"extras": set(extras), "dependency_groups": set()}
                )
            except Exception:  # a packaging too old for PEP 751 markers: keep the pin
                selected = True
            if not selected:
                continue
            pin = Pin(pin.name, pin.version, None, pin.hashes)
        kept.append(pin)
    return kept


def index_args(declared: DeclaredDeps) -> list[str]:
    """Index settings for uv (pex's are in deps_pex.pex_index_args)."""
    args: list[str] = []
    if declared.index_url:
        args += ["--index-url", declared.index_url]
    for url in declared.extra_index_urls:
        args += ["--extra-index-url", url]
    for link in declared.find_links:
        args += ["--find-links", link]
    return args


def _uv() -> str:
    from uv import find_uv_bin

    return find_uv_bin()


def _run_uv(args: list[str], what: str, cwd: Path | None = None) -> str:
    env = {**os.environ, "UV_NO_PROGRESS": "1"}
    result = subprocess.run([_uv(), *args], capture_output=True, text=True, env=env, cwd=cwd)
    if result.returncode != 0:
        raise BuildError(_explain_uv_failure(result.stderr, what))
    return result.stdout


_UNRESOLVABLE = (
    r"Because ([A-Za-z0-9_.\-\[\]]+(?:[<>=!~]=?[^\s,]+)?) was not found",
    r"no versions? of ([A-Za-z0-9_.\-\[\]]+(?:[<>=!~]=?[^\s,]+)?)",
    r"Because ([A-Za-z0-9_.\-\[\]]+(?:[<>=!~]=?[^\s,]+)?) depends on",
)


def _explain_uv_failure(stderr: str, what: str) -> str:
    detail = "\n".join(line for line in stderr.strip().splitlines() if line.strip())
    named = ""
    for pattern in _UNRESOLVABLE:
        match = re.search(pattern, detail)
        if match:
            named = f" ({match.group(1)})"
            break
    return (
        f"Could not resolve the project's dependencies{named} while {what}.\n{detail}\n"
        "Check the requirement's name and version, and the indexes in "
        "tool.dagster-fastdeploy (index_url, extra_index_urls, find_links)."
    )


def _uv_compile(declared: DeclaredDeps, target: BuildTarget, work_dir: Path) -> str:
    requirements_in = work_dir / "requirements.in"
    requirements_in.write_text("".join(f"{line}\n" for line in declared.requirements))
    indexes = ", ".join(
        [declared.index_url or "https://pypi.org/simple", *declared.extra_index_urls]
    )
    return _run_uv(
        [
            "pip",
            "compile",
            str(requirements_in),
            "--generate-hashes",
            "--no-header",
            "--no-annotate",
            "--quiet",
            *target.uv_args(),
            *index_args(declared),
        ],
        f"resolving {len(declared.requirements)} requirements with uv from {indexes}",
    )


def _uv_export(root: Path, extras: list[str]) -> str:
    args = ["export", "--frozen", "--format", "requirements-txt", "--no-header", "--no-dev"]
    args += ["--no-emit-project", "--no-emit-workspace", "--quiet", "--no-annotate"]
    for extra in extras:
        args += ["--extra", extra]
    text = _run_uv(args, "reading uv.lock", cwd=root)
    # Local path dependencies live in source.pex, never in deps.pex.
    kept = [
        line
        for line in re.split(r"\n(?=\S)", text)
        if line.strip() and not line.lstrip().startswith(("-e", ".", "/", "file:"))
    ]
    return "\n".join(kept) + "\n"
