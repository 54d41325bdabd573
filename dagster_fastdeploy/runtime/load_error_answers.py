"""What a location's stable endpoint answers while no version serves and the newest one failed to
load: what Dagster's own code server answers when the user's code does not load (its
`lazy_load_user_code` mode in dagster/_grpc/server.py). Ping and GetServerId answer;
ListRepositories answers with the load error as a serialized SerializableErrorInfo, so the
webserver shows the user's error on the location (as plain `dagster dev` does) instead of
"could not reach the code server"; every other call fails with the error's message.

No Dagster import and no protos: each reply is one or two protobuf fields, written by hand, and
the error is Dagster's serdes JSON (unchanged across the dagster versions we support).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from dagster_fastdeploy.host_api import LoadError

SERVICE = "/api.DagsterApi/"


@dataclass
class LoadErrorAnswers:
    """The answers for one failed version. `server_id` changes with the version, so a
    webserver that watches the endpoint reloads the location when the next version serves."""

    server_id: str
    message: str
    error_info_json: str  # a serialized dagster SerializableErrorInfo

    @classmethod
    def for_error(cls, error: LoadError, version: int) -> LoadErrorAnswers:
        """The user's error as Dagster shows a load error: `Type: message` and the stack of the
        user's frames, with paths in the user's project."""
        what = f"{error.type}: {error.message}" if error.type else error.message
        message = f"{what}\n"
        if error.file:
            message += f"  at {error.file}:{error.line}" + (f": {error.code}" if error.code else "")
            message += "\n"
        info = error_info_json(message, stack_entries(error.traceback or ""), error.type)
        server_id = f"load-error-v{version}-{uuid.uuid4()}"
        return cls(server_id=server_id, message=what, error_info_json=info)

    def answer(self, method: str, request: bytes) -> list[bytes] | None:
        """The reply messages to `method`, or None when the call must fail."""
        name = method[len(SERVICE) :] if method.startswith(SERVICE) else ""
        if name in ("Ping", "Heartbeat"):
            return [_string_field(1, _string_of(request, 1))]  # PingReply.echo
        if name == "StreamingPing":
            count = _int_of(request, 1)
            echo = _string_of(request, 2)
            return [_int_field(1, i) + _string_field(2, echo) for i in range(count)]
        if name == "GetServerId":
            return [_string_field(1, self.server_id)]
        if name == "ListRepositories":
            return [_string_field(1, self.error_info_json)]
        if name == "GetCurrentImage":
            image = {"__class__": "GetCurrentImageResult", "current_image": None}
            image["serializable_error_info"] = None
            return [_string_field(1, json.dumps(image))]
        return None


def error_info_json(message: str, stack: list[str], cls_name: str | None) -> str:
    """Dagster's serdes form of SerializableErrorInfo(message, stack, cls_name)."""
    return json.dumps(
        {
            "__class__": "SerializableErrorInfo",
            "cause": None,
            "cls_name": cls_name,
            "context": None,
            "message": message,
            "stack": stack,
        }
    )


def stack_entries(traceback_text: str) -> list[str]:
    """A Python traceback's frames as Dagster's stack entries: `  File ..., line N, in f` with
    the code lines under it, one entry per frame."""
    entries: list[str] = []
    for line in traceback_text.splitlines(keepends=True):
        if line.startswith("  File "):
            entries.append(line)
        elif line.startswith("    ") and entries:
            entries[-1] += line
    return entries


# -- protobuf wire format, the little of it needed here ------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _string_field(number: int, text: str) -> bytes:
    data = text.encode()
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _int_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value) if value else b""


def _fields(message: bytes) -> dict[int, int | bytes]:
    """{field number: value} of a message's varint and length-delimited fields."""
    found: dict[int, int | bytes] = {}
    i = 0

    def read_varint() -> int:
        nonlocal i
        shift = value = 0
        while i < len(message):
            byte = message[i]
            i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        return value

    while i < len(message):
        key = read_varint()
        number, kind = key >> 3, key & 7
        if kind == 0:
            found[number] = read_varint()
        elif kind == 2:
            size = read_varint()
            found[number] = message[i : i + size]
            i += size
        else:  # no other wire types in the requests answered here
            break
    return found


def _string_of(message: bytes, number: int) -> str:
    value = _fields(message).get(number, b"")
    return value.decode(errors="replace") if isinstance(value, bytes) else ""


def _int_of(message: bytes, number: int) -> int:
    value = _fields(message).get(number, 0)
    return value if isinstance(value, int) else 0
