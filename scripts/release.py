"""Build dagster-fastdeploy's release files (sdist, then the wheel from the sdist) into
dist/release/, check them, and with --upload publish them with twine: one command per release.

    python scripts/release.py [--out DIR] [--upload] [--repository pypi|testpypi]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# What a working wheel must carry: the CLI, the loader that runs in users' environments, the
# hatch plugin registration.
WHEEL_MUST_HOLD = (
    "dagster_fastdeploy/cli.py",
    "dagster_fastdeploy/loader/code_server.py",
    "dagster_fastdeploy/backend.py",
)


def build(out: Path) -> list[Path]:
    """sdist + wheel (built from the unpacked sdist) into an emptied `out`."""
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO)], check=True)
    files = sorted(out.glob("dagster_fastdeploy-*"))
    kinds = {p.suffix for p in files}
    if kinds != {".gz", ".whl"} or len(files) != 2:
        raise SystemExit(f"expected one sdist and one wheel in {out}, found {files}")
    return files


def check_wheel(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), None)
        missing = [n for n in WHEEL_MUST_HOLD if n not in names]
        if missing or entry_points is None:
            raise SystemExit(f"{wheel.name} lacks {missing or 'entry_points.txt'}")
        text = zf.read(entry_points).decode()
    for needed in ("dagster-fastdeploy = dagster_fastdeploy.cli:run", "[hatch]"):
        if needed not in text:
            raise SystemExit(f"{wheel.name}: entry_points.txt lacks {needed!r}")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist" / "release")
    parser.add_argument("--upload", action="store_true", help="twine upload the two files")
    parser.add_argument("--repository", default="pypi", help="twine repository (pypi, testpypi)")
    args = parser.parse_args(argv)

    files = build(args.out.resolve())
    check_wheel(next(p for p in files if p.suffix == ".whl"))
    for path in files:
        print(f"{sha256_of(path)}  {path}")
    if args.upload:
        upload = [sys.executable, "-m", "twine", "upload", "--repository", args.repository]
        subprocess.run([*upload, *map(str, files)], check=True)
    else:
        print(f"publish with: python scripts/release.py --upload (or twine upload {args.out}/*)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
