"""Runs of zip entries moved between zip files as raw bytes, never recompressed.

A zip's local entries (local file header + data) hold no offsets, so a run of them can be cut out
of one zip and written into another as it is; only the central directory, written anew by
`zipfile` from the runs' `ZipInfo` records (offsets moved), knows where each entry landed. This is
how deps.pex is assembled from cached wheels (deps_assemble.py) and how a sources-only PEX gets
pex's bootstrap (pex_zip.py), byte for byte as pex itself writes them.
"""

from __future__ import annotations

import copy
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Union

from dagster_fastdeploy.local_files import temp_file


@dataclass
class EntryBlock:
    """Consecutive zip entries: their raw local records, and their central directory records
    with offsets relative to the start of `raw`."""

    raw: bytes
    records: list[zipfile.ZipInfo]


@dataclass
class NewFile:
    """An entry written (and compressed) here, pex's way: fixed date, 0644 or 0755."""

    name: str
    data: bytes
    executable: bool = False


FIXED_DATE = (1980, 1, 1, 0, 0, 0)
Item = Union[EntryBlock, NewFile]


def split_blocks(
    path: Path, part_of: Callable[[str], str]
) -> tuple[bytes, list[tuple[str, EntryBlock]]]:
    """The bytes before the first entry (a PEX's shebang), then the file's entries cut into
    blocks of consecutive entries with the same `part_of(name)`, in file order."""
    data = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        end = archive.start_dir  # type: ignore[attr-defined]
    offsets = [info.header_offset for info in infos]
    if not infos or offsets != sorted(offsets):
        raise ValueError(f"{path}: entries are not laid out in order")
    groups: list[tuple[str, list[zipfile.ZipInfo]]] = []
    for info in infos:
        part = part_of(info.filename)
        if not groups or groups[-1][0] != part:
            groups.append((part, []))
        groups[-1][1].append(info)
    blocks = []
    for index, (part, members) in enumerate(groups):
        start = members[0].header_offset
        stop = groups[index + 1][1][0].header_offset if index + 1 < len(groups) else end
        records = []
        for info in members:
            record = copy.copy(info)
            record.header_offset -= start
            records.append(record)
        blocks.append((part, EntryBlock(data[start:stop], records)))
    return data[: infos[0].header_offset], blocks


def single_entries(block: EntryBlock) -> list[EntryBlock]:
    """`block` cut into one block per entry."""
    starts = [r.header_offset for r in block.records] + [len(block.raw)]
    singles = []
    for record, start, stop in zip(block.records, starts, starts[1:]):
        clone = copy.copy(record)
        clone.header_offset = 0
        singles.append(EntryBlock(block.raw[start:stop], [clone]))
    return singles


def read_block(path: Path) -> EntryBlock:
    """A block saved by `save_block`."""
    data = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        return EntryBlock(data[: archive.start_dir], archive.infolist())  # type: ignore[attr-defined]


def save_block(block: EntryBlock, path: Path) -> None:
    """Write `block` as a zip of its own (atomically), so it can be read back with its records."""
    with temp_file(path) as tmp:
        with open(tmp, "wb") as fp, zipfile.ZipFile(fp, "w") as zf:
            append_block(zf, fp, block)
        os.replace(tmp, path)


def append_block(zf: zipfile.ZipFile, fp: BinaryIO, block: EntryBlock) -> None:
    """Copy `block`'s records as they are and list them in `zf`'s central directory."""
    base = fp.tell()
    fp.write(block.raw)
    for record in block.records:
        clone = copy.copy(record)
        clone.header_offset += base
        zf.filelist.append(clone)
        zf.NameToInfo[clone.filename] = clone
    zf.start_dir = fp.tell()  # type: ignore[attr-defined]


def file_info(name: str, size: int, executable: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(filename=name, date_time=FIXED_DATE)
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    info.file_size = size
    return info


def write_zip(output: Path, prefix: bytes, items: list[Item]) -> None:
    """Write `prefix` then `items` in order to `output` (replaced atomically, mode 0755)."""
    with temp_file(output) as tmp:
        with open(tmp, "wb") as fp:
            fp.write(prefix)
            with zipfile.ZipFile(fp, "w", zipfile.ZIP_DEFLATED) as zf:
                for item in items:
                    if isinstance(item, EntryBlock):
                        append_block(zf, fp, item)
                    else:
                        info = file_info(item.name, len(item.data), item.executable)
                        zf.writestr(info, item.data)
        os.chmod(tmp, 0o755)
        os.replace(tmp, output)
