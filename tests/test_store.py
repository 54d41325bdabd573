"""The artifact store, the same behaviour from `file://` and from `s3://` on a real moto server
over HTTP: blobs written once and verified on read, the deps index, deployment records that
never lose an update, and names that cannot escape the store."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from dagster_fastdeploy.errors import IntegrityError, InvalidNameError, StoreError
from dagster_fastdeploy.store import open_store
from dagster_fastdeploy.store.base import Store
from dagster_fastdeploy.store.file import FileStore
from dagster_fastdeploy.store.records import VersionEntry
from dagster_fastdeploy.store.s3 import S3Store


def make_blob(directory: Path, kind: str = "source", size: int = 200_000, seed: int = 0) -> Path:
    """A file named like a built PEX: `<kind>-<sha256>.pex`."""
    data = hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1)
    data = data[:size]
    path = directory / f"{kind}-{hashlib.sha256(data).hexdigest()}.pex"
    path.write_bytes(data)
    return path


def entry(version: int, tag: str = "files=deps-a.pex:source-b.pex") -> VersionEntry:
    return VersionEntry(
        version=version,
        pex_tag=tag,
        manifest={},
        deployed_at=datetime.now(timezone.utc).isoformat(),
    )


def corrupt_stored_blob(store: Store, name: str) -> None:
    """Flip the stored bytes behind the store's back, as a disk or a bad copy would."""
    if isinstance(store, FileStore):
        path = store.local_blob_path(name)
        assert path is not None
        data = bytearray(path.read_bytes())
        data[100] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        assert isinstance(store, S3Store)
        key = f"{store.prefix}blobs/{name}"
        data = bytearray(store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read())
        data[100] ^= 0xFF
        store._replacing.add(key)  # this raw overwrite is the fault under test
        store.client.put_object(Bucket=store.bucket, Key=key, Body=bytes(data))


def test_a_blob_is_uploaded_once_and_read_back_verified(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url)
    blob = make_blob(tmp_path)

    assert not store.has_blob(blob.name)
    assert store.put_blob(blob.name, blob) is True
    assert store.has_blob(blob.name)
    assert store.put_blob(blob.name, blob) is False  # content-addressed: nothing to upload

    seen: list[tuple[int, int]] = []
    out = store.get_blob(
        blob.name, tmp_path / "out" / "copy.pex", progress=lambda *p: seen.append(p)
    )
    assert out.read_bytes() == blob.read_bytes()
    assert seen[-1] == (blob.stat().st_size, blob.stat().st_size)
    assert [b.name for b in store.list_blobs()] == [blob.name]


def test_a_large_blob_moves_in_parts_with_progress(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url)
    blob = make_blob(tmp_path, kind="deps", size=20 * 1024 * 1024 + 5)
    seen: list[tuple[int, int]] = []

    assert store.put_blob(blob.name, blob, progress=lambda *p: seen.append(p))

    assert seen[-1] == (blob.stat().st_size, blob.stat().st_size)
    assert len(seen) > 2
    copy = store.get_blob(blob.name, tmp_path / "copy.pex")
    assert copy.read_bytes() == blob.read_bytes()


@pytest.mark.faults
def test_a_corrupted_blob_is_rejected_on_read_and_leaves_nothing(
    store_url: str, tmp_path: Path
) -> None:
    store = open_store(store_url)
    blob = make_blob(tmp_path)
    store.put_blob(blob.name, blob)
    corrupt_stored_blob(store, blob.name)
    dest_dir = tmp_path / "host-cache"

    with pytest.raises(IntegrityError, match=blob.name):
        store.get_blob(blob.name, dest_dir / blob.name)

    assert list(dest_dir.iterdir()) == []


@pytest.mark.faults
def test_putting_a_blob_again_repairs_a_damaged_stored_copy(
    file_store_url: str, tmp_path: Path
) -> None:
    store = open_store(file_store_url)
    blob = make_blob(tmp_path)
    store.put_blob(blob.name, blob)
    corrupt_stored_blob(store, blob.name)

    assert store.put_blob(blob.name, blob) is True

    assert store.get_blob(blob.name, tmp_path / "copy.pex").read_bytes() == blob.read_bytes()


def test_a_truncated_s3_blob_is_replaced_when_put_again(s3_store_url: str, tmp_path: Path) -> None:
    store = open_store(s3_store_url)
    assert isinstance(store, S3Store)
    blob = make_blob(tmp_path)
    key = f"{store.prefix}blobs/{blob.name}"
    store._replacing.add(key)  # a broken upload tool wrote half the bytes under the final key
    store.client.put_object(Bucket=store.bucket, Key=key, Body=blob.read_bytes()[:1000])
    store._replacing.clear()

    assert store.put_blob(blob.name, blob) is True

    assert store.get_blob(blob.name, tmp_path / "copy.pex").read_bytes() == blob.read_bytes()


def test_bytes_that_do_not_match_their_name_are_never_stored(
    store_url: str, tmp_path: Path
) -> None:
    store = open_store(store_url)
    blob = make_blob(tmp_path)
    wrong = tmp_path / f"source-{'0' * 64}.pex"
    wrong.write_bytes(blob.read_bytes())

    with pytest.raises(IntegrityError, match=wrong.name):
        store.put_blob(wrong.name, wrong)

    assert not store.has_blob(wrong.name)


KILLED_MID_UPLOAD = """
import os, signal, sys
from pathlib import Path
from dagster_fastdeploy.store import open_store

def die(done, total):
    if done > 0:
        os.kill(os.getpid(), signal.SIGKILL)

path = Path(sys.argv[2])
open_store(sys.argv[1]).put_blob(path.name, path, progress=die)
"""


@pytest.mark.faults
def test_an_upload_killed_midway_is_never_visible_and_the_next_one_completes(
    store_url: str, tmp_path: Path
) -> None:
    store = open_store(store_url)
    blob = make_blob(tmp_path, kind="deps", size=18 * 1024 * 1024)

    killed = subprocess.run([sys.executable, "-c", KILLED_MID_UPLOAD, store_url, str(blob)])

    assert killed.returncode == -9
    assert not store.has_blob(blob.name)
    assert store.list_blobs() == []
    assert store.put_blob(blob.name, blob) is True
    assert store.get_blob(blob.name, tmp_path / "copy.pex").read_bytes() == blob.read_bytes()
    assert store.clean_partial_uploads(older_than=0) == 1  # the dead upload's leftovers
    assert store.clean_partial_uploads(older_than=0) == 0


def test_the_deps_index_answers_what_was_put(store_url: str) -> None:
    store = open_store(store_url)
    entry_ = {"deps": {"name": "deps-x.pex", "sha256": "x", "size": 1}, "locked_hash": "abc"}

    assert store.get_deps_index("abc123") is None
    store.put_deps_index("abc123", entry_)
    store.put_deps_index("locked-abc", entry_)

    assert store.get_deps_index("abc123") == entry_
    assert store.list_deps_index() == {"abc123": entry_, "locked-abc": entry_}


def test_versions_grow_and_the_last_one_is_current(store_url: str) -> None:
    store = open_store(store_url)

    store.append_version("prod", "etl", lambda v: entry(v, "files=deps-1.pex:source-1.pex"))
    record = store.append_version(
        "prod", "etl", lambda v: entry(v, "files=deps-1.pex:source-2.pex")
    )

    assert [e.version for e in record.history] == [1, 2]
    assert store.read_record("prod", "etl") == record
    assert record.current is not None and record.current.pex_tag.endswith("source-2.pex")
    assert store.list_locations("prod") == ["etl"]
    assert store.list_deployments() == ["prod"]
    assert store.read_record("prod", "other") is None
    assert store.list_locations("staging") == []


def test_a_deploy_that_lands_in_between_is_kept_not_overwritten(store_url: str) -> None:
    """Deploy A reads the record, deploy B appends, then A writes: A's compare-and-swap fails,
    A starts again from B's record. Made deterministic by running B inside A's make_entry."""
    store = open_store(store_url)
    other = open_store(store_url)
    store.append_version("prod", "etl", lambda v: entry(v, "files=deps-0.pex:source-0.pex"))
    calls: list[int] = []

    def make_entry_a(version: int) -> VersionEntry:
        calls.append(version)
        if len(calls) == 1:
            other.append_version("prod", "etl", lambda v: entry(v, "files=deps-b.pex:source-b.pex"))
        return entry(version, "files=deps-a.pex:source-a.pex")

    record = store.append_version("prod", "etl", make_entry_a)

    assert calls == [2, 3]  # the first attempt lost the race and was retried
    assert [(e.version, e.pex_tag) for e in record.history] == [
        (1, "files=deps-0.pex:source-0.pex"),
        (2, "files=deps-b.pex:source-b.pex"),
        (3, "files=deps-a.pex:source-a.pex"),
    ]
    assert store.read_record("prod", "etl") == record


APPEND_MANY = """
import sys, time
from datetime import datetime, timezone
from pathlib import Path
from dagster_fastdeploy.store import open_store
from dagster_fastdeploy.store.records import VersionEntry
url, writer, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
store = open_store(url)
store.read_record("prod", "etl")  # connect before the start line
while not go.exists():
    time.sleep(0.005)
for i in range(count):
    store.append_version("prod", "etl", lambda v: VersionEntry(
        v, f"files=deps-{writer}.pex:source-{i}.pex", {}, datetime.now(timezone.utc).isoformat()))
"""


@pytest.mark.faults
def test_concurrent_deploys_from_many_processes_lose_no_version(
    store_url: str, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    writers = [
        subprocess.Popen([sys.executable, "-c", APPEND_MANY, store_url, f"w{n}", "6", str(go)])
        for n in range(4)
    ]
    go.touch()
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0, 0]

    record = open_store(store_url).read_record("prod", "etl")
    assert record is not None
    assert [e.version for e in record.history] == list(range(1, 25))
    tags = {e.pex_tag for e in record.history}
    assert tags == {f"files=deps-w{n}.pex:source-{i}.pex" for n in range(4) for i in range(6)}


@pytest.mark.faults
def test_a_record_damaged_by_hand_is_a_clear_error_not_a_traceback(store_url: str) -> None:
    store = open_store(store_url)
    store.append_version("prod", "etl", entry)
    if isinstance(store, FileStore):
        (store.root / "deployments" / "prod" / "etl.json").write_text('{"history": [')
    else:
        assert isinstance(store, S3Store)
        key = f"{store.prefix}deployments/prod/etl.json"
        store.client.put_object(Bucket=store.bucket, Key=key, Body=b'{"history": [')

    with pytest.raises(StoreError, match="etl.json is not valid JSON"):
        store.read_record("prod", "etl")
    with pytest.raises(StoreError, match="etl.json is not valid JSON"):
        store.append_version("prod", "etl", entry)


def test_the_file_store_writes_files_other_users_can_read(
    file_store_url: str, tmp_path: Path
) -> None:
    """A warm host often runs as another user than the one who deploys."""
    store = open_store(file_store_url)
    assert isinstance(store, FileStore)
    blob = make_blob(tmp_path)
    store.put_blob(blob.name, blob)
    store.append_version("prod", "etl", entry)
    store.put_deps_index("abc", {"deps": {}})

    for path in [
        store.root / "blobs" / blob.name,
        store.root / "deployments" / "prod" / "etl.json",
        store.root / "deps-index" / "abc.json",
    ]:
        assert path.stat().st_mode & 0o044 == 0o044, path


@pytest.mark.parametrize("name", ["../etc", "a/b", "..", ".hidden", "a b", "", "x" * 101, "é"])
@pytest.mark.faults
def test_names_that_could_escape_the_store_are_refused_before_any_write(
    store_url: str, name: str
) -> None:
    store = open_store(store_url)

    with pytest.raises(InvalidNameError):
        store.append_version(name, "etl", entry)
    with pytest.raises(InvalidNameError):
        store.append_version("prod", name, entry)

    assert store.list_deployments() == []


@pytest.mark.parametrize(
    "url", ["http://example.com/x", "relative/store", "file://relative/store", "s3://Bad_Bucket/x"]
)
def test_a_store_url_of_another_kind_is_a_clear_error(url: str) -> None:
    with pytest.raises(StoreError, match="file:///|s3://bucket"):
        open_store(url)


def test_the_default_store_is_under_the_home_directory_unless_the_environment_says(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from dagster_fastdeploy.store import default_store_url

    monkeypatch.delenv("DAGSTER_FASTDEPLOY_STORE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_store_url() == (tmp_path / ".dagster-fastdeploy" / "store").as_uri()
    assert isinstance(open_store(None), FileStore)

    monkeypatch.setenv("DAGSTER_FASTDEPLOY_STORE", "s3://team-bucket/dagster")
    assert default_store_url() == "s3://team-bucket/dagster"


def test_a_file_store_url_with_spaces_and_its_url_round_trip(tmp_path: Path) -> None:
    root = tmp_path / "team share" / "store"
    store = open_store(root.as_uri())
    blob = make_blob(tmp_path)

    store.put_blob(blob.name, blob)

    assert (root / "blobs" / blob.name).is_file()
    assert open_store(store.url).has_blob(blob.name)
