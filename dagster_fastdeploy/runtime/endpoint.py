"""A location's stable endpoint: a gRPC server on the location's port that forwards every call,
unary or streaming, as raw bytes to the code server of the version being served.

No Dagster protos here: the generic handler has no serializers, so requests and responses pass
through as bytes with their metadata, whatever dagster version the location runs. Switching is
a pointer swap: calls already running finish on the old code server (drain), new calls go to
the new one.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from dagster_fastdeploy.errors import HostError
from dagster_fastdeploy.runtime.load_error_answers import LoadErrorAnswers

UNLIMITED = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
# Metadata that belongs to the transport, not to the call.
_HOP_BY_HOP = ("grpc-", ":")


class Backend:
    """One code server behind the endpoint, with a count of the calls it is serving."""

    def __init__(self, address: str):
        self.address = address
        self.channel = grpc.insecure_channel(address, options=UNLIMITED)
        self._in_flight = 0
        self._idle = threading.Condition()

    def acquire(self) -> None:
        with self._idle:
            self._in_flight += 1

    def release(self) -> None:
        with self._idle:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.notify_all()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def drain(self, timeout: float) -> bool:
        """Wait until no call is running here; True if it got there within `timeout`."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def close(self) -> None:
        self.channel.close()


class StableEndpoint(grpc.GenericRpcHandler):
    def __init__(self, location: str, host: str, port: int, max_workers: int = 64):
        self.location = location
        self.host = host
        self.port = port
        self._backend: Backend | None = None
        self._load_error: LoadErrorAnswers | None = None
        self._lock = threading.Lock()
        self._server = grpc.server(ThreadPoolExecutor(max_workers=max_workers), options=UNLIMITED)
        self._server.add_generic_rpc_handlers((self,))
        if self._server.add_insecure_port(f"{host}:{port}") != port:
            raise HostError(
                f"port {port} for location {location!r} is taken on {host}: stop what uses it "
                "or pick another --location-ports range"
            )
        self._server.start()

    @property
    def backend(self) -> Backend | None:
        return self._backend

    def switch(self, address: str, backend: Backend | None = None) -> Backend | None:
        """Send new calls to `address` (through `backend`, a Backend of it that has answered a
        call already, when given); returns the previous backend (to drain and close). A new
        channel is connected first, so the first call after the switch does not wait."""
        new = backend
        if new is None:
            new = Backend(address)
            # (on a timeout, calls simply wait for the connection: the server answered a moment
            # ago)
            with contextlib.suppress(grpc.FutureTimeoutError):
                grpc.channel_ready_future(new.channel).result(timeout=10)
        with self._lock:
            old, self._backend = self._backend, new
            self._load_error = None
        return old

    def show_load_error(self, answers: LoadErrorAnswers) -> None:
        """While no version serves, answer as a Dagster code server whose code failed to load
        (see load_error_answers.py), so the webserver shows the user's error on the location."""
        with self._lock:
            if self._backend is None:
                self._load_error = answers

    def detach(self) -> Backend | None:
        with self._lock:
            old, self._backend = self._backend, None
        return old

    def stop(self, grace: float = 5.0) -> None:
        self._server.stop(grace).wait()
        old = self.detach()
        if old is not None:
            old.close()

    # -- grpc.GenericRpcHandler ------------------------------------------------------------
    def service(self, handler_call_details: Any) -> grpc.RpcMethodHandler:
        method = handler_call_details.method

        def forward(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
            return self._forward(method, requests, context)

        return grpc.stream_stream_rpc_method_handler(forward)

    def _answer_load_error(
        self,
        answers: LoadErrorAnswers,
        method: str,
        requests: Iterator[bytes],
        context: grpc.ServicerContext,
    ) -> Iterator[bytes]:
        request = next(iter(requests), b"")
        replies = answers.answer(method, request)
        if replies is None:
            context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"location {self.location!r} failed to load: {answers.message}",
            )
            return
        yield from replies

    def _forward(
        self, method: str, requests: Iterator[bytes], context: grpc.ServicerContext
    ) -> Iterator[bytes]:
        with self._lock:
            backend, load_error = self._backend, self._load_error
            if backend is not None:
                backend.acquire()
        if backend is None:
            if load_error is not None:
                yield from self._answer_load_error(load_error, method, requests, context)
                return
            context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"location {self.location!r} has no version serving yet",
            )
            return
        try:
            metadata = [
                (k, v)
                for k, v in context.invocation_metadata()
                if not k.startswith(_HOP_BY_HOP) and k != "user-agent"
            ]
            remaining = context.time_remaining()
            timeout = remaining if remaining is not None and remaining < 1e6 else None
            call = backend.channel.stream_stream(method)(
                requests, metadata=metadata, timeout=timeout
            )
            context.add_callback(call.cancel)
            try:
                yield from call
                trailing = call.trailing_metadata()
                if trailing:
                    context.set_trailing_metadata(trailing)
            except grpc.RpcError as e:
                trailing = e.trailing_metadata() if hasattr(e, "trailing_metadata") else None
                if trailing:
                    context.set_trailing_metadata(trailing)
                context.abort(e.code(), e.details() or "")
        finally:
            backend.release()
