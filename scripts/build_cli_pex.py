"""Build the CLI as one self-contained file: dist/dagster-fastdeploy.pex.

    python scripts/build_cli_pex.py [--out dist/dagster-fastdeploy.pex] [--python 3.11 ...]

A CI runner then needs only a Python interpreter: `python3 dagster-fastdeploy.pex deploy ...`,
nothing to install, no image to pull. Built with our own tooling: our wheel by the builder's
in-process hatchling build (builder/project_wheel.py), its dependencies resolved and packed by
the same pex the builder runs (builder/deps_pex.py). The PEX runs in venv mode, so the tools the
CLI starts as subprocesses (`python -m pex`, pex-tools, uv's binary, PEP 517 backends) are found
inside it. One `--python` per interpreter version it must run on (default: this one's).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dagster_fastdeploy.builder.deps_pex import pex_command  # noqa: E402
from dagster_fastdeploy.builder.interpreters import find_python  # noqa: E402
from dagster_fastdeploy.builder.project_wheel import build_wheel  # noqa: E402


def build_cli_pex(out: Path, pythons: list[str]) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fastdeploy-cli-") as tmp:
        wheel = build_wheel(REPO, "hatchling.build", Path(tmp))
        interpreters = [arg for v in pythons for arg in ("--python", str(find_python(v)))]
        subprocess.run(
            [
                *pex_command(),
                str(wheel),
                *interpreters,
                "--console-script",
                "dagster-fastdeploy",
                "--venv",
                "prepend",
                "--python-shebang",
                "/usr/bin/env python3",
                "--no-emit-warnings",
                "-o",
                str(out),
            ],
            check=True,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist" / "dagster-fastdeploy.pex")
    parser.add_argument(
        "--python",
        action="append",
        default=None,
        metavar="X.Y",
        help="a Python version the PEX runs on (repeatable; default: this interpreter's)",
    )
    args = parser.parse_args()
    pythons = args.python or [f"{sys.version_info.major}.{sys.version_info.minor}"]
    path = build_cli_pex(args.out, pythons)
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB, Python {', '.join(pythons)})")


if __name__ == "__main__":
    main()
