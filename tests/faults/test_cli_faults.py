"""Faults a user can cause from the command line: broken project files, a bad location name, a
host address that only looks like loopback, a host that cannot be reached, a damaged store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from dagster_fastdeploy.store import open_store
from tests.fixtures_store import free_port
from tests.test_chunks import overwrite_chunk, read_chunk, recipe_of
from tests.test_deploy import deploy_json, run_cli


def test_a_binary_or_plain_string_dagster_cloud_yaml_is_a_clear_error(
    copy_project: Callable[..., Path], tmp_path: Path
) -> None:
    project = copy_project()
    for content, says in (
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "is a binary file, not YAML"),
        (b"\xff\xfe not utf-8\n", "is not valid YAML"),
        (b"just a string\n", "must be a mapping with a `locations:` list, not str"),
    ):
        (project / "dagster_cloud.yaml").write_bytes(content)
        done = run_cli("build", str(project), "--out", str(tmp_path / "out"))
        assert done.returncode != 0
        assert says in done.stderr and "dagster_cloud.yaml" in done.stderr
        assert "Traceback" not in done.stderr
        assert not (tmp_path / "out" / "manifest.json").exists()


def test_build_refuses_a_location_name_deploy_would_refuse(
    copy_project: Callable[..., Path], tmp_path: Path
) -> None:
    project = copy_project()
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text().replace('location = "example_project"', 'location = "../prod"')
    pyproject.write_text(text)
    done = run_cli("build", str(project), "--out", str(tmp_path / "out"))
    assert done.returncode != 0
    assert "invalid location name '../prod'" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_serve_on_a_name_that_only_looks_like_loopback_needs_a_token(tmp_path: Path) -> None:
    done = run_cli(
        "serve", "--host", "127.evil.example", "--port", str(free_port()),
        "--store", (tmp_path / "store").as_uri(), "--data-dir", str(tmp_path / "data"),
    )  # fmt: skip
    assert done.returncode != 0
    assert "beyond this machine, without a token" in done.stderr


def test_deploy_to_an_unreachable_host_says_what_it_recorded(
    file_store_url: str, example_copy: Path
) -> None:
    server = f"127.0.0.1:{free_port()}"  # nothing listens there
    args = ["deploy", str(example_copy), "--store", file_store_url, "--server", server]
    args += ["--timeout", "5"]
    as_json = run_cli(*args, "--json")
    assert as_json.returncode != 0
    answer = json.loads(as_json.stdout)
    assert (answer["version"], answer["state"]) == (1, "unreachable")
    assert server in answer["error"]["message"]
    assert "version 1 is recorded in the store" in as_json.stderr

    text = run_cli(*args)
    assert text.returncode != 0
    assert "Deployed example_project v1 -> v2" in text.stdout
    assert f"host {server}: unreachable" in text.stdout and "error:" in text.stdout
    record = open_store(file_store_url).read_record("prod", "example_project")
    assert record is not None and [e.version for e in record.history] == [1, 2]


def test_deploy_verify_replaces_a_damaged_chunk_a_plain_deploy_cannot_see(
    file_store_url: str, example_copy: Path
) -> None:
    first = deploy_json(example_copy, file_store_url)
    store = open_store(file_store_url)
    deps_name = first["pex_tag"][len("files=") :].split(":")[0]
    chunk = max(recipe_of(store, deps_name).chunks, key=lambda c: c.size)
    damaged = bytearray(read_chunk(store, chunk.name))
    damaged[len(damaged) // 2] ^= 0xFF
    overwrite_chunk(store, chunk.name, bytes(damaged))  # same size: only reading can tell

    plain = deploy_json(example_copy, file_store_url)
    assert plain["uploaded"] == []  # the limit: a plain deploy only checks that chunks exist
    checked = deploy_json(example_copy, file_store_url, "--verify")
    assert checked["uploaded"] == [deps_name]
    assert chunk.stored_size <= checked["bytes_uploaded"] < chunk.stored_size + 1024 * 1024
    assert read_chunk(store, chunk.name) != bytes(damaged)
    assert store.blob_complete(deps_name, verify=True)
