"""The edit -> deploy -> live benchmark, every scenario and baseline in one run on one machine.

    python -m benchmarks.loop [--quick] [--json FILE] [--work DIR] [--docs DIR]

Writes the JSON result, a markdown report (docs/benchmarks.md on a full run) and a PNG chart.
It is not a test: it never fails on slowness, only when something does not work.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any, Callable

from benchmarks import baselines, report, scenarios
from benchmarks.generated_project import write_generated_project
from benchmarks.harness import Sandbox
from benchmarks.timing import Scenario

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "example_project"
MODULE = "example_project.definitions"

DESCRIPTIONS = {
    "cold_full": "empty caches and store, no host: build, upload, start, serving",
    "deps_change": "one small dependency added: deps rebuilt, uploaded, serving",
    "deps_change_large": "the same on a real-size project (dagster, dagster-cloud, boto3, "
    "pandas, matplotlib)",
    "source_edit": "one new asset saved -> answered by the stable endpoint (standby ready)",
    "source_edit_in_process": "the same edit deployed in-process, as the `dev` loop does",
    "source_edit_cold": "the same edit with the standby pool disabled (--no-standby)",
    "source_edit_generated": "the same edit on a generated 200-asset, 30-module project",
    "many_locations": "ten locations sharing one deps.pex on one host",
    "image_rebuild": "fresh venv + pip install + cold `dagster api grpc` until it answers",
    "image_restart": "same built venv, new `dagster api grpc` process until it answers",
    "dagster_plus_builder": "dagster-cloud-cli's deps.pex + source.pex builders, same project",
}


def runs_for(quick: bool) -> dict[str, int]:
    if quick:
        return dict(cold=1, deps=1, edit=3, edit_cold=2, image_rebuild=1, image_restart=2, dp=1)
    return dict(cold=2, deps=2, edit=10, edit_cold=5, image_rebuild=2, image_restart=5, dp=2)


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "date": datetime.date.today().isoformat(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        import dagster

        info["dagster"] = dagster.__version__
    except ImportError:
        pass
    return info


def compile_package() -> str:
    """Bytecode for dagster_fastdeploy and every package it brings, as `pip install` writes
    it: a checkout installed without bytecode (uv, or PYTHONDONTWRITEBYTECODE=1 as on these
    machines) would otherwise recompile click, yaml, packaging... at every CLI start (0.1-0.2 s
    here), which no pip-installed tool pays."""
    import compileall
    import re
    from importlib import metadata

    compileall.compile_dir(str(REPO / "dagster_fastdeploy"), quiet=1)
    seen: set[str] = set()
    todo = ["dagster-fastdeploy"]
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for requirement in dist.requires or []:
            if "extra ==" not in requirement:
                todo.append(re.split(r"[\s\[<>=!~;(]", requirement, maxsplit=1)[0])
        for file in dist.files or []:
            if str(file).endswith(".py"):
                compileall.compile_file(str(file.locate()), quiet=2)
    return (
        "dagster_fastdeploy's bytecode and its dependencies' were compiled before timing, as "
        "`pip install` does (the image baselines get the same)."
    )


def run_all(work: Path, quick: bool, only: set[str] | None = None) -> dict[str, Any]:
    n = runs_for(quick)
    found: dict[str, Scenario] = {k: Scenario(k, v) for k, v in DESCRIPTIONS.items()}
    notes: list[str] = [compile_package()]

    def attempt(name: str, body: Callable[[], None]) -> None:
        needed_by = {
            "source_edit": {"deps_change", "source_edit_in_process"},
            "image_rebuild": {"image_restart"},
        }
        if only and name not in only and not needed_by.get(name, set()) & only:
            found[name].skipped = "not selected (--only)"
            return
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        try:
            body()
        except Exception as e:  # a broken scenario is reported, and the run goes on
            found[name].skipped = f"failed: {e}"
            traceback.print_exc()
        data = found[name].to_dict()
        print(f"[bench] {name}: median {data.get('median_s')} s", file=sys.stderr, flush=True)

    shared = Sandbox(work / "warm")  # one PEX_ROOT and build cache for the warm scenarios

    state: dict[str, Any] = {}

    def image() -> None:
        pinned = baselines.pin_requirements(
            EXAMPLE, f"{sys.version_info[0]}.{sys.version_info[1]}", work / "pinned.txt"
        )
        state["venv"] = baselines.image_rebuild(
            found["image_rebuild"], EXAMPLE, MODULE, pinned, work, n["image_rebuild"]
        )

    attempt("image_rebuild", image)
    if state.get("venv"):
        attempt(
            "image_restart",
            lambda: baselines.image_restart(
                found["image_restart"], state["venv"], EXAMPLE, MODULE, n["image_restart"]
            ),
        )
    attempt("cold_full", lambda: scenarios.cold_full(found["cold_full"], EXAMPLE, work, n["cold"]))

    def warm_edits() -> None:
        warm = scenarios.WarmLocation(EXAMPLE, shared, standby=True, location="edits")
        try:
            scenarios.source_edit(found["source_edit"], warm, n["edit"])
            attempt(
                "source_edit_in_process",
                lambda: scenarios.source_edit_in_process(
                    found["source_edit_in_process"], warm, n["edit"]
                ),
            )
            attempt(
                "deps_change", lambda: scenarios.deps_change(found["deps_change"], warm, n["deps"])
            )
        finally:
            warm.stop()

    attempt("source_edit", warm_edits)

    def cold_edits() -> None:
        sandbox = Sandbox(work / "no-standby", share_caches_with=shared.caches)
        warm = scenarios.WarmLocation(EXAMPLE, sandbox, standby=False, location="edits")
        try:
            scenarios.source_edit(found["source_edit_cold"], warm, n["edit_cold"])
        finally:
            warm.stop()

    attempt("source_edit_cold", cold_edits)

    def large_deps() -> None:
        project = scenarios.large_project(EXAMPLE, work / "large-src")
        sandbox = Sandbox(work / "large", share_caches_with=shared.caches)
        warm = scenarios.WarmLocation(project, sandbox, standby=True, location="large")
        try:
            first = n["deps"]  # after the packages deps_change added
            scenarios.deps_change(found["deps_change_large"], warm, n["deps"], first)
        finally:
            warm.stop()

    if quick and not (only and "deps_change_large" in only):
        # A real-size deps.pex is minutes to build cold: full runs (or --only) measure it.
        found["deps_change_large"].skipped = "full runs only (or --only deps_change_large)"
    else:
        attempt("deps_change_large", large_deps)

    def generated() -> None:
        project = write_generated_project(work / "generated-src")
        sandbox = Sandbox(work / "generated", share_caches_with=shared.caches)
        warm = scenarios.WarmLocation(project, sandbox, standby=True, location="generated")
        try:
            scenarios.source_edit(found["source_edit_generated"], warm, n["edit_cold"])
        finally:
            warm.stop()

    attempt("source_edit_generated", generated)
    attempt(
        "many_locations",
        lambda: scenarios.many_locations(
            found["many_locations"],
            EXAMPLE,
            Sandbox(work / "many", share_caches_with=shared.caches),
        ),
    )
    attempt(
        "dagster_plus_builder",
        lambda: baselines.dagster_plus_builder(
            found["dagster_plus_builder"],
            EXAMPLE,
            f"{sys.version_info[0]}.{sys.version_info[1]}",
            work,
            n["dp"],
        ),
    )

    result: dict[str, Any] = {
        "machine": machine(),
        "quick": quick,
        "scenarios": {k: v.to_dict() for k, v in found.items()},
    }
    result["ratios"] = report.ratios(result["scenarios"])
    result["notes"] = notes + report.targets(result["scenarios"])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (CI)")
    parser.add_argument("--json", type=Path, default=None, help="where to write the JSON result")
    parser.add_argument(
        "--only", default=None, help="comma-separated scenarios to run (default: all)"
    )
    parser.add_argument("--work", type=Path, default=None, help="scratch dir (default: a temp dir)")
    parser.add_argument(
        "--docs",
        type=Path,
        default=None,
        help="where to write benchmarks.md and the chart (default: docs/ on a "
        "full run, the JSON's folder on a quick one)",
    )
    args = parser.parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="fastdeploy-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    json_path = args.json or REPO / "benchmarks" / "out" / "loop.json"
    docs = args.docs or (json_path.parent if args.quick else REPO / "docs")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    docs.mkdir(parents=True, exist_ok=True)
    try:
        only = set(args.only.split(",")) if args.only else None
        result = run_all(work, args.quick, only)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    command = "python -m benchmarks.loop" + (" --quick" if args.quick else "")
    report.chart(result, docs / "benchmarks.png")
    (docs / "benchmarks.md").write_text(report.markdown(result, "benchmarks.png", command))
    print(json.dumps({k: v.get("median_s") for k, v in result["scenarios"].items()}, indent=2))
    broken = [
        k for k, v in result["scenarios"].items() if str(v.get("skipped", "")).startswith("failed")
    ]
    if broken:
        print(f"scenarios that did not work: {', '.join(broken)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
