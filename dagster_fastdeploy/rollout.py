"""Tell a warm host to serve a recorded version, for `deploy --server` and `rollback --server`."""

from __future__ import annotations

from typing import Any


def roll_out(
    server: str, location: str, version: int, token: str | None, timeout: float = 120.0
) -> dict[str, Any]:
    """Ask the host at `server` to serve `location` at `version` and wait for the outcome:
    {state: serving|failed|starting, server_id, error, endpoint, ...}."""
    from dagster_fastdeploy.runtime.control_client import ControlClient  # grpc: only here

    with ControlClient(server, token=token) as client:
        return client.deploy(location, version=version, timeout=timeout)
