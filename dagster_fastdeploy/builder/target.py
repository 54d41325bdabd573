"""What a build is for: a Python version (and the local interpreter of that version) and the
platforms the environment must run on. By default the host's own platform."""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from dagster_fastdeploy.builder.platforms import parse_platform


def host_platform() -> str:
    """The host's platform tag, e.g. linux_x86_64."""
    return re.sub(r"[-.]", "_", sysconfig.get_platform())


@dataclass(frozen=True)
class BuildTarget:
    python: str  # "3.12"
    # A local python3.12. Host builds need it; foreign-platform builds use it when there is one
    # (setup.py egg_info, --check) and otherwise get by without.
    interpreter: Path | None
    platforms: tuple[str, ...]  # empty: the host's own platform

    @property
    def is_host(self) -> bool:
        return not self.platforms

    @property
    def platform_names(self) -> list[str]:
        return list(self.platforms) or [host_platform()]

    @property
    def helper_python(self) -> Path:
        """An interpreter to run setup.py with: the target's, else this one."""
        return self.interpreter or Path(sys.executable)

    @cached_property
    def python_full_version(self) -> str:
        if self.interpreter is None:
            return f"{self.python}.0"
        out = subprocess.run(
            [str(self.interpreter), "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
        )
        return out.stdout.strip() or f"{self.python}.0"

    def pex_args(self, work_dir: Path) -> list[str]:
        """pex's target selection: the interpreter, or a complete platform per foreign platform."""
        if self.is_host:
            assert self.interpreter is not None
            return ["--python", str(self.interpreter)]
        from dagster_fastdeploy.builder.platforms import write_complete_platform

        args: list[str] = []
        for platform in self.platforms:
            path = write_complete_platform(platform, self.python_full_version, work_dir)
            args += ["--complete-platform", str(path)]
        return args

    def uv_args(self) -> list[str]:
        """uv's target selection for `uv pip compile`."""
        if self.is_host:
            assert self.interpreter is not None
            return ["--python", str(self.interpreter)]
        if len(self.platforms) > 1:
            return ["--python-version", self.python, "--universal"]
        return [
            "--python-version",
            self.python_full_version,
            "--python-platform",
            uv_platform(self.platforms[0]),
        ]


def check_platform(platform: str) -> str:
    parse_platform(platform)
    return platform


def uv_platform(platform: str) -> str:
    parsed = parse_platform(platform)
    arch = parsed.arch
    if parsed.kind == "macosx":
        return "aarch64-apple-darwin" if arch in ("arm64", "universal2") else "x86_64-apple-darwin"
    arch = "aarch64" if arch == "arm64" else arch
    if parsed.kind == "musllinux":
        return f"{arch}-unknown-linux-musl"
    if parsed.kind == "manylinux" and parsed.version is not None:
        # uv knows manylinux_2_17, 2_28 and 2_31..2_40: take the newest not newer than the target.
        major, minor = parsed.version
        known = [m for m in (17, 28, *range(31, 41)) if m <= minor] or [17]
        return f"{arch}-manylinux_{major}_{known[-1]}"
    return f"{arch}-unknown-linux-gnu"
