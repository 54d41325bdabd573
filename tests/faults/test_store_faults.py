"""Faults in what is read from the store: names that would become paths, decompression bombs,
damaged chunks, trailing newlines. Real stores (file and moto S3), real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagster_fastdeploy.errors import InvalidNameError, StoreError
from dagster_fastdeploy.store import open_store
from dagster_fastdeploy.store.blobs import blob_digest
from dagster_fastdeploy.store.chunking import RAW
from dagster_fastdeploy.store.keys import chunk_key
from dagster_fastdeploy.store.records import check_name
from scripts.zlib_bomb_rss import plant_bomb, read_and_measure
from tests.test_chunks import overwrite_chunk, read_chunk, recipe_of
from tests.test_deploy import run_cli

MB = 1024 * 1024
DIGEST = "ab" * 32


def test_a_name_with_a_trailing_newline_is_refused() -> None:
    for kind in ("location", "deployment"):
        with pytest.raises(InvalidNameError):
            check_name(kind, "prod\n")
    for name in (f"deps-{DIGEST}.pex\n", f"deps-{DIGEST}\n.pex", f"source-{DIGEST}.pex\n"):
        with pytest.raises(StoreError):
            blob_digest(name)
    with pytest.raises(StoreError):
        chunk_key(f"{DIGEST}\n")
    done = run_cli("rollback", "--location", "example\n", "--store", "file:///tmp/nowhere")
    assert done.returncode != 0 and "invalid location name" in done.stderr


def test_a_chunk_that_inflates_far_past_its_recipe_is_refused_without_inflating_it(
    store_url: str, tmp_path: Path
) -> None:
    """256 MB of zeros in a 250 KB zlib chunk whose recipe says 100 bytes: refused after reading
    at most a few MB into memory (it took 3.1 GB of RSS before)."""
    name, _ = plant_bomb(open_store(store_url), 256 * MB, tmp_path / "work")
    result = read_and_measure(store_url, name, tmp_path / "got.pex")
    assert result["grew_kb"] < 64 * 1024, result  # far from the 256 MB it would inflate to
    assert "is longer than recorded" in result["outcome"]
    assert not (tmp_path / "got.pex").exists()


def test_a_raw_chunk_longer_than_its_recipe_is_refused(
    store_url: str,
    example_build,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    store = open_store(store_url)
    deps = Path(example_build.deps_path)
    store.upload_blob(deps.name, deps)
    [raw] = [c for c in recipe_of(store, deps.name).chunks if c.encoding == RAW][:1]
    overwrite_chunk(store, raw.name, read_chunk(store, raw.name) + b"more")
    with pytest.raises(StoreError, match="longer than recorded|does not match"):
        store.get_blob(deps.name, tmp_path / deps.name)
    assert not (tmp_path / deps.name).exists()
