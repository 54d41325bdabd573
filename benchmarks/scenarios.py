"""Our scenarios: cold full deploy, dependency change, source edit with and without standby,
ten locations on one host. Each is timed from the user's action to the answer a user waits for."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    EndpointProbe,
    Host,
    Sandbox,
    add_asset,
    add_dependency,
    disk_usage,
    memory_of,
    wait_serving,
)
from benchmarks.timing import Run, Scenario

# Small pure-Python packages that neither dagster nor pandas pull in: one per deps_change run.
SMALL_DEPENDENCIES = ["toolz", "sortedcontainers", "humanize", "inflection", "more-itertools"]
# A real-size project's dependencies (deps.pex ~110 MB), for deps_change_large.
LARGE_DEPENDENCIES = ["dagster", "dagster-cloud", "boto3", "pandas", "matplotlib"]


def large_project(project: Path, dest: Path) -> Path:
    """`project` with the real-size dependency set added to its dependencies."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(project, dest, ignore=shutil.ignore_patterns("dist", "__pycache__"))
    pyproject = dest / "pyproject.toml"
    lines = "".join(f'  "{r}",\n' for r in LARGE_DEPENDENCIES)
    text = pyproject.read_text()
    pyproject.write_text(text.replace("dependencies = [\n", f"dependencies = [\n{lines}", 1))
    return dest


def _deploy(sandbox: Sandbox, project: Path, host: Host, run: Run, *extra: str) -> dict[str, Any]:
    result = sandbox.cli("deploy", str(project), "--server", host.address, *extra)
    if result.get("state") != "serving":
        raise RuntimeError(f"deploy did not serve: {result.get('error')}")
    _record_steps(run, result)
    return result


def _record_steps(run: Run, result: dict[str, Any]) -> None:
    """Every step of a deploy's answer into the run's breakdown: the client's, the build's,
    the host's; and the bytes it sent."""
    for step, seconds in (result.get("seconds") or {}).items():
        if step != "total":
            run.steps[f"deploy.{step}"] = run.steps.get(f"deploy.{step}", 0.0) + seconds
    for step, seconds in (result.get("build_steps") or {}).items():  # the build's own steps
        if step not in ("total", "deps"):
            run.steps[f"build.{step}"] = run.steps.get(f"build.{step}", 0.0) + seconds
    for step, seconds in (result.get("rollout_steps") or {}).items():  # the host's own steps
        run.steps[f"host.{step}"] = run.steps.get(f"host.{step}", 0.0) + seconds
    run.bytes_uploaded = (run.bytes_uploaded or 0) + int(result.get("bytes_uploaded", 0))


def _endpoint(host: Host, location: str) -> str:
    for entry in host.status()["locations"]:
        if entry["name"] == location:
            return str(entry["endpoint"])
    raise RuntimeError(f"{location} not on the host")


def cold_full(scenario: Scenario, project: Path, work: Path, runs: int) -> None:
    """Empty caches (PEX_ROOT, uv, build cache), empty store, no host: build, upload, start,
    serving, and the definitions answered through the stable endpoint."""
    for i in range(runs):
        sandbox = Sandbox(work / f"cold-{i}")
        copy = sandbox.copy_project(project, "project")
        host = Host(sandbox)

        def body(
            run: Run, sandbox: Sandbox = sandbox, copy: Path = copy, host: Host = host
        ) -> None:
            with run.step("host_start"):
                host.start()
            with run.step("deploy"):
                result = _deploy(sandbox, copy, host, run)
            with run.step("answered"):
                probe = EndpointProbe(result["endpoint"], result["location"])
                wait_serving(probe, "orders_by_region")

        try:
            scenario.measure(body)
        finally:
            host.stop()
            shutil.rmtree(sandbox.root, ignore_errors=True)


class WarmLocation:
    """A host with example_project deployed once, ready for timed edits."""

    def __init__(self, project: Path, sandbox: Sandbox, standby: bool, location: str):
        self.sandbox, self.location = sandbox, location
        self.project = sandbox.copy_project(project, f"project-{location}")
        self.host = Host(sandbox, standby=standby).start()
        try:
            _deploy(sandbox, self.project, self.host, Run(), "--location", location)
            self.probe = EndpointProbe(_endpoint(self.host, location), location)
        except BaseException:
            self.host.stop()
            raise
        self.edits = 0

    def deploy(self, run: Run) -> dict[str, Any]:
        return _deploy(self.sandbox, self.project, self.host, run, "--location", self.location)

    def stop(self) -> None:
        self.host.stop()


def source_edit(scenario: Scenario, warm: WarmLocation, runs: int, settle: float = 1.0) -> None:
    """One new asset saved, deployed through the CLI, answered by the stable endpoint."""
    import time

    for _ in range(runs):
        time.sleep(settle)  # let the host start its next standby, as between two real edits
        warm.edits += 1
        name = f"bench_asset_{warm.edits}"

        def body(run: Run, name: str = name) -> None:
            with run.step("save"):
                add_asset(warm.project, name)
            with run.step("deploy"):
                warm.deploy(run)
            with run.step("answered"):
                wait_serving(warm.probe, name)

        scenario.measure(body)


def source_edit_in_process(
    scenario: Scenario, warm: WarmLocation, runs: int, settle: float = 1.0
) -> None:
    """The `dev` loop's path: the same edit deployed by deploy_project() called in a process that
    has deployed before (no CLI start), answered by the stable endpoint."""
    import os
    import time

    from dagster_fastdeploy.actions.deploy import deploy_project
    from dagster_fastdeploy.store import open_store

    saved = dict(os.environ)
    os.environ.update(warm.sandbox.env())
    try:
        store = open_store(warm.sandbox.store_url)
        out_dir = warm.sandbox.root / "in-process-builds"

        def deploy(run: Run) -> None:
            result = deploy_project(
                warm.project,
                store,
                location=warm.location,
                server=warm.host.address,
                out_dir=out_dir,
            ).to_json()
            if result.get("state") != "serving":
                raise RuntimeError(f"deploy did not serve: {result.get('error')}")
            _record_steps(run, result)

        deploy(Run())  # this process's first deploy imports what every later one reuses
        for _ in range(runs):
            time.sleep(settle)
            warm.edits += 1
            name = f"bench_asset_{warm.edits}"

            def body(run: Run, name: str = name) -> None:
                with run.step("save"):
                    add_asset(warm.project, name)
                with run.step("deploy"):
                    deploy(run)
                with run.step("answered"):
                    wait_serving(warm.probe, name)

            scenario.measure(body)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def deps_change(scenario: Scenario, warm: WarmLocation, runs: int, first: int = 0) -> None:
    """One small dependency added: deps rebuilt; bytes uploaded next to the full deps.pex size.
    Run i adds SMALL_DEPENDENCIES[first + i] (each scenario its own, so none is cached)."""
    full_sizes = []
    for i in range(runs):
        requirement = SMALL_DEPENDENCIES[(first + i) % len(SMALL_DEPENDENCIES)]
        warm.edits += 1
        name = f"bench_asset_{warm.edits}"

        previous = Path(warm.sandbox.cli("build", str(warm.project))["deps"]["path"])

        def body(
            run: Run, requirement: str = requirement, name: str = name, previous: Path = previous
        ) -> None:
            with run.step("save"):
                add_dependency(warm.project, requirement, keep_pins_of=previous)
                add_asset(warm.project, name)
            with run.step("deploy"):
                result = warm.deploy(run)
            with run.step("answered"):
                wait_serving(warm.probe, name)
            manifest = warm.sandbox.cli("build", str(warm.project))
            full_sizes.append(int(manifest["deps"]["size"]))
            run.steps.pop("deploy.path", None)
            if result.get("path") != "full":
                raise RuntimeError("a dependency change did not rebuild deps")

        scenario.measure(body)
    scenario.extra["deps_pex_bytes"] = max(full_sizes) if full_sizes else None


def many_locations(scenario: Scenario, project: Path, sandbox: Sandbox, count: int = 10) -> None:
    """Ten locations sharing one deps.pex on one host: memory per location, disk used."""
    host = Host(sandbox).start()
    locations = [f"location_{i:02d}" for i in range(count)]
    per_location: list[dict[str, Any]] = []
    try:

        def body(run: Run) -> None:
            for location in locations:
                copy = sandbox.copy_project(project, f"project-{location}")
                with run.step("deploy_each"):
                    _deploy(sandbox, copy, host, run, "--location", location)
                per_location.append(_host_memory(host))

        scenario.measure(body)
        status = host.status()["locations"]
        serving = [entry for entry in status if entry["state"] == "serving"]
        total = per_location[-1] if per_location else {}
        increments = [
            after["pss_kb"] - before["pss_kb"]
            for before, after in zip([{"pss_kb": 0}, *per_location], per_location)
        ]
        scenario.extra["memory"] = {
            "locations_serving": len(serving),
            "host_children_after_each_deploy": per_location,
            "pss_kb_added_by_each_location": increments,
            "first_location_pss_kb": increments[0] if increments else None,
            "later_locations_median_pss_kb": sorted(increments[1:])[len(increments[1:]) // 2]
            if len(increments) > 1
            else None,
            "total_children_rss_kb": total.get("rss_kb"),
            "total_children_pss_kb": total.get("pss_kb"),
            "environments_disk_bytes": disk_usage(sandbox.data_dir),
        }
    finally:
        host.stop()


def _host_memory(host: Host) -> dict[str, int]:
    pids = host.children()
    totals = {"processes": len(pids), "rss_kb": 0, "pss_kb": 0}
    for pid in pids:
        mem = memory_of(pid)
        totals["rss_kb"] += mem.get("rss_kb", 0)
        totals["pss_kb"] += mem.get("pss_kb", 0)
    return totals
