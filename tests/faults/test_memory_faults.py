"""A location's memory limit: code that allocates without bound is stopped with its own error,
the version before keeps serving, and the other locations on the host never notice."""

from __future__ import annotations

from typing import Any

from tests.fixtures_runtime import ProjectCopy
from tests.test_deploy import run_cli
from tests.test_host import endpoint_port

from .test_host_faults import _answers

GREEDY = """

import time as _time

_held = []
for _ in range(80):  # up to 4 GB, 50 MB at a time
    _held.append(b"x" * (50 * 1024 * 1024))
    _time.sleep(0.05)
"""


def _deploy(project: ProjectCopy, store_url: str, location: str) -> None:
    done = run_cli("deploy", str(project.root), "--store", store_url, "--location", location)
    assert done.returncode == 0, done.stderr


def test_code_that_allocates_past_its_memory_limit_is_stopped_and_the_neighbours_keep_serving(
    file_store: Any, project_copy: ProjectCopy, start_host: Any
) -> None:
    pyproject = project_copy.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'memory_limit = "700MiB"\n')
    host = start_host(file_store, extra_args=["--memory-limit", "8GiB"])
    _deploy(project_copy, file_store.url, "greedy")
    _deploy(project_copy, file_store.url, "neighbour")
    with host.client() as control:
        assert control.deploy("greedy", 1, timeout=300).state == "serving"
        neighbour = control.deploy("neighbour", 1, timeout=300)
    assert neighbour.state == "serving"

    definitions = project_copy.package / "definitions.py"
    definitions.write_text(definitions.read_text() + GREEDY)
    _deploy(project_copy, file_store.url, "greedy")
    with host.client() as control:
        answer = control.deploy("greedy", 2, timeout=300)
        after = {loc.name: loc for loc in control.status().locations}
    assert (answer.state, answer.serving_version) == ("failed", 1)
    assert answer.error.type == "MemoryLimitExceeded"
    assert "exceeded its memory limit of 700 MiB" in answer.error.message
    assert _answers(endpoint_port(answer))
    assert after["neighbour"].code_server_pid == neighbour.code_server_pid
    assert _answers(endpoint_port(after["neighbour"]))
    assert any(e.get("event") == "code_server.memory_limit" for e in host.log())


def test_a_memory_limit_that_is_not_a_size_is_refused(tmp_path: Any) -> None:
    done = run_cli(
        "serve", "--memory-limit", "2 parsecs", "--store", (tmp_path / "s").as_uri(),
        "--data-dir", str(tmp_path / "d"), "--port", "0",
    )  # fmt: skip
    assert done.returncode != 0
    assert "'2 parsecs' is not a memory size" in done.stderr and "Traceback" not in done.stderr
