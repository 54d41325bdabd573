"""The build manifest: what a location version is made of. Written next to the PEX files as
`manifest.json`, embedded in deployment records, and read by the warm host.

This module is the contract between build/, store/ and runtime/: keep it small and stable.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dagster_fastdeploy.local_files import write_atomically

MANIFEST_VERSION = 1


def pex_tag(deps_name: str, source_name: str) -> str:
    """The Dagster+ Serverless style name of a location version."""
    return f"files={deps_name}:{source_name}"


def parse_pex_tag(tag: str) -> tuple[str, str]:
    """Split `files=deps-<d>.pex:source-<d>.pex` into its two blob names."""
    if not tag.startswith("files="):
        raise ValueError(
            f"not a pex tag: {tag!r} (expected files=deps-<digest>.pex:source-<digest>.pex)"
        )
    names = tag[len("files=") :].split(":")
    deps = [n for n in names if n.startswith("deps-")]
    source = [n for n in names if n.startswith("source-")]
    if len(deps) != 1 or len(source) != 1:
        raise ValueError(f"a pex tag names one deps and one source pex: {tag!r}")
    return deps[0], source[0]


@dataclass
class Artifact:
    """One PEX file, named by its digest: `<kind>-<sha256>.pex`."""

    name: str
    sha256: str
    size: int

    @staticmethod
    def name_for(kind: str, sha256: str) -> str:
        return f"{kind}-{sha256}.pex"


@dataclass
class CodeTarget:
    """Where the definitions are: exactly one of module_name, package_name, python_file."""

    module_name: str | None = None
    package_name: str | None = None
    python_file: str | None = None
    attribute: str | None = None
    working_directory: str = "."

    def describe(self) -> str:
        what = self.module_name or self.package_name or self.python_file or "?"
        return f"{what}:{self.attribute}" if self.attribute else what


@dataclass
class Manifest:
    location: str
    target: CodeTarget
    python: str
    platforms: list[str]
    deps_hash: str
    deps_locked_hash: str
    deps: Artifact
    source: Artifact
    dagster_version: str | None
    timings: dict[str, float] = field(default_factory=dict)
    preload: list[str] = field(default_factory=list)
    memory_limit: int | None = None  # bytes, from [tool.dagster-fastdeploy] memory_limit
    host_group: str | None = None  # only hosts of this group serve it (`serve --host-group`)
    container_context: dict[str, Any] | None = None  # dagster_cloud.yaml's, as it was written
    manifest_version: int = MANIFEST_VERSION

    @property
    def pex_tag(self) -> str:
        return pex_tag(self.deps.name, self.source.name)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["pex_tag"] = self.pex_tag
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        data = dict(data)
        data.pop("pex_tag", None)
        data["target"] = CodeTarget(**data["target"])
        data["deps"] = Artifact(**data["deps"])
        data["source"] = Artifact(**data["source"])
        return cls(**data)

    def write(self, path: Path) -> None:
        write_atomically(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return cls.from_dict(json.loads(path.read_text()))
