"""Complete platforms for foreign targets.

pex's abbreviated `--platform manylinux_2_28_x86_64-cp-312-cp312` guesses the marker environment
and tag list, and warns that it may resolve wrong. A complete platform states both, so pex picks
exactly the wheels that run there: every manylinux_2_N tag from the target's glibc down to
manylinux_2_5 (with the legacy manylinux2014/2010/1 aliases), never a newer one. Newer manylinux
tags (2_28, 2_34, ...) work like any other: no manylinux2014-only targeting.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster_fastdeploy.errors import ConfigError

ARCHES = ("x86_64", "aarch64", "arm64", "i686", "universal2")
_SHAPE = re.compile(
    r"^(?:(?P<many>manylinux)_(?P<glibc>\d+_\d+)"
    r"|(?P<legacy>manylinux(?:1|2010|2014))"
    r"|(?P<musl>musllinux)_(?P<musl_version>\d+_\d+)"
    r"|(?P<linux>linux)"
    rf"|(?P<mac>macosx)_(?P<mac_version>\d+_\d+))_(?P<arch>{'|'.join(ARCHES)})$"
)
# The legacy manylinux names and the glibc each stands for (PEP 600).
LEGACY_GLIBC = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_LEGACY_NAME = {glibc: name for name, glibc in LEGACY_GLIBC.items()}


@dataclass(frozen=True)
class Platform:
    """A wheel platform tag, read: its kind, CPU and (libc or macOS) version."""

    kind: str  # "manylinux" (legacy names too), "musllinux", "linux" or "macosx"
    arch: str
    version: tuple[int, int] | None  # glibc, musl or macOS version; None for plain linux


def parse_platform(platform: str) -> Platform:
    """Read a wheel platform tag such as manylinux_2_28_x86_64; anything else is a ConfigError."""
    match = _SHAPE.match(platform)
    if match is None:
        raise ConfigError(
            f"Unknown platform {platform!r}. Use a wheel platform tag such as "
            "manylinux_2_28_x86_64, manylinux_2_17_aarch64, musllinux_1_2_x86_64 or "
            "macosx_11_0_arm64."
        )
    arch = match["arch"]
    if match["legacy"]:
        return Platform("manylinux", arch, LEGACY_GLIBC[match["legacy"]])
    for kind, version in (("many", "glibc"), ("musl", "musl_version"), ("mac", "mac_version")):
        if match[kind]:
            major, minor = (int(p) for p in match[version].split("_"))
            return Platform(match[kind], arch, (major, minor))
    return Platform("linux", arch, None)


def platform_tags(platform: str) -> list[str]:
    """Platform tags a wheel may carry to run on `platform`, most specific first."""
    parsed = parse_platform(platform)
    arch = parsed.arch
    if parsed.kind == "linux" or parsed.version is None:
        return [f"linux_{arch}"]
    major, minor = parsed.version
    if parsed.kind == "manylinux":
        tags = []
        for m in range(minor, 4, -1):
            tags.append(f"manylinux_{major}_{m}_{arch}")
            alias = _LEGACY_NAME.get((major, m))
            if alias:
                tags.append(f"{alias}_{arch}")
        return tags
    if parsed.kind == "musllinux":
        return [f"musllinux_{major}_{m}_{arch}" for m in range(minor, -1, -1)]
    from packaging.tags import mac_platforms

    return list(mac_platforms((major, minor), arch))


def marker_environment(platform: str, python_full_version: str) -> dict[str, str]:
    parsed = parse_platform(platform)
    arch = parsed.arch
    is_mac = parsed.kind == "macosx"
    major_minor = ".".join(python_full_version.split(".")[:2])
    return {
        "implementation_name": "cpython",
        "implementation_version": python_full_version,
        "os_name": "posix",
        "platform_machine": arch,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Darwin" if is_mac else "Linux",
        "platform_version": "",
        "python_full_version": python_full_version,
        "python_version": major_minor,
        "sys_platform": "darwin" if is_mac else "linux",
    }


def complete_platform(platform: str, python_full_version: str) -> dict[str, Any]:
    """pex's `--complete-platform` JSON for CPython `python_full_version` on `platform`."""
    from packaging.tags import compatible_tags, cpython_tags

    major, minor = (int(p) for p in python_full_version.split(".")[:2])
    platforms = platform_tags(platform)
    tags = [
        *cpython_tags((major, minor), platforms=platforms),
        *compatible_tags((major, minor), interpreter=f"cp{major}{minor}", platforms=platforms),
    ]
    return {
        "marker_environment": marker_environment(platform, python_full_version),
        "compatible_tags": [str(tag) for tag in tags],
    }


def write_complete_platform(platform: str, python_full_version: str, directory: Path) -> Path:
    path = directory / f"complete-platform-{platform}-{python_full_version}.json"
    path.write_text(json.dumps(complete_platform(platform, python_full_version), indent=1))
    return path
