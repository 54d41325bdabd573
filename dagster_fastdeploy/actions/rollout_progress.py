"""Which step of a rollout the host is on, for a client waiting on Deploy: the host reports the
steps a version has finished (`status`: `steps`), so the client names the one under way."""

from __future__ import annotations

import threading
from typing import Callable

# (a finished step, what the host does next), in rollout order; the last match wins
NEXT_STEP = (
    (None, "fetching the PEX files"),
    ("fetch", "materializing the environment (once per deps.pex)"),
    ("materialize", "starting the code server"),
    ("standby_start", "starting the code server"),
    ("start", "loading the definitions"),
    ("handover", "loading the definitions"),
    ("load", "switching the endpoint"),
)


def step_under_way(finished: dict[str, float]) -> str:
    doing = NEXT_STEP[0][1]
    for step, then in NEXT_STEP[1:]:
        if step in finished:
            doing = then
    return doing


def watch_rollout(
    server: str,
    location: str,
    version: int,
    token: str | None,
    say: Callable[[str], None],
    done: threading.Event,
    interval: float = 0.3,
) -> None:
    """Until `done`, say what the host is doing for `version` of `location`. A rollout done
    within the first `interval` (a source-only edit) never opens a second channel to the host."""
    if done.wait(interval):
        return
    from dagster_fastdeploy.errors import FastDeployError
    from dagster_fastdeploy.runtime.control_client import ControlClient

    with ControlClient(server, token=token) as client:
        while True:
            try:
                entry = client.status().location(location)
            except FastDeployError:
                entry = None  # the answer to Deploy says what went wrong
            if entry is not None and entry.version == version:
                say(f"{location} v{version} on the host: {step_under_way(entry.steps)}")
            if done.wait(interval):
                return
