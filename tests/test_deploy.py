"""`dagster-fastdeploy deploy` end to end, as a user runs it: real builds of example_project
(deps.pex from the shared build cache), a real file store and a real moto S3 server over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from dagster_fastdeploy.store import open_store
from tests.fixtures_store import MotoServer, free_port


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dagster_fastdeploy.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def deploy_json(project: Path, store_url: str, *args: str, **kw: Any) -> dict[str, Any]:
    done = run_cli("deploy", str(project), "--store", store_url, "--json", *args, **kw)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def edit(project: Path, text: str) -> None:
    assets = project / "src" / "example_project" / "assets.py"
    assets.write_text(assets.read_text() + f"\n# {text}\n")


def test_a_source_only_edit_uploads_the_source_blob_alone(
    store_url: str, example_copy: Path
) -> None:
    git = ["git", "-C", str(example_copy), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(example_copy)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    first = deploy_json(example_copy, store_url)
    assert first["version"] == 1
    assert first["previous_version"] is None
    assert first["path"] == "full"  # the empty store had no deps.pex yet
    assert len(first["uploaded"]) == 2 and first["uploaded"][0].startswith("deps-")

    edit(example_copy, "a one-line change")
    second = deploy_json(example_copy, store_url)

    deps_name, source_name = second["pex_tag"][len("files=") :].split(":")
    assert second["version"] == 2 and second["previous_version"] == 1
    assert second["path"] == "fast"
    assert second["uploaded"] == [source_name]
    assert second["bytes_uploaded"] < 3 * 1024 * 1024
    assert first["pex_tag"].startswith(f"files={deps_name}:")  # same deps, new source
    assert set(second["seconds"]) >= {"connect", "build", "upload", "record", "total"}
    assert set(second["build_steps"]) >= {"deps_hash", "source_pex", "total"}  # the build's own
    record = open_store(store_url).read_record("prod", "example_project")
    assert record is not None and [e.version for e in record.history] == [1, 2]
    who = record.history[1].deployed_by
    head = subprocess.run(
        ["git", "-C", str(example_copy), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert who["git_commit"] == head and who["git_dirty"] is True
    assert who["user"] and who["host"] and who["tool"].startswith("dagster-fastdeploy ")
    assert record.history[1].manifest["source"]["name"] == source_name
    manifest = record.history[1].manifest
    index = open_store(store_url).list_deps_index()
    assert set(index) == {manifest["deps_hash"], f"locked-{manifest['deps_locked_hash']}"}
    assert {e["deps"]["name"] for e in index.values()} == {deps_name}


def test_deploy_speaks_plainly_without_json(file_store_url: str, example_copy: Path) -> None:
    done = run_cli("deploy", str(example_copy), "--store", file_store_url, "--location", "etl")

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"Deployed etl v1 to prod at {file_store_url}")
    assert lines[1].startswith("  uploaded: deps-")
    assert lines[2].startswith("  pex tag: files=deps-")
    assert lines[3].startswith("  seconds: connect")


def test_a_fresh_ci_checkout_whose_deps_are_in_the_store_uploads_no_deps_bytes(
    s3_store_url: str, copy_project: Callable[..., Path], tmp_path: Path
) -> None:
    deploy_json(copy_project(dest="laptop"), s3_store_url)
    checkout = copy_project(dest="ci-runner")
    edit(checkout, "pushed from CI")
    empty_cache = {"DAGSTER_FASTDEPLOY_CACHE": str(tmp_path / "ci-empty-cache")}

    answer = deploy_json(checkout, s3_store_url, env=empty_cache)

    assert answer["path"] == "fast"
    assert answer["deps_built"] is False
    assert [n.split("-")[0] for n in answer["uploaded"]] == ["source"]
    assert answer["version"] == 2


def test_two_deploys_of_one_location_at_the_same_moment_both_land(
    s3_store_url: str, copy_project: Callable[..., Path]
) -> None:
    deploy_json(copy_project(dest="base"), s3_store_url)
    projects = []
    for who in ("alice", "bob"):
        projects.append(copy_project(dest=who))
        edit(projects[-1], f"edited by {who}")
    command = [sys.executable, "-m", "dagster_fastdeploy.cli", "deploy", "--json"]
    running = [
        subprocess.Popen(
            [*command, str(p), "--store", s3_store_url], stdout=subprocess.PIPE, text=True
        )
        for p in projects
    ]
    answers = [json.loads(p.communicate(timeout=300)[0]) for p in running]

    assert sorted(a["version"] for a in answers) == [2, 3]
    record = open_store(s3_store_url).read_record("prod", "example_project")
    assert record is not None
    assert [e.version for e in record.history] == [1, 2, 3]
    by_version = {e.version: e.pex_tag for e in record.history}
    for a in answers:
        assert by_version[a["version"]] == a["pex_tag"]
    assert record.current is not None and record.current.version == 3


KILL_DURING_DEPS_UPLOAD = """
import os, signal, sys
from pathlib import Path
from dagster_fastdeploy.actions.deploy import deploy_project
from dagster_fastdeploy.store import open_store

def progress_for(name, size):
    def progress(done, total):
        if name.startswith("deps-") and done > 0:
            os.kill(os.getpid(), signal.SIGKILL)
    return progress

deploy_project(Path(sys.argv[1]), open_store(sys.argv[2]), progress_for=progress_for)
"""


@pytest.mark.faults
def test_a_deploy_killed_mid_upload_records_nothing_and_the_next_deploy_completes(
    s3_store_url: str, example_copy: Path, moto_server: MotoServer
) -> None:
    killed = subprocess.run(
        [sys.executable, "-c", KILL_DURING_DEPS_UPLOAD, str(example_copy), s3_store_url]
    )
    store = open_store(s3_store_url)

    assert killed.returncode == -9
    assert store.read_record("prod", "example_project") is None
    assert store.list_blobs() == []

    answer = deploy_json(example_copy, s3_store_url)

    assert answer["version"] == 1 and answer["path"] == "full"
    assert {b.name for b in store.list_blobs()} == set(answer["uploaded"])
    swept = run_cli("gc", "--store", s3_store_url, "--min-age", "0", "--json")
    assert swept.returncode == 0, swept.stderr
    # the killed deploy's unfinished multipart uploads (of chunks over 8 MB, if it got to one)
    uploads = moto_server.client().list_multipart_uploads(Bucket=s3_store_url.split("/")[2])
    assert uploads.get("Uploads", []) == []
    assert json.loads(swept.stdout)["deleted"] == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--location", "../escape"], "invalid location name '../escape'"),
        (["--location", "a/b"], "invalid location name 'a/b'"),
        (["--deployment", ".."], "invalid deployment name '..'"),
        (["--deployment", "prod/../../x"], "invalid deployment name"),
    ],
)
@pytest.mark.faults
def test_a_name_that_could_escape_the_store_is_refused_before_anything_is_written(
    tmp_path: Path, example_copy: Path, args: list[str], message: str
) -> None:
    store_dir = tmp_path / "store"

    done = run_cli("deploy", str(example_copy), "--store", store_dir.as_uri(), *args)

    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not store_dir.exists()
    assert not (example_copy / "dist").exists()  # refused before the build, too


def test_a_fast_deploy_imports_only_what_its_project_needs(
    store_url: str, example_copy: Path
) -> None:
    """A source-only deploy of a git checkout without a dagster_cloud.yaml, file patterns or
    --server needs no YAML, no gitignore rules and no gRPC: none of them is imported (together
    a few tens of milliseconds of every deploy)."""
    (example_copy / "dagster_cloud.yaml").unlink()
    git = ["git", "-C", str(example_copy), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(example_copy)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    deploy_json(example_copy, store_url)
    edit(example_copy, "a one-line change")

    done = run_cli(
        "deploy", str(example_copy), "--store", store_url, "--json",
        env={"PYTHONPROFILEIMPORTTIME": "1"},
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["path"] == "fast" and answer["version"] == 2
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "dagster_fastdeploy.actions.deploy" in imported  # the log is there
    assert not {"yaml", "pathspec", "grpc"} & imported


def test_an_unreachable_store_is_reported_before_building(
    moto_server: MotoServer, example_copy: Path
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"

    done = run_cli(
        "deploy", str(example_copy), "--store", "s3://team-bucket/x", "--endpoint-url", endpoint
    )

    assert done.returncode == 1
    assert f"cannot reach the S3 endpoint {endpoint}" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (example_copy / "dist").exists()


def test_a_missing_bucket_is_reported_by_name(moto_server: MotoServer, example_copy: Path) -> None:
    done = run_cli("deploy", str(example_copy), "--store", "s3://no-such-bucket-here/x")

    assert done.returncode == 1
    assert "the bucket 'no-such-bucket-here' does not exist" in done.stderr
    assert "Traceback" not in done.stderr


def test_refused_credentials_are_reported_as_such(
    moto_server_checking_credentials: MotoServer, example_copy: Path
) -> None:
    done = run_cli(
        "deploy",
        str(example_copy),
        "--store",
        "s3://team-bucket/x",
        "--endpoint-url",
        moto_server_checking_credentials.endpoint,
    )

    assert done.returncode == 1
    assert "S3 refused the credentials (InvalidAccessKeyId" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_large_upload_shows_a_progress_bar_on_a_terminal_and_json_stays_clean(
    file_store_url: str, example_copy: Path
) -> None:
    import pty
    import threading

    terminal, terminal_end = pty.openpty()
    shown: list[bytes] = []

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(terminal, 4096)
            except OSError:  # the other end closed
                return
            if not chunk:
                return
            shown.append(chunk)

    reader = threading.Thread(target=read_terminal)
    reader.start()
    command = [sys.executable, "-m", "dagster_fastdeploy.cli", "deploy", str(example_copy)]
    done = subprocess.run(
        [*command, "--store", file_store_url, "--json"],
        stdout=subprocess.PIPE,
        stderr=terminal_end,
        text=True,
    )
    os.close(terminal_end)
    reader.join(timeout=30)
    os.close(terminal)

    assert done.returncode == 0
    answer = json.loads(done.stdout)
    screen = b"".join(shown).decode(errors="replace")
    assert f"upload {answer['uploaded'][0][:20]}" in screen  # the deps.pex, 55 MB
    assert "MB" in screen
    assert "upload source-" not in screen  # 1 MB: no bar


IMPORTS_AFTER_DEPLOY = """
import sys
from dagster_fastdeploy.cli import main
main(["deploy", sys.argv[1], "--store", sys.argv[2], "--json"])
heavy = ("boto3", "botocore", "grpc", "dagster", "rich")
print("HEAVY", sorted(m for m in heavy if m in sys.modules))
"""


def test_a_deploy_to_a_file_store_does_not_pay_for_boto3_grpc_or_dagster_imports(
    file_store_url: str, example_copy: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS_AFTER_DEPLOY, str(example_copy), file_store_url],
        capture_output=True,
        text=True,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "HEAVY []"
