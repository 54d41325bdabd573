"""How local files and directories are written: complete or not at all, one temp-name pattern."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dagster_fastdeploy.local_files import (
    TMP_PREFIX,
    atomic_directory,
    clean_stale_work_dirs,
    file_sha256,
    temp_file,
    write_atomically,
)


def test_a_filled_work_directory_becomes_the_target(tmp_path: Path) -> None:
    target = tmp_path / "entry"
    with atomic_directory(target) as work:
        assert work is not None and work.is_dir() and not any(work.iterdir())
        assert work.parent == tmp_path and work.name.startswith(f"{TMP_PREFIX}entry.")
        (work / "payload").write_text("built")
    assert (target / "payload").read_text() == "built"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".entry.lck", "entry"]


def test_an_existing_target_means_nothing_to_do(tmp_path: Path) -> None:
    (tmp_path / "entry").mkdir()
    with atomic_directory(tmp_path / "entry") as work:
        assert work is None


def test_a_failed_writer_leaves_no_target_and_no_work_directory(tmp_path: Path) -> None:
    target = tmp_path / "entry"
    with pytest.raises(RuntimeError), atomic_directory(target) as work:
        assert work is not None
        (work / "half").write_text("half")
        raise RuntimeError("build failed")
    assert not target.exists()
    assert not list(tmp_path.glob(f"{TMP_PREFIX}*"))


def test_a_lost_race_keeps_the_winners_directory(tmp_path: Path) -> None:
    """A writer that does not share our lock (another machine on a shared disk) renames its
    copy into place first: ours is dropped without an error, as pex's atomic_directory does."""
    target = tmp_path / "entry"
    with atomic_directory(target) as work:
        assert work is not None
        (work / "payload").write_text("ours")
        target.mkdir()
        (target / "payload").write_text("theirs")
    assert (target / "payload").read_text() == "theirs"
    assert not list(tmp_path.glob(f"{TMP_PREFIX}*"))


def test_write_atomically_replaces_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    path.write_text("old")
    write_atomically(path, '{"new": true}')
    assert path.read_text() == '{"new": true}'
    write_atomically(path, b"bytes")
    assert path.read_bytes() == b"bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_temp_files_sit_beside_their_final_name_and_are_readable(tmp_path: Path) -> None:
    final = tmp_path / "sub" / "deps.pex"
    with temp_file(final) as tmp:
        assert tmp.parent == final.parent and tmp.name.startswith(f"{TMP_PREFIX}deps.pex.")
        umask = os.umask(0)
        os.umask(umask)
        assert tmp.stat().st_mode & 0o777 == 0o666 & ~umask
    assert not tmp.exists()


def test_file_sha256_is_the_sha256_of_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"x" * (3 * 1024 * 1024 + 5))
    import hashlib

    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_crashed_writers_work_directory_is_cleaned_but_not_one_being_written(
    tmp_path: Path,
) -> None:
    crashed = tmp_path / f"{TMP_PREFIX}deps-abc.k3j2h1"  # its writer died: nobody holds the lock
    crashed.mkdir()
    (crashed / "half").write_text("half")
    with atomic_directory(tmp_path / "deps-def") as work:
        assert work is not None
        assert clean_stale_work_dirs(tmp_path) == [crashed.name]
        assert work.is_dir()  # this writer holds its lock: left alone
        (work / "payload").write_text("built")
    assert not crashed.exists() and (tmp_path / "deps-def" / "payload").is_file()
    assert clean_stale_work_dirs(tmp_path) == []
