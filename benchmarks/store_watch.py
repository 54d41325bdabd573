"""What one idle host costs the store, at 10, 100 and 1000 recorded locations: S3 requests per
minute, counted by a proxy between a real `dagster-fastdeploy serve` and moto's S3 server.

    python -m benchmarks.store_watch [--locations 10,100,1000] [--seconds 60] [--json FILE]

The host runs with `--host-group bench-none`: it watches and reads every record of the
deployment (as a host with a host group must) but starts no code server, so a deployment of a
thousand locations fits on one machine; what it asks of the store is the same as a host that
serves them. One version is recorded halfway through each window: the cost of a change.
It is not a test: it never fails on numbers, only when something does not work.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CountingProxy:
    """Forwards HTTP to the S3 server and counts each request by kind."""

    def __init__(self, upstream_port: int):
        self.counts: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = f"127.0.0.1:{upstream_port}"
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                proxy.count(self.command, self.path, self.headers, response.status)
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, method: str, path: str, headers: Any, status: int) -> None:
        if method == "GET" and "list-type=2" in path:
            kind = "LIST"
        elif method == "GET" and headers.get("If-None-Match"):
            kind = "GET (conditional, 304)" if status == 304 else "GET (conditional, changed)"
        else:
            kind = method
        path = urllib.parse.unquote(path)
        where = "changes" if "/changes/" in path else "hosts" if "/hosts/" in path else "records"
        with self.lock:
            self.counts[f"{kind} {where}" if kind != "LIST" else f"LIST {where}"] += 1

    def take(self) -> dict[str, int]:
        with self.lock:
            counts, self.counts = dict(self.counts), collections.Counter()
        return counts


def start_moto(log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2).close()
            return process, port
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto did not start: {log.read_text()}") from None
            time.sleep(0.1)


def record(store: Any, location: str) -> None:
    from dagster_fastdeploy.store.records import VersionEntry

    store.append_version(
        "prod",
        location,
        lambda n: VersionEntry(
            version=n,
            pex_tag="files=deps-0.pex:source-0.pex",
            manifest={"location": location, "note": "benchmark record, never served"},
            deployed_at=datetime.datetime.now(datetime.timezone.utc).isoformat(),
        ),
    )


def host_memory_kb(pid: int) -> dict[str, int]:
    found = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("Rss", "Pss"):
            found[key.lower() + "_kb"] = int(value.split()[0])
    return found


def measure(locations: int, seconds: float, work: Path, moto_port: int) -> dict[str, Any]:
    from dagster_fastdeploy.store import open_store

    bucket = f"watch-{uuid.uuid4().hex[:10]}"
    direct = f"http://127.0.0.1:{moto_port}"
    os.environ["AWS_ENDPOINT_URL"] = direct
    store = open_store(f"s3://{bucket}/fastdeploy")
    store.client.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    started = time.monotonic()
    for i in range(locations):
        record(store, f"location-{i:04d}")
    record_seconds = time.monotonic() - started

    proxy = CountingProxy(moto_port)
    data_dir = work / f"host-{locations}"
    env = {**os.environ, "AWS_ENDPOINT_URL": proxy.endpoint}
    command = [
        str(Path(sys.executable).parent / "dagster-fastdeploy"), "serve",
        "--store", store.url, "--data-dir", str(data_dir),
        "--port", str(free_port()), "--location-ports", "{0}-{0}".format(free_port()),
        "--host-group", "bench-none", "--no-standby",
        "--host-id", f"bench-{locations}",
    ]  # fmt: skip
    log = open(work / f"host-{locations}.log", "wb")  # noqa: SIM115
    host = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        # start-up: the first listing and a read of every record, then a steady state
        startup_deadline = time.monotonic() + 300
        while True:
            counts = dict(proxy.counts)
            if sum(v for k, v in counts.items() if k.startswith("GET records")) >= locations:
                break
            if time.monotonic() > startup_deadline or host.poll() is not None:
                raise RuntimeError(f"the host did not start: {(work / f'host-{locations}.log')}")
            time.sleep(0.2)
        time.sleep(3.0)
        startup = proxy.take()
        window_started = time.monotonic()
        time.sleep(seconds / 2)
        record(store, "location-0000")  # one deploy of one location, mid-window
        time.sleep(seconds / 2)
        elapsed = time.monotonic() - window_started
        steady = proxy.take()
        memory = host_memory_kb(host.pid)
    finally:
        host.terminate()
        host.wait(60)
        log.close()
        proxy.server.shutdown()
    total = sum(steady.values())
    return {
        "locations": locations,
        "seconds": round(elapsed, 1),
        "requests": steady,
        "requests_per_minute": round(total * 60 / elapsed, 1),
        "startup_requests": startup,
        "record_seconds_each": round(record_seconds / max(1, locations), 4),
        "host_memory_kb": memory,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--locations", default="10,100,1000")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.update(CREDENTIALS)
    results = []
    with tempfile.TemporaryDirectory(prefix="store-watch-") as tmp:
        work = Path(tmp)
        moto, port = start_moto(work / "moto.log")
        try:
            for count in (int(n) for n in args.locations.split(",")):
                result = measure(count, args.seconds, work, port)
                results.append(result)
                print(json.dumps(result), flush=True)
        finally:
            moto.terminate()
            moto.wait(30)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
