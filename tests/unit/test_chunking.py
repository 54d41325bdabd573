"""How a PEX file is cut into chunks: one per wheel, so a changed dependency changes only its own
chunk (and the central directory), and the chunks put back together are the file."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from dagster_fastdeploy.errors import IntegrityError
from dagster_fastdeploy.store.chunking import (
    CENTRAL_DIRECTORY,
    decode_chunk,
    recipe_for,
    split_pex,
)


def fake_deps_pex(directory: Path, wheels: dict[str, bytes]) -> Path:
    """A zip laid out as pex lays out a deps.pex (shebang, sorted entries), named by digest."""
    tmp = directory / "deps.pex"
    with open(tmp, "wb") as fp:
        fp.write(b"#!/usr/bin/env python3\n")
        with zipfile.ZipFile(fp, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr(".bootstrap/pex/__init__.py", b"bootstrap")
            for wheel, data in sorted(wheels.items()):
                zf.writestr(f".deps/{wheel}/{wheel.split('-')[0]}/__init__.py", data)
            zf.writestr("PEX-INFO", b"{}")
            zf.writestr("__main__.py", b"main")
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    return tmp.rename(directory / f"deps-{digest}.pex")


def test_one_chunk_per_wheel_and_the_chunks_are_the_file(tmp_path: Path) -> None:
    pex = fake_deps_pex(tmp_path, {"a-1.0-py3-none-any.whl": b"A", "b-2.0-py3-none-any.whl": b"B"})
    pieces = split_pex(pex.name, pex)
    assert pieces is not None
    parts = [p.ref.part for p in pieces]
    assert parts == [
        ".bootstrap",
        ".deps/a-1.0-py3-none-any.whl",
        ".deps/b-2.0-py3-none-any.whl",
        "other",
        CENTRAL_DIRECTORY,
    ]
    data = pex.read_bytes()
    rebuilt = b"".join(data[p.offset : p.offset + p.ref.size] for p in pieces)
    assert rebuilt == data
    assert recipe_for(pex.name, pieces).size == len(data)


def test_a_changed_wheel_changes_only_its_chunk_and_the_central_directory(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    before = fake_deps_pex(tmp_path / "one", {"a-1.0-py3-none-any.whl": b"A", "b-2.0-x.whl": b"B"})
    after = fake_deps_pex(tmp_path / "two", {"a-1.0-py3-none-any.whl": b"A", "b-2.0-x.whl": b"C"})
    old = {p.ref.part: p.ref.sha256 for p in split_pex(before.name, before) or []}
    new = {p.ref.part: p.ref.sha256 for p in split_pex(after.name, after) or []}
    changed = {part for part in new if new[part] != old.get(part)}
    assert changed == {".deps/b-2.0-x.whl", CENTRAL_DIRECTORY}


def test_bytes_that_are_not_their_name_are_refused(tmp_path: Path) -> None:
    pex = fake_deps_pex(tmp_path, {"a-1.0-py3-none-any.whl": b"A"})
    wrong = pex.rename(tmp_path / f"deps-{'0' * 64}.pex")
    with pytest.raises(IntegrityError, match="corrupted"):
        split_pex(wrong.name, wrong)


def test_a_damaged_chunk_is_refused_on_read(tmp_path: Path) -> None:
    pex = fake_deps_pex(tmp_path, {"a-1.0-py3-none-any.whl": b"A"})
    pieces = split_pex(pex.name, pex) or []
    raw = next(p for p in pieces if p.ref.part.startswith(".deps/"))
    good = pex.read_bytes()[raw.offset : raw.offset + raw.ref.size]
    assert decode_chunk(pex.name, raw.ref, good, "here", "recipe") == good
    with pytest.raises(IntegrityError, match="does not match its digest"):
        decode_chunk(pex.name, raw.ref, good[:-1] + b"!", "here", "recipe")
