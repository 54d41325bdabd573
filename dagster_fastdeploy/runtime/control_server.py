"""The host's control API: gRPC with JSON bodies, service `dagster_fastdeploy.Control`.

Methods Deploy, Status, Rollback, Remove and Health each take one JSON object and return one.
With a token, every call must carry `authorization: Bearer <token>` or is refused
(UNAUTHENTICATED). With a certificate (runtime/tls.py) it listens with TLS only. A user error
(unknown location, wrong version) is FAILED_PRECONDITION with the message that says what to do
next.
"""

from __future__ import annotations

import hmac
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import grpc

from dagster_fastdeploy.errors import FastDeployError, HostError
from dagster_fastdeploy.host_api import (
    DeployRequest,
    LocationStatus,
    RemoveRequest,
    RollbackRequest,
)
from dagster_fastdeploy.runtime.control_client import SERVICE
from dagster_fastdeploy.runtime.host import Host
from dagster_fastdeploy.runtime.tls import ServerTLS, is_loopback, refuse_open_bind

__all__ = ["ControlServer", "is_loopback", "refuse_open_bind"]


class ControlServer:
    def __init__(
        self,
        host: Host,
        bind_host: str,
        port: int,
        token: str | None,
        tls: ServerTLS | None = None,
    ):
        refuse_open_bind(bind_host, token)
        self.host = host
        self._token = token
        methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "Deploy": lambda r: _deploy(host, DeployRequest.from_json(r)).to_json(),
            "Status": lambda r: host.status().to_json(),
            "Rollback": lambda r: _rollback(host, RollbackRequest.from_json(r)).to_json(),
            "Remove": lambda r: host.remove(RemoveRequest.from_json(r).location).to_json(),
            "Health": lambda r: host.health().to_json(),
        }
        handlers = {
            name: grpc.unary_unary_rpc_method_handler(self._wrap(fn))
            for name, fn in methods.items()
        }
        self._server = grpc.server(ThreadPoolExecutor(max_workers=16))
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, handlers),)
        )
        address = f"{bind_host}:{port}"
        if tls is not None:
            self.port = self._server.add_secure_port(address, tls.credentials())
        else:
            self.port = self._server.add_insecure_port(address)
        if self.port == 0:
            raise HostError(
                f"cannot listen on {bind_host}:{port}: is another host running? pick --port"
            )
        self._server.start()

    def stop(self, grace: float = 1.0) -> None:
        self._server.stop(grace).wait()

    def _wrap(
        self, fn: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> Callable[[bytes, grpc.ServicerContext], bytes]:
        def handle(raw: bytes, context: grpc.ServicerContext) -> bytes:
            if self._token is not None and not self._authorized(context):
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
            try:
                request = json.loads(raw or b"{}")
                return json.dumps(fn(request), default=str).encode()
            except FastDeployError as e:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(e))
            except (KeyError, ValueError, TypeError) as e:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"bad request: {e!r}")
            raise AssertionError("unreachable")

        return handle

    def _authorized(self, context: grpc.ServicerContext) -> bool:
        expected = f"Bearer {self._token}"
        for key, value in context.invocation_metadata():
            if key == "authorization" and hmac.compare_digest(str(value), expected):
                return True
        return False


def _deploy(host: Host, request: DeployRequest) -> LocationStatus:
    return host.deploy(request.location, request.version, request.pex_tag, request.timeout)


def _rollback(host: Host, request: RollbackRequest) -> LocationStatus:
    return host.rollback(request.location, request.version, request.timeout)
