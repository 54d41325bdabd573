"""A pinned dependency set in one canonical form, whatever it was locked with.

`uv pip compile` output, `uv export` of a uv.lock, a pylock.toml and a pex lock all become a list
of Pin (name, version, marker, artifact hashes). Its canonical text is a hashed requirements file
that pex installs intransitively, and its sha256 is the locked hash: the same pins from any of
those sources give the same deps.pex, built once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Pin:
    name: str  # canonical (PEP 503) name
    version: str
    marker: str | None = None
    hashes: tuple[str, ...] = ()  # "sha256:<hex>", sorted

    def requirement_line(self) -> str:
        line = f"{self.name}=={self.version}"
        if self.marker:
            line += f" ; {self.marker}"
        return " \\\n    ".join([line, *(f"--hash={h}" for h in self.hashes)])


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def canonical_text(pins: list[Pin]) -> str:
    ordered = sorted(set(pins), key=lambda p: (p.name, p.version, p.marker or ""))
    return "".join(p.requirement_line() + "\n" for p in ordered)


def locked_hash(pins: list[Pin]) -> str:
    return hashlib.sha256(canonical_text(pins).encode("utf-8")).hexdigest()


def versions(pins: list[Pin]) -> dict[str, str]:
    return {p.name: p.version for p in pins}


_LINE = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._\-]*)(?:\[[^\]]*\])?\s*===?\s*(?P<version>[^\s;\\]+)"
    r"\s*(?:;\s*(?P<marker>[^\\]+?))?\s*$"
)


def pins_from_requirements(text: str) -> list[Pin]:
    """Pins of a `name==version ; marker --hash=...` file (uv pip compile / uv export output)."""
    pins = []
    joined = re.sub(r"\\\n", " ", text)
    for raw in joined.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        hashes = tuple(sorted(re.findall(r"--hash=(\S+)", line)))
        line = re.sub(r"\s--hash=\S+", "", line).strip()
        match = _LINE.match(line)
        if match is None:
            continue
        marker = (match["marker"] or "").strip() or None
        pins.append(Pin(canonical(match["name"]), match["version"], marker, hashes))
    return pins


def pins_from_pylock(data: dict[str, Any]) -> list[Pin]:
    """Pins of a PEP 751 pylock.toml; local directories and VCS packages are not pins."""
    pins = []
    for package in data.get("packages", []):
        if "directory" in package or "vcs" in package or "version" not in package:
            continue
        hashes = set()
        for artifact in [*package.get("wheels", []), package.get("sdist") or {}]:
            for algorithm, value in (artifact.get("hashes") or {}).items():
                hashes.add(f"{algorithm}:{value}")
        pins.append(
            Pin(
                canonical(package["name"]),
                str(package["version"]),
                package.get("marker"),
                tuple(sorted(hashes)),
            )
        )
    return pins


def pins_from_pex_lock(data: dict[str, Any]) -> list[Pin]:
    pins = []
    for resolve in data.get("locked_resolves", []):
        for req in resolve.get("locked_requirements", []):
            hashes = {
                f"{a['algorithm']}:{a['hash']}" for a in req.get("artifacts", []) if "hash" in a
            }
            pins.append(
                Pin(canonical(req["project_name"]), req["version"], None, tuple(sorted(hashes)))
            )
    return pins
