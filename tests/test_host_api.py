"""The control API's JSON: what scripts read from `status --json` and `deploy --json` stays as
documented in docs/serve.md, and a client reads answers from a newer host."""

from __future__ import annotations

import json

from dagster_fastdeploy.host_api import (
    DeployResult,
    LoadError,
    LocationStatus,
    StatusAnswer,
    VersionState,
)

DOCUMENTED_STATUS_FIELDS = {
    "name", "location", "version", "pex_tag", "state", "endpoint", "server_id",
    "serving_version", "error", "definitions", "dagster_version", "python_version", "steps",
}  # fmt: skip


def test_a_location_status_is_the_documented_json_with_the_state_as_a_plain_string() -> None:
    failed = LocationStatus(
        name="etl",
        version=2,
        state=VersionState.FAILED,
        endpoint="127.0.0.1:4300",
        serving_version=1,
        error=LoadError("boom", type="SyntaxError", file="src/etl/assets.py", line=3),
    )
    text = json.dumps(failed.to_json())
    data = json.loads(text)
    assert set(data) >= DOCUMENTED_STATUS_FIELDS
    assert '"state": "failed"' in text
    assert data["location"] == data["name"] == "etl"
    assert data["error"] == {
        "message": "boom",
        "type": "SyntaxError",
        "file": "src/etl/assets.py",
        "line": 3,
        "traceback": None,
        "code": None,  # the offending line, and where the code server ran it (issue 11)
        "materialized_file": None,
        "full_traceback": None,
    }
    assert LocationStatus.from_json(data) == failed


def test_a_client_reads_an_answer_with_fields_it_does_not_know() -> None:
    answer = StatusAnswer.from_json(
        {
            "deployment": "prod",
            "locations": [{"name": "etl", "state": "serving", "endpoint": "h:1", "new": 1}],
            "standby": {"enabled": True, "environments": [], "also_new": True},
            "hosts": [],
        }
    )
    (entry,) = answer.locations
    assert entry.state is VersionState.SERVING and entry.state == "serving"
    assert answer.location("etl") is entry and answer.location("other") is None


def test_deploy_json_flattens_the_hosts_answer_in() -> None:
    result = DeployResult(
        location="etl",
        deployment="prod",
        version=2,
        previous_version=1,
        path="fast",
        uploaded=["source-x.pex"],
        bytes_uploaded=10,
        deps_bytes=100,
        pex_tag="files=deps-a.pex:source-x.pex",
        seconds={"total": 0.1},
        store="file:///tmp/s",
        rollout=LocationStatus(
            name="etl", version=2, state=VersionState.SERVING, endpoint="h:1", steps={"load": 0.1}
        ),
    )
    data = json.loads(json.dumps(result.to_json()))
    assert "rollout" not in data
    assert (data["state"], data["endpoint"], data["error"]) == ("serving", "h:1", None)
    assert data["rollout_steps"] == {"load": 0.1}
    without_host = DeployResult(**{**vars(result), "rollout": None}).to_json()
    assert "state" not in without_host and without_host["version"] == 2
