"""What a build is for: a Python version (and the local interpreter of that version) and the
platforms the environment must run on. By default the host's own platform."""

from __future__ import annotations

import re
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from dagster_fastdeploy.errors import ConfigError

_PLATFORM = re.compile(
    r"^(?:manylinux_(?P<glibc>\d+_\d+)|manylinux(?P<legacy>1|2010|2014)|musllinux_(?P<musl>\d+_\d+)"
    r"|linux|macosx_(?P<macos>\d+_\d+))_(?P<arch>x86_64|aarch64|arm64|i686|universal2)$"
)
_LEGACY_GLIBC = {"1": "2_5", "2010": "2_12", "2014": "2_17"}


def host_platform() -> str:
    """The host's platform tag, e.g. linux_x86_64."""
    return re.sub(r"[-.]", "_", sysconfig.get_platform())


@dataclass(frozen=True)
class BuildTarget:
    python: str  # "3.12"
    interpreter: Path  # a local python3.12; runs setup.py and builds sdists
    platforms: tuple[str, ...]  # empty: the host's own platform

    @property
    def is_host(self) -> bool:
        return not self.platforms

    @property
    def platform_names(self) -> list[str]:
        return list(self.platforms) or [host_platform()]

    @property
    def cp(self) -> str:
        return "cp" + self.python.replace(".", "")

    def pex_args(self) -> list[str]:
        """pex's target selection: the interpreter, or one `--platform` per foreign platform."""
        if self.is_host:
            return ["--python", str(self.interpreter)]
        args: list[str] = []
        for platform in self.platforms:
            args += ["--platform", f"{platform}-cp-{self.python.replace('.', '')}-{self.cp}"]
        # Build sdists with the local interpreter of the same version when no wheel exists.
        return [*args, "--resolve-local-platforms", "--python", str(self.interpreter)]

    def uv_args(self) -> list[str]:
        """uv's target selection for `uv pip compile`."""
        if self.is_host:
            return ["--python", str(self.interpreter)]
        if len(self.platforms) > 1:
            return ["--python-version", self.python, "--universal"]
        return [
            "--python-version",
            self.python,
            "--python-platform",
            uv_platform(self.platforms[0]),
        ]


def check_platform(platform: str) -> str:
    if not _PLATFORM.match(platform):
        raise ConfigError(
            f"Unknown platform {platform!r}. Use a wheel platform tag such as "
            "manylinux_2_28_x86_64, manylinux_2_17_aarch64, musllinux_1_2_x86_64 or "
            "macosx_11_0_arm64."
        )
    return platform


def uv_platform(platform: str) -> str:
    match = _PLATFORM.match(check_platform(platform))
    assert match is not None
    arch = match["arch"]
    if match["macos"]:
        return "aarch64-apple-darwin" if arch in ("arm64", "universal2") else "x86_64-apple-darwin"
    arch = "aarch64" if arch == "arm64" else arch
    if match["musl"]:
        return f"{arch}-unknown-linux-musl"
    glibc = match["glibc"] or _LEGACY_GLIBC.get(match["legacy"] or "")
    if glibc:
        return f"{arch}-manylinux_{glibc}"
    return f"{arch}-unknown-linux-gnu"
