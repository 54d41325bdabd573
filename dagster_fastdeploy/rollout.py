"""Tell a warm host to serve a recorded version, for `deploy --server` and `rollback --server`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dagster_fastdeploy.errors import HostError


def read_token(token_file: Path | None) -> str | None:
    """The control token from `--token-file`; None lets the client read
    `DAGSTER_FASTDEPLOY_TOKEN`."""
    if token_file is None:
        return None
    try:
        return token_file.read_text().strip()
    except OSError as e:
        raise HostError(f"cannot read the token file {token_file}: {e}") from e


def roll_out(
    server: str, location: str, version: int, token: str | None, timeout: float = 120.0
) -> dict[str, Any]:
    """Ask the host at `server` to serve `location` at `version` and wait for the outcome:
    {state: serving|failed|starting, server_id, error, endpoint, ...}."""
    from dagster_fastdeploy.runtime.control_client import ControlClient  # grpc: only here

    with ControlClient(server, token=token) as client:
        return client.deploy(location, version=version, timeout=timeout)
