"""Which file of an index page a build downloads for a pin: the pinned wheel that ranks best for
this interpreter, from a PEP 503 HTML page or a PEP 691 JSON page served on loopback."""

from __future__ import annotations

import hashlib
import http.server
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.tags import sys_tags

from dagster_fastdeploy.builder.pins import Pin
from dagster_fastdeploy.builder.requirements import DeclaredDeps
from dagster_fastdeploy.builder.target import BuildTarget
from dagster_fastdeploy.builder.wheel_download import fetch_wheel, plan_wheels

BEST = next(iter(sys_tags()))  # the tag this interpreter ranks first
GOOD = f"demo-1.0-{BEST.interpreter}-{BEST.abi}-{BEST.platform}.whl"
FILES = {
    # listed first and ranked as high as GOOD, but its digest is not pinned
    f"demo-1.0-1-{BEST.interpreter}-{BEST.abi}-{BEST.platform}.whl": b"unpinned build",
    "demo-1.0-py3-none-any.whl": b"generic wheel",  # pinned, but ranks below GOOD
    GOOD: b"best wheel",  # pinned and ranked first
    f"demo-1.0-{BEST.interpreter}-{BEST.abi}-win_arm64.whl": b"wrong platform",
    "demo-0.9-py3-none-any.whl": b"another version",
    "demo-1.0.tar.gz": b"sdist",
}


def _sha(name: str) -> str:
    return hashlib.sha256(FILES[name]).hexdigest()


PIN = Pin(
    "demo",
    "1.0",
    None,
    tuple(sorted(f"sha256:{_sha(n)}" for n in ("demo-1.0-py3-none-any.whl", GOOD))),
)


def _serve(root: Path, page_type: str) -> Iterator[str]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def guess_type(self, path: str) -> str:  # type: ignore[override]
            return page_type if path.endswith("index.html") else "application/octet-stream"

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture(params=["html", "json"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    files = tmp_path / "files"
    files.mkdir()
    for name, data in FILES.items():
        (files / name).write_bytes(data)
    page = tmp_path / "simple" / "demo"
    page.mkdir(parents=True)
    listed = list(FILES)
    if request.param == "html":
        links = "".join(f'<a href="../../files/{n}#sha256={_sha(n)}">{n}</a>' for n in listed)
        (page / "index.html").write_text(f"<html><body>{links}</body></html>")
        yield from _serve(tmp_path, "text/html")
    else:
        entries = [
            {"filename": n, "url": f"../../files/{n}", "hashes": {"sha256": _sha(n)}, "size": 9}
            for n in listed
        ]
        # a name that climbs out of the download directory is never used, pinned or not
        evil = {**entries[2], "filename": f"../../{GOOD}"}
        entries.insert(0, evil)
        (page / "index.html").write_text(json.dumps({"files": entries}))
        yield from _serve(tmp_path, "application/vnd.pypi.simple.v1+json")


def test_the_pinned_wheel_ranked_first_here_is_chosen_and_fetched(
    index: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_FASTDEPLOY_CACHE", str(tmp_path / "cache"))
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    declared = DeclaredDeps(requirements=[], index_url=f"{index}/simple")
    planned = plan_wheels([PIN], declared, BuildTarget(python, None, ()))
    assert planned is not None and [w.filename for w in planned] == [GOOD]
    assert planned[0].url.startswith(f"{index}/files/{GOOD}")
    assert fetch_wheel(planned[0], tmp_path / "into")
    assert (tmp_path / "into" / GOOD).read_bytes() == b"best wheel"
