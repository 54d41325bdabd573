"""A cold deps.pex built by pex in parts, side by side, and assembled: pex zips on one core.

pex compresses every file of every wheel into deps.pex in one thread; on a cold build that is
most of the deps step. With every wheel fetched ahead (wheel_download.py), the lock is cut into
parts of about equal wheel bytes, one pex per part runs at the same time (intransitive, each from
a directory holding only its own wheels, the same flags), each part's wheel entries are kept in
the build cache as any pex-built wheel's are, and deps.pex is assembled from them exactly as a
lock that differs by a few pins is (deps_assemble.py): the same bytes as pex's whole build of
the lock (tests/test_build_deps_assemble.py).
"""

from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, TypeVar

from dagster_fastdeploy.builder.deps_assemble import (
    Progress,
    assemble_from_cache,
    project_of,
    remember_wheels,
)
from dagster_fastdeploy.builder.lock import LockedDeps
from dagster_fastdeploy.builder.pins import Pin, canonical_text
from dagster_fastdeploy.builder.requirements import DeclaredDeps
from dagster_fastdeploy.builder.target import BuildTarget
from dagster_fastdeploy.builder.wheel_download import DOWNLOADS_AT_ONCE, fetch_wheel, plan_wheels

MAX_PARTS = 4
T = TypeVar("T")


def parts_for(cpus: int | None, pins: int) -> int:
    """How many pex processes share a cold build: one per core, at most MAX_PARTS."""
    return max(1, min(cpus or 1, MAX_PARTS, pins))


def split_by_size(wheels: Path, pins: list[Pin], parts: int) -> list[list[Pin]]:
    """`pins` in `parts` groups of about equal wheel bytes (largest first, into the lightest)."""
    size = {pin.name: 0 for pin in pins}
    for wheel in wheels.glob("*.whl"):
        name = project_of(wheel.name)
        if name in size:
            size[name] += wheel.stat().st_size
    return _balanced(pins, lambda pin: size[pin.name], lambda pin: pin.name, parts)


def _balanced(
    items: list[T], size: Callable[[T], int], name: Callable[[T], str], parts: int
) -> list[list[T]]:
    groups: list[list[T]] = [[] for _ in range(parts)]
    loads = [0] * parts
    for item in sorted(items, key=lambda i: (-size(i), name(i))):
        lightest = loads.index(min(loads))
        groups[lightest].append(item)
        loads[lightest] += size(item)
    return [group for group in groups if group]


def build_in_parts(
    locked: LockedDeps,
    declared: DeclaredDeps,
    target: BuildTarget,
    output: Path,
    build_sdists: bool,
    wheels: Path,
    flags_version: int,
    progress: Progress = None,
    parts: int | None = None,
) -> dict[str, float] | None:
    """deps.pex for `locked` at `output`, from the wheels in `wheels` (all of the lock's), by
    one pex per part at once (`parts`: one per core by default); its seconds by step. None
    (nothing written) when there is one part only, or a pin names no fixed wheel or wheels
    and pins do not match one to one: pex then builds it whole."""
    parts = parts_for(parts or os.cpu_count(), len(locked.pins))
    if parts < 2 or not all(pin.hashes for pin in locked.pins):
        return None
    files = {wheel: project_of(wheel.name) for wheel in wheels.glob("*.whl")}
    if set(files.values()) != {pin.name for pin in locked.pins}:
        return None  # a wheel for no pin, or a pin without its wheel: not what pex would get
    groups = split_by_size(wheels, locked.pins, parts)
    work = _new_parts(output, groups)
    for i, group in enumerate(groups):
        mine = {pin.name for pin in group}
        for wheel, name in files.items():
            if name in mine:
                os.link(wheel, work / f"{i}" / "wheels" / wheel.name)
    if progress is not None:
        progress(f"{len(locked.pins)} packages in {len(groups)} parts at once")
    return _build_and_assemble(
        locked, groups, work, declared, target, output, build_sdists, flags_version, {}
    )


def download_and_build_in_parts(
    locked: LockedDeps,
    declared: DeclaredDeps,
    target: BuildTarget,
    output: Path,
    build_sdists: bool,
    flags_version: int,
    progress: Progress = None,
    parts: int | None = None,
) -> dict[str, float] | None:
    """deps.pex for `locked` at `output`, its wheels downloaded part after part (`parts`: one
    per core by default) and each part's pex started as soon as its wheels are in: the download
    (network) and pex (compression) overlap. None (nothing written) when there is one part
    only, or the index does not say every wheel and its size (a PEP 700 index, as PyPI's JSON
    API): the caller downloads, then builds.

    More parts than cores overlapped more of a slow download, but each pex process costs its
    own start and threads: with the downloads pooled (0.4 s for the example's 51 wheels), two
    parts on two cores build the example's deps.pex in 6.9-8.1 s where four took 7.6-9.1 s."""
    parts = parts_for(parts or os.cpu_count(), len(locked.pins))
    if parts < 2 or not all(pin.hashes for pin in locked.pins):
        return None
    started = time.perf_counter()
    planned = plan_wheels(locked.pins, declared, target)
    if planned is None or any(wheel.size is None for wheel in planned):
        return None
    planned_names = [wheel.pin.name for wheel in planned]
    if len(set(planned_names)) != len(planned_names):
        return None
    by_part = _balanced(planned, lambda w: w.size or 0, lambda w: w.pin.name, parts)
    groups = [[wheel.pin for wheel in part] for part in by_part]
    work = _new_parts(output, groups)
    if progress is not None:
        progress(f"{len(locked.pins)} packages in {len(groups)} parts, each built once fetched")
    # deps_pex_download (until the last wheel is in) overlaps deps_pex_in_parts (from the
    # first download to the last part's pex).
    seconds: dict[str, float] = {"deps_pex_downloaded": float(len(planned))}
    finished: list[float] = []
    with ThreadPoolExecutor(max_workers=DOWNLOADS_AT_ONCE) as pool:
        # In part order: the first part's wheels are in first, and its pex starts then.
        fetched = [
            [pool.submit(fetch_wheel, wheel, work / f"{i}" / "wheels") for wheel in part]
            for i, part in enumerate(by_part)
        ]
        for jobs in fetched:
            for job in jobs:
                job.add_done_callback(lambda _: finished.append(time.perf_counter()))
        result = _build_and_assemble(
            locked, groups, work, declared, target, output, build_sdists, flags_version,
            seconds, [_all_fetched(jobs) for jobs in fetched],
        )  # fmt: skip
    seconds["deps_pex_download"] = max(finished, default=started) - started
    if result is None:  # every download has ended: nothing of this attempt is left behind
        shutil.rmtree(work, ignore_errors=True)
        return None
    return seconds


def _new_parts(output: Path, groups: list[list[Pin]]) -> Path:
    """A fresh `parts/` beside `output`: per group, its pins file and an empty `wheels/`."""
    work = output.parent / "parts"
    shutil.rmtree(work, ignore_errors=True)
    for i, group in enumerate(groups):
        (work / f"{i}" / "wheels").mkdir(parents=True)
        (work / f"{i}" / "pins.txt").write_text(canonical_text(group))
    return work


def _all_fetched(jobs: list[Future[bool]]) -> Callable[[], bool]:
    def wait() -> bool:
        try:
            return all(job.result() for job in jobs)
        except (OSError, ValueError, KeyError, IndexError):
            return False

    return wait


def _build_and_assemble(
    locked: LockedDeps,
    groups: list[list[Pin]],
    work: Path,
    declared: DeclaredDeps,
    target: BuildTarget,
    output: Path,
    build_sdists: bool,
    flags_version: int,
    seconds: dict[str, float],
    ready: list[Callable[[], bool]] | None = None,
) -> dict[str, float] | None:
    """One pex per group at once (each once `ready[i]()` says its wheels are in), each part's
    wheel entries kept as soon as it is built, deps.pex assembled from them; None when a part's
    wheels did not come."""
    from dagster_fastdeploy.builder.deps_pex import build_deps_pex

    # pex subsets pre-resolved wheels to their closure: the other parts' pins are excluded
    # (and written back out of PEX-INFO `excluded` when assembling).
    names = {pin.name for pin in locked.pins}
    others = [sorted(names - {pin.name for pin in group}) for group in groups]

    def one(i: int) -> Path | None:
        if ready is not None and not ready[i]():
            return None
        part = work / f"{i}"
        build_deps_pex(
            LockedDeps(groups[i], ["--intransitive", "-r", str(part / "pins.txt")]),
            declared,
            target,
            part / "deps.pex",
            build_sdists,
            None,
            part / "wheels",
            tuple(others[i]),
        )
        # Kept now, while the other parts' pex still runs (one core is idle at the end).
        remember_wheels(part / "deps.pex", groups[i], target, flags_version)
        return part / "deps.pex"

    seconds["deps_pex_parts"] = float(len(groups))
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(groups)) as pool:
        built = list(pool.map(one, range(len(groups))))
    seconds["deps_pex_in_parts"] = time.perf_counter() - started
    if any(path is None for path in built):
        shutil.rmtree(work, ignore_errors=True)
        return None
    started = time.perf_counter()
    assert built[0] is not None
    done = assemble_from_cache(built[0], locked.pins, target, flags_version, output, others[0])
    shutil.rmtree(work, ignore_errors=True)
    seconds["deps_pex_assemble"] = time.perf_counter() - started
    return seconds if done else None
