"""PEX files move through the store as content-addressed chunks (one per wheel, pex's bootstrap,
the other entries, the compressed central directory) plus a recipe: a dependency change sends
about the changed wheel's bytes, not the whole deps.pex. Real builds of example_project, with and
without one small extra dependency, on a file store and on a real moto S3 server over HTTP."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dagster_fastdeploy.builder import BuildResult
from dagster_fastdeploy.errors import IntegrityError, StoreError
from dagster_fastdeploy.store import open_store
from dagster_fastdeploy.store.base import Store
from dagster_fastdeploy.store.chunking import ChunkRef, Recipe
from dagster_fastdeploy.store.file import FileStore
from dagster_fastdeploy.store.s3 import S3Store
from tests.fixtures_store import SMALL_DEPENDENCY, add_small_dependency
from tests.test_deploy import deploy_json, run_cli

MB = 1024 * 1024


def deps_pex(build: BuildResult) -> Path:
    assert build.deps_path is not None
    return Path(build.deps_path)


def recipe_of(store: Store, name: str) -> Recipe:
    recipe = store.read_recipe(name)
    assert recipe is not None, f"{name} is not stored as chunks"
    return recipe


def wheel_chunk(recipe: Recipe, project: str) -> ChunkRef:
    [chunk] = [c for c in recipe.chunks if c.part.startswith(f".deps/{project}-")]
    return chunk


def read_chunk(store: Store, name: str) -> bytes:
    if isinstance(store, FileStore):
        return (store.root / "chunks" / name).read_bytes()
    assert isinstance(store, S3Store)
    key = f"{store.prefix}chunks/{name}"
    return bytes(store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read())


def overwrite_chunk(store: Store, name: str, data: bytes) -> None:
    """Replace a stored chunk's bytes behind the store's back, as a disk or a bad copy would."""
    if isinstance(store, FileStore):
        (store.root / "chunks" / name).write_bytes(data)
        return
    assert isinstance(store, S3Store)
    key = f"{store.prefix}chunks/{name}"
    store._replacing.add(key)  # this raw overwrite is the fault under test
    store.client.put_object(Bucket=store.bucket, Key=key, Body=data)
    store._replacing.discard(key)


def test_adding_one_small_dependency_uploads_about_that_wheels_bytes_not_the_whole_deps_pex(
    store_url: str,
    example_copy: Path,
    example_build: BuildResult,
    example_build_with_small_dependency: BuildResult,
) -> None:
    first = deploy_json(example_copy, store_url)
    add_small_dependency(example_copy, example_build)

    second = deploy_json(example_copy, store_url)

    deps_name, source_name = second["pex_tag"][len("files=") :].split(":")
    assert deps_name == example_build_with_small_dependency.manifest.deps.name
    assert not first["pex_tag"].startswith(f"files={deps_name}:")
    assert second["uploaded"] == [deps_name, source_name]
    assert second["deps_bytes"] == deps_pex(example_build_with_small_dependency).stat().st_size
    assert second["deps_bytes"] > 40 * MB
    new_wheel = wheel_chunk(recipe_of(open_store(store_url), deps_name), SMALL_DEPENDENCY)
    # the new wheel, the new central directory (compressed), PEX-INFO, the new source.pex's own
    # files and the two recipes: everything else was in the store already
    assert new_wheel.stored_size <= second["bytes_uploaded"] <= new_wheel.size + 1 * MB
    assert first["bytes_uploaded"] > 40 * MB  # the first deploy sent the whole deps.pex


def test_a_reassembled_deps_pex_is_byte_identical_and_runs(
    store_url: str, example_build_with_small_dependency: BuildResult, tmp_path: Path
) -> None:
    store = open_store(store_url)
    deps = deps_pex(example_build_with_small_dependency)
    seen: list[tuple[int, int]] = []

    sent = store.upload_blob(deps.name, deps)
    copy = store.get_blob(
        deps.name, tmp_path / "host" / deps.name, progress=lambda *p: seen.append(p)
    )

    assert sent > 40 * MB
    assert [b.name for b in store.list_blobs()] == [deps.name]
    assert store.has_blob(deps.name)
    recipe = recipe_of(store, deps.name)
    assert len(recipe.chunks) > 40  # one per wheel, and a few more
    assert copy.read_bytes() == deps.read_bytes()
    assert seen[-1] == (deps.stat().st_size, deps.stat().st_size)
    assert sorted(p.name for p in copy.parent.iterdir()) == [deps.name]  # no temp files left
    ran = subprocess.run(
        [sys.executable, str(copy), "-c", f"import pandas, {SMALL_DEPENDENCY}; print('ok')"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "ok"


@pytest.mark.faults
def test_a_corrupted_chunk_is_rejected_on_read_and_a_new_upload_repairs_it(
    store_url: str, example_build: BuildResult, tmp_path: Path
) -> None:
    store = open_store(store_url)
    deps = deps_pex(example_build)
    store.upload_blob(deps.name, deps)
    pandas = wheel_chunk(recipe_of(store, deps.name), "pandas")
    bad = bytearray(read_chunk(store, pandas.name))
    bad[len(bad) // 2] ^= 0xFF
    overwrite_chunk(store, pandas.name, bytes(bad))  # same size: only the digest can tell
    host_dir = tmp_path / "host"

    with pytest.raises(IntegrityError) as refused:
        store.get_blob(deps.name, host_dir / deps.name)

    message = str(refused.value)
    assert f"blob {deps.name} is corrupted in the store" in message
    assert pandas.name in message and "deploy the same code again" in message
    assert list(host_dir.iterdir()) == []
    # the reader moved the damaged chunk aside, so uploading the same blob puts it back
    assert not store.blob_complete(deps.name)
    assert pandas.stored_size <= store.upload_blob(deps.name, deps) < pandas.size + 1 * MB
    assert store.get_blob(deps.name, host_dir / deps.name).read_bytes() == deps.read_bytes()
    # the damaged copy stays in quarantine/ for a look, until gc's --min-age has passed
    [damaged] = store.list_quarantined()
    assert damaged.name.startswith(f"{pandas.name}.") and damaged.size == len(bad)
    kept = json.loads(run_cli("gc", "--store", store_url, "--json").stdout)
    assert kept["quarantine_deleted"] == 0 and len(store.list_quarantined()) == 1
    swept = run_cli("gc", "--store", store_url, "--min-age", "0", "--json")
    assert swept.returncode == 0, swept.stderr
    assert json.loads(swept.stdout)["quarantine_deleted"] == 1
    assert store.list_quarantined() == []


@pytest.mark.faults
def test_a_missing_chunk_is_named_on_read(
    store_url: str, example_build: BuildResult, tmp_path: Path
) -> None:
    store = open_store(store_url)
    deps = deps_pex(example_build)
    store.upload_blob(deps.name, deps)
    dagster = wheel_chunk(recipe_of(store, deps.name), "dagster")
    store.delete_chunk(dagster.name)

    with pytest.raises(IntegrityError, match=f"chunk {dagster.name} .* is missing"):
        store.get_blob(deps.name, tmp_path / "host" / deps.name)

    assert list((tmp_path / "host").iterdir()) == []


KILLED_MID_DEPLOY = """
import os, signal, sys
from pathlib import Path
from dagster_fastdeploy.actions.deploy import deploy_project
from dagster_fastdeploy.store import open_store

def progress_for(name, size):
    def progress(done, total):
        if name.startswith("deps-") and done > 20 * 1024 * 1024:
            os.kill(os.getpid(), signal.SIGKILL)
    return progress

deploy_project(Path(sys.argv[1]), open_store(sys.argv[2]), progress_for=progress_for)
"""


@pytest.mark.faults
def test_an_interrupted_chunk_upload_leaves_no_recipe_and_the_next_deploy_completes(
    store_url: str, example_copy: Path, example_build: BuildResult
) -> None:
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_MID_DEPLOY, str(example_copy), store_url], timeout=300
    )
    store = open_store(store_url)

    assert killed.returncode == -9
    assert store.read_record("prod", "example_project") is None
    assert store.list_blobs() == []  # no recipe: the deps.pex is not in the store
    assert store.read_recipe(example_build.manifest.deps.name) is None
    left = store.list_chunks()
    assert left  # chunks that made it before the kill stay, to be reused

    answer = deploy_json(example_copy, store_url)

    assert answer["version"] == 1 and answer["path"] == "full"
    assert answer["uploaded"][0] == example_build.manifest.deps.name
    already = sum(c.size for c in left)
    assert answer["bytes_uploaded"] < answer["deps_bytes"] - already + 2 * MB
    deps = answer["uploaded"][0]
    assert store.get_blob(deps, example_copy / "check.pex").read_bytes() == (
        deps_pex(example_build).read_bytes()
    )
    swept = run_cli("gc", "--store", store_url, "--min-age", "0", "--json")
    assert swept.returncode == 0, swept.stderr
    result = json.loads(swept.stdout)
    assert result["deleted"] == [] and result["chunks_deleted"] == 0
    if isinstance(store, S3Store):  # unfinished multipart uploads of big chunks are swept
        uploads = store.client.list_multipart_uploads(Bucket=store.bucket)
        assert uploads.get("Uploads", []) == []


def test_gc_keeps_chunks_of_current_versions(
    store_url: str,
    example_copy: Path,
    example_build: BuildResult,
    example_build_with_small_dependency: BuildResult,
    tmp_path: Path,
) -> None:
    store = open_store(store_url)
    old = deploy_json(example_copy, store_url)
    add_small_dependency(example_copy, example_build)
    new = deploy_json(example_copy, store_url)
    old_deps = example_build.manifest.deps.name
    new_deps = example_build_with_small_dependency.manifest.deps.name
    current = recipe_of(store, new_deps)
    only_old = {c.name for c in recipe_of(store, old_deps).chunks} - {
        c.name for c in current.chunks
    }
    assert only_old  # the old central directory and PEX-INFO, at least

    swept = run_cli("gc", "--store", store_url, "--keep", "1", "--min-age", "0", "--json")

    assert swept.returncode == 0, swept.stderr
    result = json.loads(swept.stdout)
    assert old_deps in result["deleted"] and new_deps not in result["deleted"]
    assert result["chunks_deleted"] >= len(only_old)
    stored = {c.name for c in store.list_chunks()}
    for name in new["pex_tag"][len("files=") :].split(":"):
        assert {c.name for c in recipe_of(store, name).chunks} <= stored
    assert not stored & only_old
    assert not store.has_blob(old_deps)
    copy = store.get_blob(new_deps, tmp_path / new_deps)
    assert copy.read_bytes() == deps_pex(example_build_with_small_dependency).read_bytes()
    assert old["version"] == 1 and new["version"] == 2


def test_a_store_written_before_chunking_still_serves_its_whole_blobs(
    store_url: str, example_build: BuildResult, tmp_path: Path
) -> None:
    store = open_store(store_url)
    deps = deps_pex(example_build)
    if isinstance(store, FileStore):
        (store.root / "blobs").mkdir(parents=True)
        shutil.copyfile(deps, store.root / "blobs" / deps.name)
    else:
        assert isinstance(store, S3Store)
        key = f"{store.prefix}blobs/{deps.name}"
        store.client.upload_file(str(deps), store.bucket, key)

    assert store.has_blob(deps.name)
    assert store.upload_blob(deps.name, deps) == 0  # already there: nothing sent
    assert store.read_recipe(deps.name) is None and store.list_chunks() == []
    assert [(b.name, b.chunked) for b in store.list_blobs()] == [(deps.name, False)]
    assert store.get_blob(deps.name, tmp_path / deps.name).read_bytes() == deps.read_bytes()


@pytest.mark.faults
def test_gc_sweeps_what_a_killed_chunk_upload_left_behind(store_url: str) -> None:
    store = open_store(store_url)
    chunk = f"{'ab' * 32}"
    if isinstance(store, FileStore):  # a temp file that was never linked into place
        (store.root / "chunks").mkdir(parents=True)
        (store.root / "chunks" / f".tmp-{chunk}.x1y2").write_bytes(b"half a chunk")
    else:  # a multipart upload of a big chunk that was never completed
        assert isinstance(store, S3Store)
        key = f"{store.prefix}chunks/{chunk}"
        store.client.create_multipart_upload(Bucket=store.bucket, Key=key)

    swept = run_cli("gc", "--store", store_url, "--min-age", "0", "--json")

    assert swept.returncode == 0, swept.stderr
    assert json.loads(swept.stdout)["partial_uploads_cleaned"] == 1
    assert store.list_chunks() == []
    if isinstance(store, FileStore):
        assert list((store.root / "chunks").iterdir()) == []
    else:
        assert isinstance(store, S3Store)
        uploads = store.client.list_multipart_uploads(Bucket=store.bucket)
        assert uploads.get("Uploads", []) == []


def test_a_bucket_with_more_chunks_than_one_listing_shows_is_asked_chunk_by_chunk(
    s3_store_url: str,
    example_build: BuildResult,
    example_build_with_small_dependency: BuildResult,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dagster_fastdeploy.store import s3_chunks

    monkeypatch.setattr(s3_chunks, "LIST_PAGE_SIZE", 7)  # 2 pages of 7: far fewer than stored
    monkeypatch.setattr(s3_chunks, "LIST_PAGES", 2)
    store = open_store(s3_store_url)
    store.upload_blob(example_build.manifest.deps.name, deps_pex(example_build))
    deps = deps_pex(example_build_with_small_dependency)

    sent = store.upload_blob(deps.name, deps)

    new_wheel = wheel_chunk(recipe_of(store, deps.name), SMALL_DEPENDENCY)
    assert new_wheel.stored_size <= sent <= new_wheel.size + 1 * MB


def test_a_deploy_that_sends_deps_says_so_next_to_the_whole_deps_pex(
    file_store_url: str, example_copy: Path, example_build: BuildResult
) -> None:
    done = run_cli("deploy", str(example_copy), "--store", file_store_url)

    assert done.returncode == 0, done.stderr
    uploaded = done.stdout.splitlines()[1]
    whole = deps_pex(example_build).stat().st_size / 1e6  # decimal MB, as `build` prints it
    assert uploaded.startswith(f"  uploaded: {example_build.manifest.deps.name}, source-")
    assert uploaded.endswith(f" MB sent; the whole deps.pex is {whole:.1f} MB)")


@pytest.mark.faults
def test_a_recipe_swapped_for_another_blobs_is_refused_on_read(
    store_url: str, example_build: BuildResult, tmp_path: Path
) -> None:
    store = open_store(store_url)
    deps, source = deps_pex(example_build), Path(example_build.source_path)
    store.upload_blob(deps.name, deps)
    store.upload_blob(source.name, source)
    deps_recipe = recipe_of(store, deps.name).to_bytes()
    if isinstance(store, FileStore):  # someone copied the wrong file over it
        (store.root / "blobs" / f"{source.name}.chunks.json").write_bytes(deps_recipe)
    else:
        assert isinstance(store, S3Store)
        key = f"{store.prefix}blobs/{source.name}.chunks.json"
        store._replacing.add(key)
        store.client.put_object(Bucket=store.bucket, Key=key, Body=deps_recipe)

    with pytest.raises(StoreError, match=f"{source.name}.chunks.json is not a valid chunk recipe"):
        store.get_blob(source.name, tmp_path / "host" / source.name)

    assert not (tmp_path / "host").exists() or list((tmp_path / "host").iterdir()) == []
