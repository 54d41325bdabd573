"""Session fixtures for the store tests: a real S3-compatible server (moto's standalone server,
a subprocess on a free loopback port, spoken to over HTTP by boto3), a fresh bucket per test,
file stores in temp directories, and example_project built with one more small dependency."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from dagster_fastdeploy.builder import BuildResult, build_project

# A small pure-Python dependency that neither dagster nor pandas pulls in.
SMALL_DEPENDENCY = "toolz"

# moto accepts any key pair unless told to check them (see moto_server_checking_credentials)
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class MotoServer:
    endpoint: str
    process: subprocess.Popen[bytes]

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=S3_CREDENTIALS["AWS_DEFAULT_REGION"],
        )


def start_moto_server(log: Path, extra_env: dict[str, str] | None = None) -> MotoServer:
    """`python -m moto.server` on a free loopback port; returns once it answers HTTP."""
    import urllib.error
    import urllib.request

    port = free_port()
    env = {**os.environ, **(extra_env or {})}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).close()
            return MotoServer(endpoint, process)
        except urllib.error.HTTPError:  # it answered: that is all we wait for
            return MotoServer(endpoint, process)
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"moto server did not start: {log.read_text()}") from None
            time.sleep(0.1)


def stop(server: MotoServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A real S3 server over HTTP for the whole session. Also sets the credentials and
    endpoint in the environment, the way a user's shell or CI would."""
    server = start_moto_server(tmp_path_factory.mktemp("moto") / "moto.log")
    saved = {k: os.environ.get(k) for k in [*S3_CREDENTIALS, "AWS_ENDPOINT_URL"]}
    os.environ.update(S3_CREDENTIALS)
    os.environ["AWS_ENDPOINT_URL"] = server.endpoint
    try:
        yield server
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        stop(server)


@pytest.fixture
def s3_bucket(moto_server: MotoServer) -> str:
    """A fresh, empty bucket on the moto server."""
    name = f"fastdeploy-{uuid.uuid4().hex[:12]}"
    moto_server.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_store_url(s3_bucket: str) -> str:
    return f"s3://{s3_bucket}/team/artifacts"


@pytest.fixture
def file_store_url(tmp_path: Path) -> str:
    return (tmp_path / "store").as_uri()


@pytest.fixture(params=["file", "s3"])
def store_url(request: pytest.FixtureRequest) -> str:
    """Each test that takes it runs against both stores."""
    fixture = "file_store_url" if request.param == "file" else "s3_store_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def example_copy(copy_project: Callable[..., Path]) -> Path:
    """A fresh copy of example_project that a test may edit and deploy."""
    return copy_project()


@pytest.fixture
def moto_server_checking_credentials(tmp_path: Path) -> Iterator[MotoServer]:
    """A second moto server that checks every request's access key against its IAM users (it
    has none), so it refuses any credentials, as S3 does with a wrong key."""
    server = start_moto_server(tmp_path / "moto-auth.log", {"INITIAL_NO_AUTH_ACTION_COUNT": "0"})
    try:
        yield server
    finally:
        stop(server)


def locked_pins(deps_pex: Path) -> list[str]:
    """The `name==version` pins a built deps.pex holds (its PEX-INFO requirements)."""
    with zipfile.ZipFile(deps_pex) as pex:
        return list(json.loads(pex.read("PEX-INFO"))["requirements"])


def add_dependency(project: Path, requirement: str, keep_pins_of: Path | None = None) -> None:
    """Add `requirement` to the project's [project] dependencies, as a user would. With
    `keep_pins_of` (a deps.pex), every other dependency stays at the version it has there, as a
    lock file would keep it: the index moves on, and a fresh resolve could pick newer ones."""
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    assert '  "pandas",\n]' in text
    added = [requirement, *(locked_pins(keep_pins_of) if keep_pins_of else [])]
    lines = "".join(f"  {json.dumps(r)},\n" for r in added)
    pyproject.write_text(text.replace('  "pandas",\n]', f'  "pandas",\n{lines}]'))


def add_small_dependency(project: Path, example_build: BuildResult) -> None:
    """The dependency change the chunk tests make: SMALL_DEPENDENCY added, nothing else moved."""
    assert example_build.deps_path is not None
    add_dependency(project, SMALL_DEPENDENCY, keep_pins_of=Path(example_build.deps_path))


@pytest.fixture(scope="session")
def example_build_with_small_dependency(
    example_build: BuildResult, example_project_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> BuildResult:
    """example_project with SMALL_DEPENDENCY added (other pins kept), built once per session:
    the suite's one extra deps.pex; a copy with the same change later comes from the build
    cache."""
    project = tmp_path_factory.mktemp("small_dependency") / "example_project"
    shutil.copytree(
        example_project_dir,
        project,
        ignore=shutil.ignore_patterns("dist", "__pycache__", "*.egg-info"),
    )
    add_small_dependency(project, example_build)
    return build_project(project, out_dir=tmp_path_factory.mktemp("small_dependency_build"))
