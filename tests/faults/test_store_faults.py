"""Faults in what is read from the store: names that would become paths, decompression bombs,
damaged chunks, trailing newlines. Real stores (file and moto S3), real CLI."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from dagster_fastdeploy.errors import InvalidNameError, StoreError
from dagster_fastdeploy.store import open_store
from dagster_fastdeploy.store.blobs import blob_digest
from dagster_fastdeploy.store.chunking import RAW, ZLIB, ChunkRef, Recipe
from dagster_fastdeploy.store.keys import chunk_key
from dagster_fastdeploy.store.records import check_name
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


def _zlib_bomb(inflated: int) -> bytes:
    """zlib bytes of `inflated` zero bytes, made without holding them."""
    squeeze = zlib.compressobj(9)
    zeros = bytes(MB)
    out = [squeeze.compress(zeros) for _ in range(inflated // MB)]
    return b"".join(out) + squeeze.flush()


_READ_AND_MEASURE = """
import json, resource, sys
from pathlib import Path
from dagster_fastdeploy.errors import IntegrityError
from dagster_fastdeploy.store import open_store
store = open_store(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    store.get_blob(sys.argv[2], Path(sys.argv[3]))
    outcome = "served"
except IntegrityError as e:
    outcome = str(e)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"outcome": outcome, "grew_kb": after - before}))
"""


def test_a_chunk_that_inflates_far_past_its_recipe_is_refused_without_inflating_it(
    store_url: str, tmp_path: Path
) -> None:
    """256 MB of zeros in a 250 KB zlib chunk whose recipe says 100 bytes: refused after reading
    at most a few MB into memory (it took 3.1 GB of RSS before)."""
    store = open_store(store_url)
    claimed = b"x" * 100
    digest = hashlib.sha256(claimed).hexdigest()
    name = f"deps-{digest}.pex"
    bomb = _zlib_bomb(256 * MB)
    ref = ChunkRef(digest, len(claimed), len(bomb), ZLIB, "central directory")
    pex = tmp_path / name
    pex.write_bytes(claimed)  # a file that is no zip: stored whole, then replaced below
    # put the bomb chunk and a recipe naming it, as a hostile writer of the store would
    store.put_chunks([_piece(ref, bomb)], pex, lambda n: None)  # type: ignore[attr-defined]
    store.write_recipe(name, Recipe(name, len(claimed), (ref,)).to_bytes())  # type: ignore[attr-defined]

    done = subprocess.run(
        [sys.executable, "-c", _READ_AND_MEASURE, store_url, name, str(tmp_path / "got.pex")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["grew_kb"] < 64 * 1024, result  # far from the 256 MB it would inflate to
    assert "is longer than recorded" in result["outcome"]
    assert not (tmp_path / "got.pex").exists()


def _piece(ref: ChunkRef, stored: bytes):  # type: ignore[no-untyped-def]
    from dagster_fastdeploy.store.chunking import Piece

    return Piece(ref, 0, stored)


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
