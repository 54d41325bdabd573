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
from pathlib import Path
from typing import Any

_LEGACY_ALIASES = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
_SHAPE = re.compile(
    r"^(?:(?P<many>manylinux)_(?P<glibc_major>\d+)_(?P<glibc_minor>\d+)"
    r"|(?P<legacy>manylinux(?:1|2010|2014))"
    r"|(?P<musl>musllinux)_(?P<musl_major>\d+)_(?P<musl_minor>\d+)"
    r"|(?P<linux>linux)"
    r"|macosx_(?P<mac_major>\d+)_(?P<mac_minor>\d+))_(?P<arch>x86_64|aarch64|arm64|i686|universal2)$"
)
_LEGACY_GLIBC = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def platform_tags(platform: str) -> list[str]:
    """Platform tags a wheel may carry to run on `platform`, most specific first."""
    match = _SHAPE.match(platform)
    if match is None:
        raise ValueError(platform)
    arch = match["arch"]
    if match["many"] or match["legacy"]:
        if match["legacy"]:
            major, minor = _LEGACY_GLIBC[match["legacy"]]
        else:
            major, minor = int(match["glibc_major"]), int(match["glibc_minor"])
        tags = []
        for m in range(minor, 4, -1):
            tags.append(f"manylinux_{major}_{m}_{arch}")
            alias = _LEGACY_ALIASES.get((major, m))
            if alias:
                tags.append(f"{alias}_{arch}")
        return tags
    if match["musl"]:
        major = int(match["musl_major"])
        return [f"musllinux_{major}_{m}_{arch}" for m in range(int(match["musl_minor"]), -1, -1)]
    if match["linux"]:
        return [f"linux_{arch}"]
    from packaging.tags import mac_platforms

    version = (int(match["mac_major"]), int(match["mac_minor"]))
    return list(mac_platforms(version, arch))


def marker_environment(platform: str, python_full_version: str) -> dict[str, str]:
    arch = next(
        a for a in ("x86_64", "aarch64", "arm64", "i686", "universal2") if platform.endswith(a)
    )
    is_mac = platform.startswith("macosx")
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
