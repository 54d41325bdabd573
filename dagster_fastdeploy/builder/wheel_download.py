"""New pins' wheels fetched straight from the index, so pex need not start pip to fetch them.

A locked pin carries the sha256 of every artifact of its version, so the wheel pip would pick is
known without resolving: the one whose digest is pinned and whose tags rank first among the
target interpreter's tags (pip's own order). It is looked up in the index's simple API (PEP 691
JSON, PEP 503 HTML), downloaded in parallel with the others and checked against its digest, kept
in the build cache (`<cache>/wheels/<sha256>/`), and handed to pex as a pre-resolved dist next to
the same pins: the same bytes as pex resolving them with pip (tests/test_build_deps_assemble.py).
Anything unusual (a foreign platform, find-links, a pin with a marker, an index that does not
answer, an sdist-only pin) returns False, and pex fetches with pip as before.

Every request of a build goes through one pooled HTTP session (kept-alive connections, as pip's
own): a new connection per file cost each one a DNS lookup and a TLS handshake, and on a network
that drops the odd DNS answer (this machine's: glibc then waits 5 s to ask again) a cold build's
hundred connections met that wait nearly every time (docs/benchmarks.md).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from dagster_fastdeploy.builder.cache import cache_root, place_file
from dagster_fastdeploy.builder.cache_prune import mark_used
from dagster_fastdeploy.builder.pins import Pin
from dagster_fastdeploy.builder.requirements import DeclaredDeps
from dagster_fastdeploy.builder.target import BuildTarget
from dagster_fastdeploy.local_files import write_atomically

if TYPE_CHECKING:
    import requests

PYPI = "https://pypi.org/simple"
TIMEOUT = 30
DOWNLOADS_AT_ONCE = 4
LOOKUPS_AT_ONCE = 8


@functools.cache
def _http() -> requests.Session:
    """The process's one HTTP session: its connections stay open for the next request."""
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=LOOKUPS_AT_ONCE)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _get(url: str, accept: str | None = None) -> tuple[bytes, str, str]:
    """The body at `url`, its Content-Type and the URL it came from (after redirects); OSError
    when it does not come. http(s) through the pooled session; other schemes (file:) by urllib."""
    headers = {"Accept": accept} if accept else {}
    if urlsplit(url).scheme not in ("http", "https"):
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.read(), response.headers.get("Content-Type", ""), response.geturl()
    import requests

    try:
        response = _http().get(url, headers=headers, timeout=TIMEOUT)
        response.raise_for_status()
    except requests.RequestException as error:
        raise OSError(f"{url}: {error}") from error
    return response.content, response.headers.get("Content-Type", ""), response.url


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.links.append(href)


@dataclass(frozen=True)
class _IndexFile:
    filename: str
    href: str  # as the index wrote it: relative to the page's URL
    sha256: str | None  # when the index says it
    size: int | None


def _index_files(index: str, name: str) -> tuple[str, list[_IndexFile]]:
    """A project's files as its index page lists them, and the page's URL (hrefs are relative
    to it). Nothing is joined or parsed per file here: a page lists up to 15,000 files (every
    wheel of every version), and doing that for all of them cost a cold build 0.5 s of CPU."""
    page = f"{index.rstrip('/')}/{name}/"
    accept = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
    body, kind, base = _get(page, accept)
    if "json" in kind:
        return base, [
            _IndexFile(
                f["filename"],
                f["url"],
                (f.get("hashes") or {}).get("sha256"),
                f["size"] if isinstance(f.get("size"), int) else None,
            )
            for f in json.loads(body)["files"]
        ]
    parser = _Links()
    parser.feed(body.decode("utf-8", "replace"))
    files = []
    for href in parser.links:
        path, _, fragment = href.partition("#")
        digest = fragment.partition("sha256=")[2] or None
        files.append(_IndexFile(path.rstrip("/").rsplit("/", 1)[-1], href, digest, None))
    return base, files


def _wheel_tags(filename: str) -> set[str]:
    parts = filename[: -len(".whl")].split("-")
    pythons, abis, platforms = parts[-3].split("."), parts[-2].split("."), parts[-1].split(".")
    return {f"{p}-{a}-{s}" for p in pythons for a in abis for s in platforms}


def _plain_name(filename: str) -> bool:
    """A file name an index may give: no directory part (it names the file written)."""
    return "/" not in filename and "\\" not in filename and not filename.startswith(".")


def _choose(files: list[_IndexFile], pin: Pin, ranks: dict[str, int]) -> _IndexFile | None:
    """The pinned wheel ranked best for the target; None when there is none. Cheap tests first:
    most of a page's files are other versions' or other digests'."""
    pinned = {h.split(":", 1)[1] for h in pin.hashes if h.startswith("sha256:")}
    version = re.sub(r"[-_.]+", "-", pin.version)
    best: tuple[int, _IndexFile] | None = None
    for file in files:
        if not file.filename.endswith(".whl") or not _plain_name(file.filename):
            continue
        if file.sha256 is not None and file.sha256 not in pinned:
            continue
        if re.sub(r"[-_.]+", "-", file.filename.split("-")[1]) != version:
            continue
        rank = min((ranks[t] for t in _wheel_tags(file.filename) if t in ranks), default=None)
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, file)
    return None if best is None else best[1]


def _fetch(url: str, dest: Path, pinned: set[str]) -> bool:
    """Put the wheel at `url` at `dest`: from the build cache's wheels when one of the pinned
    digests is there, else downloaded, checked and kept there."""
    kept = cache_root() / "wheels"
    for digest in pinned:
        cached = kept / digest / dest.name
        if cached.is_file():
            place_file(cached, dest)
            mark_used(cached.parent)
            return True
    data = _get(url.split("#", 1)[0])[0]
    digest = hashlib.sha256(data).hexdigest()
    if digest not in pinned:
        return False
    write_atomically(kept / digest / dest.name, data)
    place_file(kept / digest / dest.name, dest)
    return True


@dataclass(frozen=True)
class PlannedWheel:
    """The wheel pip would install for a pin, where it is, and its size when the index says."""

    pin: Pin
    filename: str
    url: str
    size: int | None


def plan_wheels(
    pins: list[Pin], declared: DeclaredDeps, target: BuildTarget
) -> list[PlannedWheel] | None:
    """The wheel pip would install for each of `pins`, found in the index; None (and pex
    fetches them itself) when any cannot be found this way."""
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if not target.is_host or target.python != here or declared.find_links:
        return None
    if not all(p.hashes for p in pins) or any(p.marker for p in pins):
        return None
    from packaging.tags import sys_tags

    ranks: dict[str, int] = {}
    for rank, tag in enumerate(sys_tags()):
        ranks.setdefault(str(tag), rank)
    indexes = [declared.index_url or PYPI, *declared.extra_index_urls]

    def one(pin: Pin) -> PlannedWheel | None:
        for index in indexes:
            base, files = _index_files(index, pin.name)
            chosen = _choose(files, pin, ranks)
            if chosen is not None:
                url = urljoin(base, chosen.href)
                return PlannedWheel(pin, chosen.filename, url, chosen.size)
        return None

    try:
        with ThreadPoolExecutor(max_workers=LOOKUPS_AT_ONCE) as pool:
            planned = list(pool.map(one, pins))
    except (OSError, ValueError, KeyError, IndexError):
        return None
    if any(wheel is None for wheel in planned):
        return None
    return [wheel for wheel in planned if wheel is not None]


def fetch_wheel(wheel: PlannedWheel, into: Path) -> bool:
    """Put a planned wheel into `into` (from the build cache, or downloaded and checked)."""
    pinned = {h.split(":", 1)[1] for h in wheel.pin.hashes if h.startswith("sha256:")}
    into.mkdir(parents=True, exist_ok=True)
    return _fetch(wheel.url, into / wheel.filename, pinned)


def download_wheels(
    pins: list[Pin], declared: DeclaredDeps, target: BuildTarget, into: Path
) -> bool:
    """Download the wheel pip would install for each of `pins` into `into`; False (and pex
    fetches them itself) when any cannot be found this way."""
    planned = plan_wheels(pins, declared, target)
    if planned is None:
        return False
    try:
        with ThreadPoolExecutor(max_workers=DOWNLOADS_AT_ONCE) as pool:
            return all(pool.map(lambda wheel: fetch_wheel(wheel, into), planned))
    except (OSError, ValueError, KeyError, IndexError):
        return False


def self_contained(wheels: Path) -> bool:
    """Whether every dependency the wheels in `wheels` declare (for this interpreter) is one of
    them: pex builds from pre-resolved wheels only then; a few new pins of a lock that need
    wheels of the old pins are left to pex's pip (intransitive)."""
    import zipfile

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    names, needed = set(), set()
    for wheel in wheels.glob("*.whl"):
        names.add(canonicalize_name(wheel.name.split("-")[0]))
        with zipfile.ZipFile(wheel) as archive:
            metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            for line in archive.read(metadata).decode("utf-8", "replace").splitlines():
                if line.startswith("Requires-Dist:"):
                    requirement = Requirement(line.split(":", 1)[1].strip())
                    marker = requirement.marker
                    if marker is None or marker.evaluate({"extra": ""}):
                        needed.add(canonicalize_name(requirement.name))
    return needed <= names
