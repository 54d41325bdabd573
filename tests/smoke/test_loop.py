"""The whole loop on the Python running the tests: build example_project, serve it from a warm
host, deploy it, then deploy an edit that a code server forked from the standby serves.

`.ci/run` runs this module (marker `smoke`) in a venv of the lowest and of the highest supported
Python; the full suite runs on one."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from tests.fixtures_runtime import ProjectCopy
from tests.test_host import asset_keys_through_dagster, endpoint_port

pytestmark = pytest.mark.smoke
LOCATION = "example_project"


def test_build_serve_deploy_and_a_forked_edit(
    file_store: Any, project_copy: ProjectCopy, start_host: Any
) -> None:
    host = start_host(file_store)
    with host.client() as control:
        first = control.deploy(LOCATION, project_copy.publish(file_store).version, timeout=600)
    assert first.state == "serving", first.error
    keys, _ = asset_keys_through_dagster(endpoint_port(first))
    assert keys, "the first version serves no assets"

    project_copy.add_asset("added_on_this_python")
    with host.client() as control:
        second = control.deploy(LOCATION, project_copy.publish(file_store).version, timeout=600)
        standby = control.status().standby
    assert second.state == "serving", second.error
    # a source-only edit: served by a fork of the environment's standby, no new interpreter
    assert "handover" in second.steps and "start" not in second.steps
    (environment,) = standby.environments
    assert environment.state == "ready"
    keys, server_id = asset_keys_through_dagster(endpoint_port(second))
    assert "added_on_this_python" in keys and server_id == second.server_id
    assert first.code_server_pid != second.code_server_pid
    print(f"loop ok on Python {sys.version.split()[0]}")
