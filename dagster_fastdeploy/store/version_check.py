"""A recorded version, checked before anything in it becomes a path, a process or an argument.

A deployment record is read from a store that other people (and other programs) can write, so
the host trusts none of it: the artifact names must be exactly `deps-<64 hex>.pex` and
`source-<64 hex>.pex` (so no name can walk out of the data dir), each artifact's recorded digest
must be the one in its name, the entry's `pex_tag` must name the same two files as its manifest
(else `status` would show one version while another serves), and the working directory and
Python version must be plain values. The blobs' bytes are checked against their names when they
are fetched (store/) and before first use (runtime/environments.py).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from dagster_fastdeploy.errors import StoreError
from dagster_fastdeploy.manifest import Manifest
from dagster_fastdeploy.store.blobs import blob_digest
from dagster_fastdeploy.store.records import VersionEntry

_PYTHON = re.compile(r"3\.\d{1,2}")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class UntrustedVersionError(StoreError):
    """A recorded version whose manifest cannot be served as it stands."""


def checked_manifest(entry: VersionEntry, where: str) -> Manifest:
    """The manifest of `entry`, refused (UntrustedVersionError, naming `where` and the version)
    unless every name and value in it is what the host expects."""

    def refuse(why: str) -> UntrustedVersionError:
        return UntrustedVersionError(
            f"version {entry.version} in {where} cannot be served: {why}. It was not used; "
            "deploy the location again (or roll back to a good version)"
        )

    try:
        manifest = Manifest.from_dict(entry.manifest)
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise refuse(f"its manifest is damaged ({e!r})") from None
    for kind, artifact in (("deps", manifest.deps), ("source", manifest.source)):
        name = str(artifact.name)
        try:
            digest = blob_digest(name)
        except StoreError:
            raise refuse(
                f"its {kind} artifact is named {name!r}, not {kind}-<sha256>.pex"
            ) from None
        if not name.startswith(f"{kind}-"):
            raise refuse(f"its {kind} artifact is named {name!r}, not {kind}-<sha256>.pex")
        if artifact.sha256 != digest:
            raise refuse(f"{name} is recorded with another digest ({artifact.sha256!r})")
    if entry.pex_tag != manifest.pex_tag:
        raise refuse(
            f"its pex tag {entry.pex_tag!r} and its manifest ({manifest.pex_tag}) name different "
            "files"
        )
    if not isinstance(manifest.python, str) or not _PYTHON.fullmatch(manifest.python or "3.0"):
        raise refuse(f"its Python version {manifest.python!r} is not of the form 3.X")
    working_directory = PurePosixPath(str(manifest.target.working_directory))
    if working_directory.is_absolute() or ".." in working_directory.parts:
        raise refuse(f"its working directory {str(working_directory)!r} leaves the project")
    if not all(isinstance(m, str) and _MODULE.fullmatch(m) for m in manifest.preload or []):
        raise refuse("its preload list holds something other than module names")
    limit = manifest.memory_limit
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0):
        raise refuse(f"its memory limit {limit!r} is not a number of bytes")
    return manifest
