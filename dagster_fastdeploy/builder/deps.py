"""The deps step: from declared requirements to `deps-<sha256>.pex`, doing as little as possible.

1. The deps input hash covers everything that can change the dependency set (normalized declared
   requirements, lock file contents, target Python and platforms, index settings, build flags). It
   needs no resolve. When the local cache has a deps.pex for it: done, no resolver, no pex.
2. Else, when the caller's `known_deps` (the store's deps index) knows it: done, nothing built.
3. Else lock (uv, or the project's own lock file). The locked hash names the cache entry, so an
   input change that resolves to the same pins reuses the deps.pex built for them; so does the
   store, asked for `locked-<locked hash>` (deploy writes the deps index under both keys).
4. Else run pex, write the entry atomically, and remember input hash -> entry.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from dagster_fastdeploy.builder.cache import cache_root, place_file
from dagster_fastdeploy.builder.cache_prune import mark_used
from dagster_fastdeploy.builder.lock import LockedDeps, find_lock_file, lock
from dagster_fastdeploy.builder.requirements import DeclaredDeps
from dagster_fastdeploy.builder.target import BuildTarget
from dagster_fastdeploy.config import ProjectConfig
from dagster_fastdeploy.errors import BuildError
from dagster_fastdeploy.local_files import atomic_directory, file_sha256, write_atomically
from dagster_fastdeploy.manifest import Artifact

DEPS_HASH_VERSION = 1
# Bump when the pex flags in deps_pex.py change what pex writes (part of every deps cache key).
PEX_FLAGS_VERSION = 3
Progress = Callable[[str], None]
KnownDeps = Callable[[str], Optional[dict[str, Any]]]


@dataclass
class DepsOutcome:
    entry: dict[str, Any]  # the deps index entry (see deps_index_entry)
    path: Path | None  # deps.pex in the out dir; None when only the store has it
    built: bool  # pex ran in this build
    resolved: bool  # the resolver ran in this build
    seconds: dict[str, float]

    @property
    def artifact(self) -> Artifact:
        return Artifact(**self.entry["deps"])


def input_hash(config: ProjectConfig, target: BuildTarget, declared: DeclaredDeps) -> str:
    lock_file = find_lock_file(config.root)
    payload = {
        "version": DEPS_HASH_VERSION,
        "requirements": declared.requirements,
        "extras": sorted(config.extras),
        "lock_file": None
        if lock_file is None
        else [lock_file.name, hashlib.sha256(lock_file.read_bytes()).hexdigest()],
        "python": target.python,
        "implementation": sys.implementation.name,
        "platforms": target.platform_names,
        "index_url": declared.index_url,
        "extra_index_urls": declared.extra_index_urls,
        "find_links": declared.find_links,
        "build_sdists": config.build_sdists,
        "pex_flags": PEX_FLAGS_VERSION,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def _by_input(deps_hash: str) -> Path:
    return cache_root() / "deps-by-input" / f"{deps_hash}.json"


def _entry_dir(locked_hash: str) -> Path:
    return cache_root() / "deps" / locked_hash


def cached_entry(deps_hash: str) -> tuple[dict[str, Any], Path] | None:
    """The locally cached deps.pex for an input hash, with its entry, or None."""
    pointer = _by_input(deps_hash)
    if not pointer.is_file():
        return None
    entry = json.loads(pointer.read_text())
    path = _entry_dir(entry["locked_hash"]) / entry["deps"]["name"]
    return (entry, path) if path.is_file() else None


def _remember(deps_hash: str, entry: dict[str, Any]) -> None:
    pointer = _by_input(deps_hash)
    pointer.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(pointer, json.dumps(entry, indent=2, sort_keys=True))


def prepare_deps(
    config: ProjectConfig,
    target: BuildTarget,
    declared: DeclaredDeps,
    deps_hash: str,
    out_dir: Path,
    refresh: bool,
    known_deps: KnownDeps | None,
    progress: Progress,
) -> DepsOutcome:
    """The deps step (see the module docstring): deps.pex in `out_dir`, or the store's entry."""
    if not refresh:
        cached = cached_entry(deps_hash)
        if cached is not None:
            entry, path = cached
            mark_used(path.parent)
            return DepsOutcome(
                entry, _place(path, out_dir), built=False, resolved=False, seconds={}
            )
        known = known_deps(deps_hash) if known_deps else None
        if known is not None:
            return DepsOutcome(known, _place_local(known, out_dir), False, False, {})

    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="fastdeploy-lock-") as tmp:
        progress("Resolving dependencies")
        started = time.perf_counter()
        locked = _lock_with_dagster(config, target, declared, Path(tmp))
        seconds["lock"] = time.perf_counter() - started
        key = [locked.locked_hash, target.python, target.platform_names, PEX_FLAGS_VERSION]
        locked_hash = hashlib.sha256(json.dumps(key).encode()).hexdigest()
        if not _entry_dir(locked_hash).is_dir() and known_deps is not None:
            # Pins another machine already built and stored: nothing to build here either.
            known = known_deps(f"locked-{locked_hash}")
            if known is not None:
                return DepsOutcome(known, _place_local(known, out_dir), False, True, seconds)
        built = False
        with atomic_directory(_entry_dir(locked_hash)) as work:
            if work is not None:
                progress(f"Building deps.pex ({len(locked.versions)} packages)")
                started = time.perf_counter()
                seconds.update(
                    _build_entry(config, target, declared, locked, locked_hash, work, progress)
                )
                seconds["deps_pex"] = time.perf_counter() - started
                built = True
    entry = json.loads((_entry_dir(locked_hash) / "entry.json").read_text())
    _remember(deps_hash, entry)
    path = _entry_dir(locked_hash) / entry["deps"]["name"]
    return DepsOutcome(entry, _place(path, out_dir), built=built, resolved=True, seconds=seconds)


def _place(path: Path, out_dir: Path) -> Path:
    place_file(path, out_dir / path.name)
    return out_dir / path.name


def _place_local(entry: dict[str, Any], out_dir: Path) -> Path | None:
    """The store's deps.pex from the local cache when this machine built it too, else None."""
    local = _entry_dir(entry["locked_hash"]) / entry["deps"]["name"]
    return _place(local, out_dir) if local.is_file() else None


def _lock_with_dagster(
    config: ProjectConfig, target: BuildTarget, declared: DeclaredDeps, work_dir: Path
) -> LockedDeps:
    locked = lock(declared, target, config.root, config.extras, work_dir)
    if "dagster" not in locked.versions:
        raise BuildError(
            f"dagster is not among {config.name}'s dependencies, so its code location "
            "could not load. Add it to [project] dependencies in pyproject.toml (or "
            'requirements.txt / setup.py install_requires), e.g. "dagster==1.13.*", and '
            "build again."
        )
    return locked


def _build_entry(
    config: ProjectConfig,
    target: BuildTarget,
    declared: DeclaredDeps,
    locked: LockedDeps,
    locked_hash: str,
    work: Path,
    progress: Progress,
) -> dict[str, float]:
    """Fill a cache entry's work dir: deps-<sha256>.pex, requirements.lock.txt, entry.json."""
    from dagster_fastdeploy.builder.deps_assemble import (
        assemble_deps_pex,
        build_whole,
        remember_wheels,
    )

    def say(step: str) -> None:
        progress(f"Building deps.pex: {step}")

    staging = work / "deps.pex"
    args = (declared, target, staging, config.build_sdists)
    try:
        seconds = assemble_deps_pex(locked, *args, PEX_FLAGS_VERSION, say)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        say(f"cached wheels not usable ({e}); building it whole")
        seconds = None
    if seconds is None:
        seconds = build_whole(locked, *args, PEX_FLAGS_VERSION, say)
        if "deps_pex_parts" not in seconds:  # built in parts: its wheels are kept already
            started = time.perf_counter()
            # Each wheel's entries, kept for the next lock that differs by a few pins.
            remember_wheels(staging, locked.pins, target, PEX_FLAGS_VERSION)
            seconds["deps_pex_keep_wheels"] = time.perf_counter() - started
    sha256 = file_sha256(staging)
    artifact = Artifact(Artifact.name_for("deps", sha256), sha256, staging.stat().st_size)
    staging.rename(work / artifact.name)
    (work / "requirements.lock.txt").write_text(locked.lock_text)
    entry = {
        "deps": {"name": artifact.name, "sha256": sha256, "size": artifact.size},
        "locked_hash": locked_hash,
        "dagster_version": locked.dagster_version,
        "python": target.python,
        "platforms": target.platform_names,
    }
    (work / "entry.json").write_text(json.dumps(entry, indent=2, sort_keys=True))
    return seconds
