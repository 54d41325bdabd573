"""`rollback` and `gc` on both stores: rollback appends a version that serves earlier code;
gc deletes only what no kept version needs. Versions here are recorded from real blobs put in
the store (what a deploy does after its build), so these tests do not wait for builds."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from dagster_fastdeploy.actions.gc import collect_garbage
from dagster_fastdeploy.actions.rollback import NothingToRollBackError, rollback_location
from dagster_fastdeploy.errors import StoreError
from dagster_fastdeploy.manifest import pex_tag
from dagster_fastdeploy.store import open_store
from dagster_fastdeploy.store.base import Store
from dagster_fastdeploy.store.records import VersionEntry
from tests.test_store import make_blob


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dagster_fastdeploy.cli", *args], capture_output=True, text=True
    )


def record_version(
    store: Store,
    tmp_path: Path,
    source_seed: int,
    deps_seed: int = 0,
    location: str = "etl",
    deployment: str = "prod",
) -> str:
    """Put a deps and a source blob and append a version naming them, like a deploy does."""
    deps = make_blob(tmp_path, "deps", 50_000, seed=deps_seed)
    source = make_blob(tmp_path, "source", 20_000, seed=1000 + source_seed)
    store.put_blob(deps.name, deps)
    store.put_blob(source.name, source)
    tag = pex_tag(deps.name, source.name)
    store.append_version(
        deployment,
        location,
        lambda v: VersionEntry(
            v, tag, {"seed": source_seed}, datetime.now(timezone.utc).isoformat()
        ),
    )
    return tag


def test_rollback_records_a_new_version_that_serves_the_previous_code(
    store_url: str, tmp_path: Path
) -> None:
    store = open_store(store_url)
    first = record_version(store, tmp_path, 1)
    second = record_version(store, tmp_path, 2)

    done = cli("rollback", "--location", "etl", "--store", store_url, "--json")

    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["version"] == 3
    assert answer["rolled_back_to"] == 1
    assert answer["previous_version"] == 2
    assert answer["pex_tag"] == first
    record = store.read_record("prod", "etl")
    assert record is not None
    assert [(e.version, e.pex_tag, e.rollback_of) for e in record.history] == [
        (1, first, None),
        (2, second, None),
        (3, first, 1),
    ]
    assert record.history[2].deployed_by["user"]


def test_rolling_back_twice_goes_back_to_the_code_that_was_rolled_back(
    store_url: str, tmp_path: Path
) -> None:
    store = open_store(store_url)
    record_version(store, tmp_path, 1)
    second = record_version(store, tmp_path, 2)
    rollback_location(store, "etl")

    again = rollback_location(store, "etl")

    assert (again.version, again.rolled_back_to, again.pex_tag) == (4, 2, second)


def test_rollback_to_a_named_version(file_store_url: str, tmp_path: Path) -> None:
    store = open_store(file_store_url)
    first = record_version(store, tmp_path, 1)
    record_version(store, tmp_path, 2)
    record_version(store, tmp_path, 3)

    done = cli("rollback", "--location", "etl", "--to", "1", "--store", file_store_url)

    assert done.returncode == 0, done.stderr
    assert "v4 serves the code of v1 (was v3)" in done.stdout
    current = store.read_record("prod", "etl").current  # type: ignore[union-attr]
    assert current is not None and (current.pex_tag, current.rollback_of) == (first, 1)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--location", "etl", "--to", "9"], "has no version 9; its versions are 1, 2"),
        (["--location", "etl", "--to", "2"], "is the code already current"),
        (["--location", "nope"], "no location 'nope' in deployment 'prod'"),
        (["--location", "../etl"], "invalid location name '../etl'"),
        (["--location", "etl", "--deployment", "a/b"], "invalid deployment name 'a/b'"),
    ],
)
def test_a_rollback_that_cannot_be_done_says_why_and_changes_nothing(
    file_store_url: str, tmp_path: Path, args: list[str], message: str
) -> None:
    store = open_store(file_store_url)
    record_version(store, tmp_path, 1)
    record_version(store, tmp_path, 2)

    done = cli("rollback", *args, "--store", file_store_url)

    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert [e.version for e in store.read_record("prod", "etl").history] == [1, 2]  # type: ignore[union-attr]


def test_gc_deletes_only_blobs_no_version_references(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url)
    record_version(store, tmp_path, 1)
    record_version(store, tmp_path, 2)
    orphan = make_blob(tmp_path, "source", 30_000, seed=99)  # uploaded, never recorded
    store.put_blob(orphan.name, orphan)
    store.put_deps_index("stale", {"deps": {"name": "deps-" + "0" * 64 + ".pex"}})
    before = {b.name for b in store.list_blobs()}

    dry = collect_garbage(store, dry_run=True, min_age=0)
    assert dry.deleted == [orphan.name]
    assert {b.name for b in store.list_blobs()} == before

    done = cli("gc", "--store", store_url, "--min-age", "0", "--json")

    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["deleted"] == [orphan.name]
    assert answer["bytes_freed"] == 30_000
    assert answer["index_entries_deleted"] == ["stale"]
    assert {b.name for b in store.list_blobs()} == before - {orphan.name}


@pytest.mark.faults
def test_gc_keep_prunes_old_versions_but_never_a_current_one_nor_a_young_blob(
    file_store_url: str, tmp_path: Path
) -> None:
    store = open_store(file_store_url)
    old = record_version(store, tmp_path, 1)
    current = record_version(store, tmp_path, 2)
    other_deployment = record_version(store, tmp_path, 3, deployment="staging")

    young = collect_garbage(store, keep=1)  # default min-age: everything here is seconds old
    assert young.deleted == [] and len(young.kept_young) == 1

    result = collect_garbage(store, keep=1, min_age=0)

    assert result.deleted == [old.split(":")[1]]  # old source; the deps blob is shared
    names = {b.name for b in store.list_blobs()}
    for tag in (current, other_deployment):
        assert set(tag[len("files=") :].split(":")) <= names
    with pytest.raises(NothingToRollBackError, match="no longer in the store"):
        rollback_location(store, "etl", to=1)


def test_gc_keep_for_one_deployment_keeps_what_another_deployment_needs(
    file_store_url: str, tmp_path: Path
) -> None:
    store = open_store(file_store_url)
    shared = record_version(store, tmp_path, 1, deployment="staging")
    record_version(store, tmp_path, 1, deployment="prod")
    record_version(store, tmp_path, 2, deployment="prod")

    result = collect_garbage(store, deployment="prod", keep=1, min_age=0)

    assert result.deleted == []  # prod's v1 source is staging's current
    assert set(shared[len("files=") :].split(":")) <= {b.name for b in store.list_blobs()}


def test_gc_on_an_unreachable_store_is_a_clear_error(moto_server: object) -> None:
    from tests.fixtures_store import free_port

    done = cli(
        "gc",
        "--store",
        "s3://fastdeploy-artifacts",
        "--endpoint-url",
        f"http://127.0.0.1:{free_port()}",
    )

    assert done.returncode == 1
    assert "cannot reach the S3 endpoint" in done.stderr
    assert "Traceback" not in done.stderr
    with pytest.raises(StoreError):
        open_store("ftp://x")


def _report_failing(store: Store, version: int, host_id: str = "host-a") -> None:
    """A host's heartbeat, as a host writes it, saying `version` of etl failed to load there
    while version 1 keeps serving."""
    from dagster_fastdeploy.store.heartbeats import HostHeartbeat, ServedLocation, write_heartbeat

    now = datetime.now(timezone.utc).isoformat()
    write_heartbeat(
        store,
        HostHeartbeat(
            host_id, "prod", "127.0.0.1:1", False, "vm", 1, "0", now, now, 5.0,
            {"locations": None, "host_group": None},
            [ServedLocation("etl", "127.0.0.1:2", 2, version, 1, "failed")],
        ),
    )  # fmt: skip


def test_rollback_skips_code_a_host_reported_failing_and_warns_when_told_to_restore_it(
    file_store_url: str, tmp_path: Path
) -> None:
    store = open_store(file_store_url)
    first = record_version(store, tmp_path, 1)
    record_version(store, tmp_path, 2)  # failed to load on host-a
    third = record_version(store, tmp_path, 3)
    record_version(store, tmp_path, 4)
    _report_failing(store, 3)

    # by default: not v3 (failed on host-a), the one before it with different code
    done = cli("rollback", "--location", "etl", "--store", file_store_url, "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert (answer["rolled_back_to"], answer["warnings"]) == (2, [])

    # named: done, with a warning that says where it failed
    named = cli("rollback", "--location", "etl", "--to", "3", "--store", file_store_url)
    assert named.returncode == 0, named.stderr
    assert "warning: the code of v3 failed to load on host-a" in named.stderr
    current = store.read_record("prod", "etl").current  # type: ignore[union-attr]
    assert current is not None and (current.pex_tag, current.rollback_of) == (third, 3)

    # nothing left that did not fail: says so, records nothing
    for version, host in ((1, "host-b"), (2, "host-c"), (4, "host-d")):
        _report_failing(store, version, host)
    refused = cli("rollback", "--location", "etl", "--store", file_store_url)
    assert refused.returncode == 1
    assert "failed to load on a host" in refused.stderr and "--to" in refused.stderr
    versions = [e.version for e in store.read_record("prod", "etl").history]  # type: ignore[union-attr]
    assert versions == [1, 2, 3, 4, 5, 6] and first
