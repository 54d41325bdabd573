"""`source_edit` before and after a change, interleaved, so both see the same machine load:

    python -m benchmarks.paired BEFORE AFTER [--runs 12] [--work DIR] [--json FILE]

BEFORE and AFTER are commits (or branches). Each one's `dagster_fastdeploy` is taken from git
into the work dir and compiled; each gets a warm host of its own code, with example_project
deployed once; then the same edit is deployed through each tree's CLI in turn, and timed until
the stable endpoint answers with it (as `source_edit` is). On a shared machine whose load moves
by 2x within minutes, this is the comparison to trust; the medians are printed as JSON.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import Sandbox, add_asset, wait_serving
from benchmarks.loop import EXAMPLE, REPO, compile_package
from benchmarks.scenarios import WarmLocation
from benchmarks.timing import Run


class TreeSandbox(Sandbox):
    """A sandbox whose CLI and host run the `dagster_fastdeploy` under `tree`."""

    tree: Path

    def env(self) -> dict[str, str]:
        env = super().env()
        env["PYTHONPATH"] = str(self.tree)
        return env


def checkout(commit: str, dest: Path) -> Path:
    """`commit`'s dagster_fastdeploy under `dest`, compiled."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, "dagster_fastdeploy"],
        capture_output=True,
        check=True,
    ).stdout
    with tempfile.TemporaryFile() as f:
        f.write(archive)
        f.seek(0)
        with tarfile.open(fileobj=f) as tar:
            tar.extractall(dest, filter="data")
    compileall.compile_dir(str(dest / "dagster_fastdeploy"), quiet=1)
    return dest


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def median(values: list[float]) -> float:
        return round(statistics.median(values), 3)

    totals = [r["total"] for r in rows]
    steps, host = rows[0]["seconds"], rows[0]["host"]
    return {
        "median_s": median(totals),
        "min_s": round(min(totals), 3),
        "max_s": round(max(totals), 3),
        "runs": len(rows),
        "deploy": median([r["deploy"] for r in rows]),
        "answered": median([r["answered"] for r in rows]),
        "deploy_steps": {k: median([r["seconds"].get(k, 0) for r in rows]) for k in steps},
        "host_steps": {k: median([r["host"].get(k, 0) for r in rows]) for k in host},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "paired")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    args.work = args.work.resolve()
    if args.json:
        args.json = args.json.resolve()
    compile_package()
    args.work.mkdir(parents=True, exist_ok=True)
    # The CLI and hosts run `python -m` in this directory: from a checkout, `-m` would import
    # the checkout's dagster_fastdeploy before PYTHONPATH's.
    os.chdir(args.work)
    warm: dict[str, WarmLocation] = {}
    try:
        for name, commit in (("before", args.before), ("after", args.after)):
            sandbox = TreeSandbox(args.work / name, share_caches_with=args.work / "caches")
            sandbox.tree = checkout(commit, args.work / name / "tree")
            warm[name] = WarmLocation(EXAMPLE, sandbox, True, "edits")
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in warm}
        for _ in range(args.runs):
            for name, location in warm.items():
                time.sleep(1.0)  # the host starts its next standby, as between two real edits
                location.edits += 1
                asset = f"bench_asset_{location.edits}"
                add_asset(location.project, asset)
                started = time.perf_counter()
                result = location.deploy(Run())
                deployed = time.perf_counter()
                wait_serving(location.probe, asset)
                answered = time.perf_counter()
                rows[name].append(
                    {
                        "total": answered - started,
                        "deploy": deployed - started,
                        "answered": answered - deployed,
                        "seconds": result["seconds"],
                        "host": result.get("rollout_steps") or {},
                    }
                )
    finally:
        for location in warm.values():
            location.stop()
    out = {
        name: {"commit": commit, **summary(rows[name])}
        for name, commit in (("before", args.before), ("after", args.after))
    }
    text = json.dumps(out, indent=1)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
