"""deps.pex for a lock that differs from an earlier one by a few pins, without rebuilding it.

pex writes a deps.pex as the shebang, `.bootstrap/` and `.deps/`, then one run of entries per
wheel (`.deps/<wheel>/...`, sorted by wheel name), then `PEX-INFO`, `__main__.py` and `__pex__/`.
A wheel's run of entries depends only on that wheel, and it holds no offsets (see zip_blocks.py),
so it is kept in the build cache once pex has written it:

    <cache>/wheel-entries/blocks/<wheel>-<fingerprint>.zip   the wheel's entries, as pex wrote them
    <cache>/wheel-entries/pins/<pin key>.json                a pin's wheels and requirement string

A new lock then costs pex only for its new pins (a small PEX of just them, same flags: its wheel
runs, shebang, bootstrap and PEX-INFO are what the full build would write), and the new deps.pex
is those runs put in pex's order, with PEX-INFO (`requirements`, `distributions`, `pex_hash`) and
the two entry points that name `pex_hash` written anew, then the central directory. The result is
byte for byte what pex writes for the whole lock (tests/test_build_deps_assemble.py proves it),
so every digest, store chunk and Dagster+ launcher sees an ordinary deps.pex.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import zipfile
from collections.abc import Collection
from pathlib import Path
from typing import Any, Callable, Optional

from dagster_fastdeploy.builder.cache import cache_root
from dagster_fastdeploy.builder.cache_prune import mark_used
from dagster_fastdeploy.builder.lock import LockedDeps
from dagster_fastdeploy.builder.pex_zip import dump_pex_info, pex_version
from dagster_fastdeploy.builder.pins import Pin, canonical, canonical_text
from dagster_fastdeploy.builder.requirements import DeclaredDeps
from dagster_fastdeploy.builder.target import BuildTarget
from dagster_fastdeploy.builder.wheel_download import download_wheels, self_contained
from dagster_fastdeploy.builder.zip_blocks import (
    Item,
    NewFile,
    read_block,
    save_block,
    single_entries,
    split_blocks,
    write_zip,
)
from dagster_fastdeploy.local_files import write_atomically

FORMAT = 1
REWRITTEN = ("PEX-INFO", "__main__.py", "__pex__/__init__.py")
Progress = Optional[Callable[[str], None]]


def _part(name: str) -> str:
    parts = name.split("/", 2)
    if len(parts) >= 2 and parts[0] == ".deps" and parts[1]:
        return f".deps/{parts[1]}"
    return "other"


def _root() -> Path:
    return cache_root() / "wheel-entries"


def _pin_key(pin: Pin, target: BuildTarget, flags_version: int) -> str:
    key = [FORMAT, pin.requirement_line(), target.python, target.platform_names]
    key += [flags_version, pex_version()]
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()


def project_of(wheel: str) -> str:
    return canonical(wheel.split("-", 1)[0])


def _requirement_project(requirement: str) -> str:
    name = requirement.split(";", 1)[0]
    for stop in "[=<>!~ ":
        name = name.split(stop, 1)[0]
    return canonical(name.strip())


def remember_wheels(
    pex_path: Path, pins: list[Pin], target: BuildTarget, flags_version: int
) -> None:
    """Keep each wheel's entries of a deps.pex pex wrote, and which wheels each pin gave."""
    _, blocks = split_blocks(pex_path, _part)
    with zipfile.ZipFile(pex_path) as archive:
        pex_info = json.loads(archive.read("PEX-INFO"))
    fingerprints: dict[str, str] = pex_info["distributions"]
    (_root() / "blocks").mkdir(parents=True, exist_ok=True)
    (_root() / "pins").mkdir(parents=True, exist_ok=True)
    for part, block in blocks:
        if part.startswith(".deps/"):
            wheel = part[len(".deps/") :]
            path = _block_path(wheel, fingerprints[wheel])
            if not path.exists():
                save_block(block, path)
    for pin in pins:
        if not pin.hashes:
            continue  # a pin without artifact hashes names no fixed wheel
        wheels = {w: f for w, f in fingerprints.items() if project_of(w) == pin.name}
        requirements = [r for r in pex_info["requirements"] if _requirement_project(r) == pin.name]
        document = {"requirements": requirements, "wheels": wheels}
        path = _root() / "pins" / f"{_pin_key(pin, target, flags_version)}.json"
        write_atomically(path, json.dumps(document, sort_keys=True))


def _block_path(wheel: str, fingerprint: str) -> Path:
    return _root() / "blocks" / f"{wheel}-{fingerprint}.zip"


def _cached(pin: Pin, target: BuildTarget, flags_version: int) -> dict[str, Any] | None:
    if not pin.hashes:
        return None
    try:
        document = json.loads(
            (_root() / "pins" / f"{_pin_key(pin, target, flags_version)}.json").read_text()
        )
    except (OSError, ValueError):
        return None
    blocks = [_block_path(w, f) for w, f in document["wheels"].items()]
    if not all(block.is_file() for block in blocks):
        return None
    for block in blocks:
        mark_used(block)
    return dict(document)


def assemble_deps_pex(
    locked: LockedDeps,
    declared: DeclaredDeps,
    target: BuildTarget,
    output: Path,
    build_sdists: bool,
    flags_version: int,
    progress: Progress = None,
) -> dict[str, float] | None:
    """Write deps.pex for `locked` at `output` from cached wheels plus pex's build of only the
    pins not cached yet; its seconds by step. None (nothing written) when the cache knows none
    of the pins, or the lock is not a pin list (a pex lock file): pex then builds it whole."""
    from dagster_fastdeploy.builder.deps_pex import build_deps_pex

    if not locked.pex_args or locked.pex_args[0] != "--intransitive":
        return None
    seconds: dict[str, float] = {}
    found = {pin: _cached(pin, target, flags_version) for pin in locked.pins}
    missing = [pin for pin, entry in found.items() if entry is None]
    if len(missing) == len(found):
        return None
    if not missing:  # pins only removed: pex still writes the frame (bootstrap, PEX-INFO)
        missing = [min(found, key=lambda p: _size(found[p]))]
    work = output.parent
    new_pins = work / "new-pins.txt"
    new_pins.write_text(canonical_text(missing))
    small = work / "new-wheels.pex"
    if progress is not None:
        progress(f"{len(missing)} new of {len(found)} packages")
    started = time.perf_counter()
    downloaded: Path | None = work / "new-wheels"
    fetched = download_wheels(missing, declared, target, work / "new-wheels")
    if fetched and self_contained(work / "new-wheels"):
        seconds["deps_pex_downloaded"] = float(len(missing))
    else:
        downloaded = None  # pex's pip fetches them (intransitive: no closure needed)
    seconds["deps_pex_download"] = time.perf_counter() - started
    started = time.perf_counter()
    build_deps_pex(
        LockedDeps(missing, ["--intransitive", "-r", str(new_pins)]),
        declared,
        target,
        small,
        build_sdists,
        progress,
        downloaded,
    )
    seconds["deps_pex_new_wheels"] = time.perf_counter() - started
    started = time.perf_counter()
    remember_wheels(small, missing, target, flags_version)
    if not assemble_from_cache(small, locked.pins, target, flags_version, output):
        return None
    small.unlink()
    new_pins.unlink()
    shutil.rmtree(work / "new-wheels", ignore_errors=True)
    seconds["deps_pex_assemble"] = time.perf_counter() - started
    return seconds


def assemble_from_cache(
    frame: Path,
    pins: list[Pin],
    target: BuildTarget,
    flags_version: int,
    output: Path,
    frame_excluded: Collection[str] = (),
) -> bool:
    """deps.pex for `pins` at `output` from their cached wheel entries, in the shebang,
    bootstrap and tail of `frame` (a deps.pex pex wrote with the same flags, plus `--exclude`
    for `frame_excluded`, which PEX-INFO then does not name); False (nothing written) when a
    pin's wheels are not all cached."""
    entries = [_cached(pin, target, flags_version) for pin in pins]
    if any(entry is None for entry in entries):
        return False
    _write(frame, [e for e in entries if e is not None], output, frame_excluded)
    return True


def build_whole(
    locked: LockedDeps,
    declared: DeclaredDeps,
    target: BuildTarget,
    output: Path,
    build_sdists: bool,
    flags_version: int,
    progress: Progress = None,
    parts: int | None = None,
) -> dict[str, float]:
    """pex's build of the whole lock, its wheels fetched ahead in parallel when they can be
    (see wheel_download.py: then pex runs no pip, and `parts` pex processes, one per core by
    default, build it side by side: deps_parts.py); its seconds by step. After a build in
    parts, its wheels' entries are in the cache already (`deps_pex_parts` in the seconds)."""
    from dagster_fastdeploy.builder.deps_parts import (
        build_in_parts,
        download_and_build_in_parts,
    )
    from dagster_fastdeploy.builder.deps_pex import build_deps_pex

    seconds: dict[str, float] = {}
    pins = locked.pins if locked.pex_args[:1] == ["--intransitive"] else []
    if pins and parts != 1:
        overlapped = download_and_build_in_parts(
            locked, declared, target, output, build_sdists, flags_version, progress, parts
        )
        if overlapped is not None:
            return overlapped
    started = time.perf_counter()
    wheels: Path | None = output.parent / "wheels"
    if pins and download_wheels(pins, declared, target, output.parent / "wheels"):
        seconds["deps_pex_downloaded"] = float(len(pins))
    else:
        wheels = None
    seconds["deps_pex_download"] = time.perf_counter() - started
    in_parts = None
    if wheels is not None:
        in_parts = build_in_parts(
            locked, declared, target, output, build_sdists, wheels, flags_version, progress, parts
        )
    if in_parts is not None:
        seconds.update(in_parts)
    else:
        started = time.perf_counter()
        build_deps_pex(locked, declared, target, output, build_sdists, progress, wheels)
        seconds["deps_pex_full"] = time.perf_counter() - started
    shutil.rmtree(output.parent / "wheels", ignore_errors=True)
    return seconds


def _size(entry: dict[str, Any] | None) -> int:
    assert entry is not None
    return sum(_block_path(w, f).stat().st_size for w, f in entry["wheels"].items())


def _write(
    frame: Path, entries: list[dict[str, Any]], output: Path, frame_excluded: Collection[str]
) -> None:
    """deps.pex: `frame`'s shebang, bootstrap and tail around the wheels of `entries`."""
    prefix, blocks = split_blocks(frame, _part)
    if blocks[0][0] != "other" or blocks[-1][0] != "other":
        raise ValueError(f"{frame}: not laid out as pex writes a deps.pex")
    wheels: dict[str, str] = {}
    requirements: set[str] = set()
    for entry in entries:
        wheels.update(entry["wheels"])
        requirements.update(entry["requirements"])
    with zipfile.ZipFile(frame) as archive:
        frame_info = json.loads(archive.read("PEX-INFO"))
        texts = {name: archive.read(name) for name in REWRITTEN}
    pex_info = dict(frame_info)
    pex_info["distributions"] = wheels
    pex_info["requirements"] = sorted(requirements)
    if frame_excluded:
        pex_info["excluded"] = [e for e in frame_info["excluded"] if e not in frame_excluded]
    pex_info.pop("pex_hash", None)
    new_hash = hashlib.sha1(dump_pex_info(pex_info).encode("utf-8")).hexdigest()
    pex_info["pex_hash"] = new_hash
    texts["PEX-INFO"] = dump_pex_info(pex_info).encode("utf-8")
    old_hash = frame_info["pex_hash"].encode()
    for name in REWRITTEN[1:]:
        texts[name] = texts[name].replace(old_hash, new_hash.encode())

    items: list[Item] = [blocks[0][1]]
    items += [read_block(_block_path(w, wheels[w])) for w in sorted(wheels)]
    for single in single_entries(blocks[-1][1]):
        record = single.records[0]
        if record.filename in texts:
            executable = bool((record.external_attr >> 16) & 0o111)
            items.append(NewFile(record.filename, texts[record.filename], executable))
        else:
            items.append(single)
    write_zip(output, prefix, items)
