"""The `workspace.yaml` that points Dagster (webserver, daemon, `dagster dev -w`) at a host's
stable endpoints: one `grpc_server` entry per location, for `workspace` and `dev`."""

from __future__ import annotations

import json
from collections.abc import Iterable

from dagster_fastdeploy.host_api import LocationStatus


def workspace_yaml(locations: Iterable[LocationStatus]) -> str:
    """Strings are written JSON-quoted (valid YAML), so any host or location name is safe."""
    lines = ["load_from:"]
    for loc in locations:
        host, _, port = (loc.endpoint or "").rpartition(":")
        lines += [
            "  - grpc_server:",
            f"      host: {json.dumps(host)}",
            f"      port: {int(port)}",
            f"      location_name: {json.dumps(loc.name)}",
        ]
    if len(lines) == 1:
        lines[0] = "load_from: []"
    return "\n".join(lines) + "\n"
