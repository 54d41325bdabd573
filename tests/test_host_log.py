"""The host's log keeps the traceback of an error nobody expected (a loop that catches it goes
on, and the log still says where it came from)."""

from __future__ import annotations

import json
from pathlib import Path

from dagster_fastdeploy.runtime.log import configure_logging, log_exception, logger


def test_an_unexpected_error_is_logged_as_its_json_line_and_its_traceback(tmp_path: Path) -> None:
    log_file = tmp_path / "host.log"
    configure_logging(str(log_file))
    try:
        try:
            {}["missing"]  # noqa: B018
        except KeyError as e:
            log_exception("reconcile.error", error=repr(e))
    finally:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
    first, *rest = log_file.read_text().splitlines()
    assert json.loads(first)["event"] == "reconcile.error"
    assert rest[0] == "Traceback (most recent call last):"
    assert any("test_host_log.py" in line for line in rest)
    assert rest[-1] == "KeyError: 'missing'"
