"""`deploy --server` and `rollback --server` against a real warm host (`dagster-fastdeploy serve`
in a subprocess, real code servers), on a file store and on the moto S3 server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dagster_fastdeploy.builder import build_project
from dagster_fastdeploy.host_api import LocationStatus
from dagster_fastdeploy.store import open_store
from dagster_fastdeploy.store.s3 import S3Store
from tests.fixtures_store import MotoServer, free_port
from tests.test_deploy import edit, run_cli

LOCATION = "example_project"


def served(host: Any) -> LocationStatus:
    with host.client() as control:
        entry = control.status().location(LOCATION)
    assert entry is not None
    return entry


def test_deploy_and_rollback_roll_out_to_the_host_and_wait_until_it_serves(
    file_store_url: str, example_copy: Path, start_host: Any, tmp_path: Path
) -> None:
    host = start_host(open_store(file_store_url), env={"DAGSTER_FASTDEPLOY_TOKEN": "s3cret"})
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    server = ["--server", host.address, "--token-file", str(token_file), "--timeout", "300"]

    first = run_cli("deploy", str(example_copy), "--store", file_store_url, "--json", *server)
    assert first.returncode == 0, first.stderr
    v1 = json.loads(first.stdout)
    assert (v1["version"], v1["state"]) == (1, "serving")
    assert v1["server_id"] and v1["endpoint"]
    assert "rollout" in v1["seconds"]
    # the host's own steps, for a user asking where the rollout's time went
    assert {"fetch", "materialize", "load", "switch"} <= set(v1["rollout_steps"])

    edit(example_copy, "a one-line change")
    second = run_cli("deploy", str(example_copy), "--store", file_store_url, *server)
    assert second.returncode == 0, second.stderr
    assert f"host {host.address}: serving" in second.stdout
    assert served(host).serving_version == 2

    back = run_cli("rollback", "--location", LOCATION, "--store", file_store_url, "--json", *server)
    assert back.returncode == 0, back.stderr
    v3 = json.loads(back.stdout)
    assert (v3["version"], v3["rolled_back_to"], v3["state"]) == (3, 1, "serving")
    assert v3["server_id"] != v1["server_id"]  # a new code server, so Dagster reloads
    now = served(host)
    assert (now.serving_version, now.pex_tag) == (3, v1["pex_tag"])


@pytest.mark.faults
def test_a_corrupted_blob_is_refused_by_the_host_and_the_good_version_keeps_serving(
    s3_store_url: str,
    moto_server: MotoServer,
    example_copy: Path,
    start_host: Any,
    tmp_path: Path,
) -> None:
    store = open_store(s3_store_url)
    assert isinstance(store, S3Store)
    host = start_host(store)
    server = ["--server", host.address, "--timeout", "300"]
    good = run_cli("deploy", str(example_copy), "--store", s3_store_url, "--json", *server)
    assert good.returncode == 0, good.stderr
    # The next edit's source.pex is already in the bucket, with the right size and bad bytes
    # (a bad copy by some other tool): the deploy trusts it, the host must not.
    edit(example_copy, "the next change")
    source = build_project(example_copy, out_dir=tmp_path / "peek").manifest.source
    data = bytearray((tmp_path / "peek" / source.name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    key = f"{store.prefix}blobs/{source.name}"
    moto_server.client().put_object(Bucket=store.bucket, Key=key, Body=bytes(data))

    bad = run_cli("deploy", str(example_copy), "--store", s3_store_url, "--json", *server)

    assert bad.returncode == 1
    answer = json.loads(bad.stdout)
    assert answer["version"] == 2 and answer["state"] == "failed"
    assert answer["error"]["type"] == "IntegrityError"
    assert source.name in answer["error"]["message"]
    assert "did not start serving" in bad.stderr and "Traceback" not in bad.stderr
    now = served(host)
    assert (now.version, now.state) == (2, "failed")  # what was asked, and how it went
    assert now.serving_version == 1  # what Dagster still talks to
    assert now.server_id == json.loads(good.stdout)["server_id"]
    plain = run_cli("deploy", str(example_copy), "--store", s3_store_url, *server)
    assert plain.returncode == 1
    assert f"error: blob {source.name} is corrupted in the store" in plain.stdout


def test_serve_and_deploy_reach_an_s3_compatible_store_named_by_endpoint_url(
    s3_store_url: str, moto_server: MotoServer, example_copy: Path, start_host: Any
) -> None:
    # $AWS_ENDPOINT_URL points at a closed port: only --endpoint-url leads to the store
    nowhere = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    flag = ["--endpoint-url", moto_server.endpoint]
    host = start_host(open_store(s3_store_url), extra_args=flag, env=nowhere)
    done = run_cli(
        "deploy", str(example_copy), "--store", s3_store_url, *flag, "--json",
        "--server", host.address, "--timeout", "300", env=nowhere,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "serving"
    assert served(host).state == "serving"


def test_an_unreachable_host_is_reported_after_the_version_is_recorded(
    file_store_url: str, example_copy: Path
) -> None:
    done = run_cli(
        "deploy",
        str(example_copy),
        "--store",
        file_store_url,
        "--server",
        f"127.0.0.1:{free_port()}",
    )

    assert done.returncode == 1
    assert "no warm host answers at 127.0.0.1:" in done.stderr
    assert "Traceback" not in done.stderr
    record = open_store(file_store_url).read_record("prod", LOCATION)
    assert record is not None and record.current is not None and record.current.version == 1
