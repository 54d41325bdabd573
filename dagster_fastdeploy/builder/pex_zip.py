"""Write a sources-only PEX in-process, byte for byte as `pex -D <sources>` would.

Spawning pex costs ~0.6 s, most of it starting pex and re-compressing its own ~1 MB bootstrap. Here
the bootstrap comes from pex itself: a reference PEX built once per (pex version, shebang) and kept
in the build cache. Its `.bootstrap/` entries are copied into each new PEX as raw, already
compressed zip records; only the user's files are compressed. PEX-INFO gets the `code_hash` and
`pex_hash` pex computes (see pex/pex_builder.py `_prepare_code`), and `__main__.py` /
`__pex__/__init__.py` get the new `pex_hash`, so the result runs exactly as pex's own output does:
tests/test_build_source.py proves the bytes are identical to `pex -D`.

Determinism (the same files always give the same bytes) follows pex: entries sorted by name,
parent directories written before their first file, timestamps fixed at 1980-01-01, permissions
0644 / 0755, deflate at zlib's default level.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster_fastdeploy.builder.cache import cache_root
from dagster_fastdeploy.builder.zip_blocks import FIXED_DATE, EntryBlock, append_block, file_info
from dagster_fastdeploy.errors import BuildError
from dagster_fastdeploy.local_files import atomic_directory, temp_file

BOOTSTRAP_DIR = ".bootstrap/"
_ENTRY_POINT_FILES = ("__main__.py", "__pex__/__init__.py")


@dataclass
class SourceFile:
    """One file of a PEX: its path inside the zip, its bytes, and whether it is executable."""

    name: str
    data: bytes
    executable: bool = False


@dataclass
class PexBootstrap:
    """What a sources-only PEX shares with every other one built by the same pex and shebang."""

    shebang: bytes
    raw: bytes  # the `.bootstrap/` local file records, exactly as pex wrote them
    records: list[zipfile.ZipInfo]  # their central directory entries, offsets relative to `raw`
    pex_info: dict[str, Any]
    entry_points: dict[str, str]  # __main__.py and __pex__/__init__.py of the reference PEX

    @classmethod
    def from_reference(cls, path: Path) -> PexBootstrap:
        blob = path.read_bytes()
        shebang = blob[: blob.index(b"\n") + 1]
        with zipfile.ZipFile(path) as reference:
            infos = reference.infolist()
            bootstrap = [i for i in infos if i.filename.startswith(BOOTSTRAP_DIR)]
            others = [i for i in infos if not i.filename.startswith(BOOTSTRAP_DIR)]
            start = bootstrap[0].header_offset
            end = min(i.header_offset for i in others)
            if any(not start <= i.header_offset < end for i in bootstrap):
                raise BuildError(f"Unexpected PEX layout in {path}: .bootstrap/ is not contiguous.")
            records = []
            for info in bootstrap:
                record = copy.copy(info)
                record.header_offset -= start
                records.append(record)
            pex_info = json.loads(reference.read("PEX-INFO"))
            entry_points = {
                name: reference.read(name).decode("utf-8") for name in _ENTRY_POINT_FILES
            }
        return cls(shebang, blob[start:end], records, pex_info, entry_points)


def pex_version() -> str:
    from pex.version import __version__  # 1 ms; importlib.metadata costs 30 ms of CLI start

    return str(__version__)


def load_bootstrap(python: str) -> PexBootstrap:
    """The bootstrap for sources-only PEX files that run under `python` ("3.12")."""
    key = f"pex-{pex_version()}-py{python}"
    target = cache_root() / "pex-bootstrap" / key
    with atomic_directory(target) as work:
        if work is not None:
            env = {**os.environ, "_PEX_FILE_LOCK_STYLE": "bsd"}
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pex",
                    *reference_flags(python),
                    "-o",
                    str(work / "ref.pex"),
                ],
                capture_output=True,
                text=True,
                env=env,
            )
            if result.returncode != 0:
                raise BuildError(f"pex could not build its bootstrap:\n{result.stderr}")
    return PexBootstrap.from_reference(target / "ref.pex")


def reference_flags(python: str) -> list[str]:
    """The pex flags a sources-only PEX is equivalent to (plus `-D <sources>`)."""
    return ["--no-strip-pex-env", "--python-shebang", f"/usr/bin/env python{python}"]


def code_hash(files: list[SourceFile]) -> str:
    """pex's CacheHelper.pex_code_hash of the user files: names, then contents, sorted by name."""
    hashed = sorted(
        (
            f
            for f in files
            if not os.path.basename(f.name).startswith(".") and not f.name.endswith(".pyc")
        ),
        key=lambda f: f.name,
    )
    digest = hashlib.sha1()
    digest.update("".join(f.name for f in hashed).encode("utf-8"))
    for f in hashed:
        digest.update(f.data)
    return digest.hexdigest()


def dump_pex_info(pex_info: dict[str, Any]) -> str:
    return json.dumps(pex_info, sort_keys=True, separators=(",", ":"))


def _dir_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(filename=name, date_time=FIXED_DATE)
    info.external_attr = (0o40755 << 16) | 0x10
    info.compress_type = zipfile.ZIP_STORED
    return info


def write_pex(output: Path, files: list[SourceFile], bootstrap: PexBootstrap) -> None:
    """Write a PEX holding `files` (user sources) to `output` (replaced atomically)."""
    pex_info = dict(bootstrap.pex_info)
    pex_info.pop("pex_hash", None)
    pex_info["code_hash"] = code_hash(files)
    new_hash = hashlib.sha1(dump_pex_info(pex_info).encode("utf-8")).hexdigest()
    old_hash = bootstrap.pex_info["pex_hash"]
    pex_info["pex_hash"] = new_hash

    entries = {f.name: f for f in files}
    entries["PEX-INFO"] = SourceFile("PEX-INFO", dump_pex_info(pex_info).encode("utf-8"))
    for name, text in bootstrap.entry_points.items():
        data = text.replace(old_hash, new_hash).encode("utf-8")
        entries[name] = SourceFile(name, data, executable=name == "__main__.py")

    with temp_file(output) as tmp:
        with open(tmp, "wb") as fp:
            fp.write(bootstrap.shebang)
            with zipfile.ZipFile(fp, "w", zipfile.ZIP_DEFLATED) as zf:
                written_dirs: set[str] = set()
                bootstrap_written = False
                for name in sorted(entries):
                    if not bootstrap_written and name > BOOTSTRAP_DIR:
                        _append_raw(zf, fp, bootstrap)
                        bootstrap_written = True
                    _write_parent_dirs(zf, name, written_dirs)
                    entry = entries[name]
                    zf.writestr(file_info(name, len(entry.data), entry.executable), entry.data)
                if not bootstrap_written:
                    _append_raw(zf, fp, bootstrap)
        os.chmod(tmp, 0o755)
        os.replace(tmp, output)


def _write_parent_dirs(zf: zipfile.ZipFile, name: str, written: set[str]) -> None:
    parts = name.split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        directory = "/".join(parts[:depth]) + "/"
        if directory not in written:
            written.add(directory)
            zf.writestr(_dir_info(directory), b"")


def _append_raw(zf: zipfile.ZipFile, fp: Any, bootstrap: PexBootstrap) -> None:
    """Copy the compressed `.bootstrap/` records as they are and list them in the zip's index."""
    append_block(zf, fp, EntryBlock(bootstrap.raw, bootstrap.records))
