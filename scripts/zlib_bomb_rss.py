"""How much a reader's memory grows on a zlib bomb chunk: 1 GiB of zeros stored as ~1 MB, its
recipe claiming 100 bytes. Run: python scripts/zlib_bomb_rss.py (prints the stored size, the
reader's outcome and its peak RSS growth in KB; docs/reliability.md quotes it).
tests/faults/test_store_faults.py plants and reads the same bomb through these functions."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any

from dagster_fastdeploy.store import open_store
from dagster_fastdeploy.store.chunking import ZLIB, ChunkRef, Piece, Recipe

MB = 1 << 20

READ_AND_MEASURE = """
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


def zlib_bomb(inflated: int) -> bytes:
    """zlib bytes of `inflated` zero bytes, made without holding them."""
    squeeze = zlib.compressobj(9)
    zeros = bytes(MB)
    return b"".join(squeeze.compress(zeros) for _ in range(inflated // MB)) + squeeze.flush()


def plant_bomb(store: Any, inflated: int, work: Path) -> tuple[str, int]:
    """Store, as a hostile writer of the store would, a chunk of `inflated` zeros and a recipe
    that claims 100 bytes for it; the blob's name and the chunk's stored size."""
    claimed = b"x" * 100
    digest = hashlib.sha256(claimed).hexdigest()
    name = f"deps-{digest}.pex"
    bomb = zlib_bomb(inflated)
    ref = ChunkRef(digest, len(claimed), len(bomb), ZLIB, "central directory")
    work.mkdir(parents=True, exist_ok=True)
    pex = work / name
    pex.write_bytes(claimed)  # no zip: the chunk below stands in for its bytes
    store.put_chunks([Piece(ref, 0, bomb)], pex, lambda n: None)
    store.write_recipe(name, Recipe(name, len(claimed), (ref,)).to_bytes())
    return name, len(bomb)


def read_and_measure(store_url: str, name: str, dest: Path) -> dict[str, Any]:
    """Read blob `name` in a fresh process: {outcome, grew_kb} (its peak RSS growth)."""
    done = subprocess.run(
        [sys.executable, "-c", READ_AND_MEASURE, store_url, name, str(dest)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return dict(json.loads(done.stdout))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp, "store").as_uri())
        name, stored = plant_bomb(store, 1024 * MB, Path(tmp, "work"))
        measured = read_and_measure(store.url, name, Path(tmp, "got"))
        print(json.dumps({"stored_bytes": stored, **measured}, indent=1))


if __name__ == "__main__":
    main()
