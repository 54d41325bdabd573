"""`dev` at a repository whose dagster_cloud.yaml lists two locations (example_locations): both
are served, and a save deploys only the locations whose files it touched (a change in the shared
local library touches both)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

from dagster_fastdeploy.builder import BuildResult
from dagster_fastdeploy.runtime.control_client import ControlClient
from tests.fixtures_runtime import free_port, free_port_range
from tests.test_dev import Lines
from tests.test_host import asset_keys_through_dagster


@pytest.fixture
def dev_two_locations(
    example_build: BuildResult, copy_project: Callable, host_data_dir: Path
) -> Iterator[tuple[Path, Lines, str]]:
    root = copy_project("example_locations")
    store = (root.parent / "store").as_uri()
    # an earlier dev session of another project left its location recorded in the same store
    earlier = copy_project("example_project")
    subprocess.run(
        [sys.executable, "-m", "dagster_fastdeploy.cli", "deploy", str(earlier),
         "--store", store, "--deployment", "dev"],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    low, high = free_port_range(8)
    server = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dagster_fastdeploy.cli", "dev", str(root), "--no-ui",
         "--store", store, "--data-dir", str(host_data_dir),
         "--port", server.rsplit(":", 1)[1], "--location-ports", f"{low}-{high}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    yield root, Lines(proc), server
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def endpoint_port(line: str) -> int:
    return int(line.rsplit(":", 1)[1])


def test_dev_serves_every_location_and_deploys_only_the_touched_ones(
    dev_two_locations: tuple[Path, Lines, str],
) -> None:
    root, out, server = dev_two_locations
    port_a = endpoint_port(out.wait_for("loc_a: Dagster gRPC endpoint", timeout=600))
    port_b = endpoint_port(out.wait_for("loc_b: Dagster gRPC endpoint", timeout=300))
    assert asset_keys_through_dagster(port_a, "loc_a")[0] == {"a_orders"}
    assert asset_keys_through_dagster(port_b, "loc_b")[0] == {"b_revenue"}
    out.wait_for("watching", timeout=60)
    # the session serves its own locations only, not the one an earlier session left recorded
    with ControlClient(server) as client:
        assert sorted(loc.name for loc in client.status().locations) == ["loc_a", "loc_b"]

    loc_b = root / "loc_b" / "loc_b" / "__init__.py"
    loc_b.write_text(
        loc_b.read_text().replace(
            "defs = dg.Definitions(assets=[b_revenue])",
            "@dg.asset\ndef b_added() -> int:\n    return 1\n\n\n"
            "defs = dg.Definitions(assets=[b_revenue, b_added])",
        )
    )
    line = out.wait_for("serving in", timeout=300)
    assert line.startswith("✓ loc_b v2") and "+asset b_added" in line
    assert asset_keys_through_dagster(port_b, "loc_b")[0] == {"b_revenue", "b_added"}

    shared = root / "shared_lib" / "shared_lib" / "__init__.py"
    shared.write_text(shared.read_text() + "\n# a change both locations use\n")
    served = {tuple(out.wait_for("serving in", timeout=300).split()[1:3]) for _ in range(2)}
    # loc_a's first redeploy is v2: the save in loc_b alone did not deploy it
    assert served == {("loc_a", "v2"), ("loc_b", "v3")}
