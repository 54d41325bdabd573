"""Client of the warm host's control API (`dagster-fastdeploy serve --port`).

The API is gRPC with JSON bodies: service `dagster_fastdeploy.Control`, methods Deploy, Status,
Rollback, Remove and Health, each taking and returning one JSON object as raw bytes. A bearer
token, when the host asks for one, goes in the `authorization` metadata.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from dagster_fastdeploy.errors import HostError
from dagster_fastdeploy.host_api import (
    DEFAULT_CONTROL_ADDRESS,
    DEFAULT_CONTROL_PORT,
    DEFAULT_ROLLOUT_TIMEOUT,
    DeployRequest,
    HealthAnswer,
    LocationStatus,
    RemoveAnswer,
    RemoveRequest,
    RollbackRequest,
    StatusAnswer,
)
from dagster_fastdeploy.runtime.control_token import TOKEN_ENV, read_token

SERVICE = "dagster_fastdeploy.Control"


def normalize_address(address: str) -> str:
    """`host:port` from `host:port`, `grpc://host:port` or a bare port (`grpcs://` kept: TLS)."""
    tls = address.startswith("grpcs://")
    for prefix in ("grpcs://", "grpc://", "http://"):
        if address.startswith(prefix):
            address = address[len(prefix) :]
    if tls:
        return f"grpcs://{normalize_address(address)}"
    address = address.rstrip("/")
    if address.isdigit():
        return f"127.0.0.1:{address}"
    if ":" not in address:
        return f"{address}:{DEFAULT_CONTROL_PORT}"
    return address


class ControlClient:
    """Talks to one warm host. Every method raises HostError when the host is unreachable or
    refuses the call; the message says what to do next."""

    def __init__(
        self,
        address: str = DEFAULT_CONTROL_ADDRESS,
        token: str | None = None,
        ca_file: Path | None = None,
    ):
        import grpc  # imported here: only commands that talk to a host pay for it

        from dagster_fastdeploy.runtime.tls import channel

        self._grpc = grpc
        self.address = normalize_address(address)
        self._token = token if token is not None else read_token(None)
        self._channel = channel(self.address, ca_file)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the API ---------------------------------------------------------------------------
    def deploy(
        self,
        location: str,
        version: int | None = None,
        timeout: float = DEFAULT_ROLLOUT_TIMEOUT,
        pex_tag: str | None = None,
    ) -> LocationStatus:
        """Roll out `version` (or the latest recorded version with `pex_tag`) of `location`
        from the host's store and wait until it serves, fails, or `timeout` passes. A failed
        rollout is returned (state failed, with its error), not raised: the caller decides the
        exit code."""
        request = DeployRequest(location, version=version, pex_tag=pex_tag, timeout=timeout)
        answer = self._call("Deploy", request.to_json(), deadline=timeout + 15.0)
        return LocationStatus.from_json(answer)

    def status(self) -> StatusAnswer:
        """Every location the host serves, and its standby pool."""
        return StatusAnswer.from_json(self._call("Status", {}, deadline=15.0))

    def rollback(
        self, location: str, version: int, timeout: float = DEFAULT_ROLLOUT_TIMEOUT
    ) -> LocationStatus:
        """Serve the recorded `version` of `location` again; same answer as deploy()."""
        request = RollbackRequest(location, version=version, timeout=timeout)
        answer = self._call("Rollback", request.to_json(), deadline=timeout + 15.0)
        return LocationStatus.from_json(answer)

    def remove(self, location: str) -> RemoveAnswer:
        """Stop serving `location` and free its endpoint."""
        answer = self._call("Remove", RemoveRequest(location).to_json(), deadline=60.0)
        return RemoveAnswer.from_json(answer)

    def health(self) -> HealthAnswer:
        """What a live host says of itself."""
        return HealthAnswer.from_json(self._call("Health", {}, deadline=5.0))

    # -- transport -------------------------------------------------------------------------
    def _call(self, method: str, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        grpc = self._grpc
        metadata = [("authorization", f"Bearer {self._token}")] if self._token else None
        call = self._channel.unary_unary(f"/{SERVICE}/{method}")
        try:
            raw = call(json.dumps(request).encode(), timeout=deadline, metadata=metadata)
        except grpc.RpcError as e:
            raise _host_error(self.address, method, e, bool(self._token)) from None
        return json.loads(raw)


def _host_error(address: str, method: str, e: Any, token_sent: bool) -> HostError:
    import grpc

    code = e.code() if hasattr(e, "code") else None
    details = e.details() if hasattr(e, "details") else str(e)
    if code == grpc.StatusCode.UNAVAILABLE:
        return HostError(
            f"no warm host answers at {address}: start one with `dagster-fastdeploy serve` "
            f"or pass the right --server HOST:PORT ({details})"
        )
    if code == grpc.StatusCode.UNAUTHENTICATED and not token_sent:
        return HostError(
            f"the host at {address} asks for a token and none was given: pass --token-file "
            f"or set {TOKEN_ENV} to the host's token"
        )
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return HostError(
            f"the host at {address} refused the token: set {TOKEN_ENV} (or --token-file) to the "
            "host's token"
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return HostError(f"the host at {address} did not answer {method} in time; check its log")
    return HostError(f"the host at {address} refused {method}: {details}")


def roll_out(
    server: str,
    location: str,
    version: int,
    token: str | None,
    timeout: float = DEFAULT_ROLLOUT_TIMEOUT,
) -> LocationStatus:
    """Ask the host at `server` to serve `location` at `version` and wait for the outcome, for
    `deploy --server` and `rollback --server`. After an answer, the channel stays open for the
    process's next rollout to the same host (the dev loop deploys again and again, and a new
    connection costs more than a source-only build's upload); after an error it is closed, so a
    host that comes back is never asked through a channel waiting out its reconnect backoff."""
    resolved = token if token is not None else read_token(None)
    key = (normalize_address(server), resolved)
    with _open_clients_lock:
        client = _open_clients.pop(key, None) or ControlClient(server, token=resolved)
    try:
        answer = client.deploy(location, version=version, timeout=timeout)
    except BaseException:
        client.close()
        raise
    with _open_clients_lock:
        kept = _open_clients.setdefault(key, client)
    if kept is not client:  # another thread's rollout kept its own meanwhile
        client.close()
    return answer


_open_clients: dict[tuple[str, str | None], ControlClient] = {}
_open_clients_lock = threading.Lock()
