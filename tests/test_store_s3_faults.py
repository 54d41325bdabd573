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


class _NoConditionalWrites:
    """A loopback S3 endpoint in front of moto that, like some S3-compatible servers, answers
    501 NotImplemented to any conditional write (If-None-Match / If-Match) and forwards the rest."""

    def __init__(self, upstream: str) -> None:
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlsplit

        host, port = urlsplit(upstream).hostname, urlsplit(upstream).port
        refused: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.command in ("PUT", "POST") and (
                    "If-None-Match" in self.headers or "If-Match" in self.headers
                ):
                    refused.append(self.path)
                    self._answer(
                        501,
                        {"Content-Type": "application/xml"},
                        b"<Error><Code>NotImplemented</Code><Message>A header you provided "
                        b"implies functionality that is not implemented</Message></Error>",
                    )
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "expect"}
                connection = http.client.HTTPConnection(host, port, timeout=30)
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                skip = {"transfer-encoding", "content-length", "connection"}
                kept = {k: v for k, v in response.getheaders() if k.lower() not in skip}
                self._answer(response.status, kept, data)
                connection.close()

            def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        self.refused = refused
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_server_without_conditional_writes_still_stores_blobs_chunks_and_recipes(
    moto_server: MotoServer, s3_bucket: str, tmp_path: Path
) -> None:
    """Create-only writes (If-None-Match) refused as NotImplemented are sent again without the
    condition. Each store drops the condition at its first refusal, so a fresh store per case
    makes each kind of write meet the refusal first: a whole blob, chunks, a recipe."""
    from tests.unit.test_chunking import fake_deps_pex

    proxy = _NoConditionalWrites(moto_server.endpoint)

    def fresh_store():  # type: ignore[no-untyped-def]
        return open_store(f"s3://{s3_bucket}/prod", endpoint_url=proxy.endpoint)

    try:
        whole = make_blob(tmp_path)
        assert fresh_store().put_blob(whole.name, whole)
        deps = fake_deps_pex(tmp_path, {"a-1.0-py3-none-any.whl": b"A" * 5000})
        assert fresh_store().put_blob(deps.name, deps)
        recipe = f"prod/blobs/{deps.name}.chunks.json"
        moto_server.client().delete_object(Bucket=s3_bucket, Key=recipe)
        assert fresh_store().put_blob(deps.name, deps)  # the chunks are there: only the recipe
        refused = [path.split("?")[0] for path in proxy.refused]
        assert f"/{s3_bucket}/prod/blobs/{whole.name}" in refused
        assert any(path.startswith(f"/{s3_bucket}/prod/chunks/") for path in refused)
        assert f"/{s3_bucket}/{recipe}" in refused
        for blob in (whole, deps):
            copy = fresh_store().get_blob(blob.name, tmp_path / "read" / blob.name)
            assert copy.read_bytes() == blob.read_bytes()
    finally:
        proxy.close()
