"""What a user sees when the S3 store cannot be used: each fault is a real one, on a real moto
server over HTTP (or a loopback port where nothing listens), reported as a plain StoreError
that says which fault it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagster_fastdeploy.errors import StoreError
from dagster_fastdeploy.store import open_store
from tests.fixtures_store import MotoServer, free_port
from tests.test_store import make_blob


def test_an_unreachable_endpoint_says_so(moto_server: MotoServer, tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    store = open_store("s3://fastdeploy-artifacts/prod", endpoint_url=endpoint)

    with pytest.raises(StoreError, match=f"cannot reach the S3 endpoint {endpoint}"):
        store.read_record("prod", "etl")
    blob = make_blob(tmp_path)
    with pytest.raises(StoreError, match="cannot reach"):
        store.put_blob(blob.name, blob)


def test_refused_credentials_say_so(moto_server_checking_credentials: MotoServer) -> None:
    store = open_store(
        "s3://fastdeploy-artifacts/prod", endpoint_url=moto_server_checking_credentials.endpoint
    )

    with pytest.raises(StoreError, match="S3 refused the credentials \\(InvalidAccessKeyId"):
        store.read_record("prod", "etl")


def test_missing_credentials_say_so(
    moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = open_store("s3://fastdeploy-artifacts/prod")

    with pytest.raises(StoreError, match="no usable AWS credentials"):
        store.read_record("prod", "etl")


def test_a_missing_bucket_says_which_and_how_to_create_it(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    store = open_store("s3://no-such-bucket-here/prod")
    blob = make_blob(tmp_path)

    with pytest.raises(StoreError, match="the bucket 'no-such-bucket-here' does not exist"):
        store.read_record("prod", "etl")
    with pytest.raises(StoreError, match="aws s3 mb s3://no-such-bucket-here"):
        store.put_blob(blob.name, blob)


def test_endpoint_comes_from_the_environment_like_the_aws_cli(
    moto_server: MotoServer, s3_bucket: str
) -> None:
    store = open_store(f"s3://{s3_bucket}")

    assert store.url == f"s3://{s3_bucket}"
    assert getattr(store, "endpoint", None) == moto_server.endpoint
    assert store.list_deployments() == []
