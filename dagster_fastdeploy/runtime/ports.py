"""Ports: one stable port per location, kept in the data dir so it survives host restarts."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

from dagster_fastdeploy.errors import HostError
from dagster_fastdeploy.local_files import write_atomically


def parse_port_range(text: str) -> tuple[int, int]:
    """`4300-4399` -> (4300, 4399)."""
    try:
        low, high = (int(p) for p in text.split("-", 1))
    except ValueError:
        raise HostError(f"--location-ports must look like 4300-4399, not {text!r}") from None
    if not 0 < low <= high < 65536:
        raise HostError(f"--location-ports {text!r} is not a range of TCP ports")
    return low, high


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free now, for a code server behind an endpoint."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class LocationPorts:
    """location -> port, persisted as JSON in `path`."""

    def __init__(self, path: Path, port_range: tuple[int, int], host: str):
        self.path = path
        self.port_range = port_range
        self.host = host
        self._lock = threading.Lock()
        self._ports: dict[str, int] = json.loads(path.read_text()) if path.exists() else {}

    def get(self, location: str) -> int | None:
        return self._ports.get(location)

    def assign(self, location: str) -> int:
        """The location's recorded port, or the first free port of the range (then recorded)."""
        with self._lock:
            if location in self._ports:
                return self._ports[location]
            taken = set(self._ports.values())
            low, high = self.port_range
            for port in range(low, high + 1):
                if port not in taken and port_is_free(self.host, port):
                    self._ports[location] = port
                    self._save()
                    return port
        raise HostError(
            f"no free port left in {low}-{high} for location {location!r}: widen --location-ports"
        )

    def seed(self, ports: dict[str, int]) -> None:
        """Take over ports a predecessor used (from its heartbeat in the store) for locations
        this data dir has none for yet, where they are in the range and free."""
        with self._lock:
            low, high = self.port_range
            taken = set(self._ports.values())
            added = False
            for location, port in sorted(ports.items()):
                if location in self._ports or port in taken or not low <= port <= high:
                    continue
                if port_is_free(self.host, port):
                    self._ports[location] = port
                    taken.add(port)
                    added = True
            if added:
                self._save()

    def release(self, location: str) -> None:
        with self._lock:
            if self._ports.pop(location, None) is not None:
                self._save()

    def _save(self) -> None:
        write_atomically(self.path, json.dumps(self._ports, indent=2, sort_keys=True) + "\n")
