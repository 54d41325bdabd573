"""Plain-HTTP health for orchestrators (`serve --health-port`): Kubernetes httpGet probes, ECS
health checks and load balancers speak HTTP, not our token-guarded gRPC control API.

- `GET /healthz` (liveness): 200 while the host answers and its reconcile loop keeps turning;
  503 when the loop has been stuck for a while (restart me).
- `GET /readyz` (readiness): 200 once every location this host serves has come up (serving, or
  failed with the user's error: one broken location does not take the host out of rotation);
  503 while locations are still starting.

The body is a small JSON object (counts and states, nothing secret), so no token is needed.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from dagster_fastdeploy.errors import HostError

# () -> (healthy, details)
Check = Callable[[], "tuple[bool, dict[str, Any]]"]


class HealthServer:
    def __init__(self, bind_host: str, port: int, live: Check, ready: Check):
        checks = {"/healthz": live, "/livez": live, "/readyz": ready}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                check = checks.get(self.path.split("?", 1)[0])
                if check is None:
                    self._answer(404, {"error": "try /healthz or /readyz"})
                    return
                try:
                    ok, details = check()
                except Exception as e:  # a probe must get an answer, not a hung socket
                    ok, details = False, {"error": repr(e)}
                self._answer(200 if ok else 503, {"ok": ok, **details})

            def _answer(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body, default=str).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # probes every few seconds would flood the host log

        try:
            self._server = ThreadingHTTPServer((bind_host, port), Handler)
        except OSError as e:
            raise HostError(f"cannot listen for health checks on {bind_host}:{port}: {e}") from e
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
