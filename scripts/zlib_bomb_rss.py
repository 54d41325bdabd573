"""How much a reader's memory grows on a zlib bomb chunk: 1 GiB of zeros stored as ~1 MB, its
recipe claiming 100 bytes. Run: python scripts/zlib_bomb_rss.py (prints the stored size, the
reader's outcome and its peak RSS growth in KB; docs/reliability.md quotes it)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

from dagster_fastdeploy.store import open_store
from dagster_fastdeploy.store.chunking import ZLIB, ChunkRef, Piece, Recipe
from dagster_fastdeploy.store.file import FileStore

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


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp, "store").as_uri())
        assert isinstance(store, FileStore)
        claimed = b"x" * 100
        digest = hashlib.sha256(claimed).hexdigest()
        name = f"deps-{digest}.pex"
        squeeze = zlib.compressobj(9)
        zeros = bytes(1 << 20)
        bomb = b"".join(squeeze.compress(zeros) for _ in range(1024)) + squeeze.flush()
        ref = ChunkRef(digest, len(claimed), len(bomb), ZLIB, "central directory")
        store.put_chunks([Piece(ref, 0, bomb)], Path(tmp, "unused"), lambda n: None)
        store.write_recipe(name, Recipe(name, len(claimed), (ref,)).to_bytes())
        out = subprocess.run(
            [sys.executable, "-c", READ_AND_MEASURE, store.url, name, str(Path(tmp, "got"))],
            capture_output=True,
            text=True,
            check=True,
        )
        print(json.dumps({"stored_bytes": len(bomb), **json.loads(out.stdout)}, indent=1))


if __name__ == "__main__":
    main()
