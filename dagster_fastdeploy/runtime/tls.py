"""TLS for the control API. Off loopback the bearer token would otherwise travel in clear text,
so `serve` refuses a non-loopback bind with a token but without a certificate, unless told that
something else (a service mesh's mTLS) encrypts the traffic.

Host: `--tls-cert` + `--tls-key` (PEM). Client: `--tls-ca` or `$DAGSTER_FASTDEPLOY_TLS_CA` (the
PEM of the CA that signed the host's certificate), or a `grpcs://` address to verify with the
system's roots.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster_fastdeploy.errors import HostError
from dagster_fastdeploy.runtime.control_token import TOKEN_ENV

CA_ENV = "DAGSTER_FASTDEPLOY_TLS_CA"


def is_loopback(host: str) -> bool:
    """Whether every address `host` resolves to is this machine's loopback: a name such as
    `127.evil.example` is resolved, not judged by its prefix; one that does not resolve is not
    loopback."""
    import ipaddress
    import socket

    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    addresses = {str(info[4][0]) for info in infos}
    return bool(addresses) and all(
        ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in addresses
    )


def refuse_open_bind(bind_host: str, token: str | None) -> None:
    """Beyond loopback, the control API needs a token: refuse to listen there without one."""
    if token is None and not is_loopback(bind_host):
        raise HostError(
            f"the host would listen on {bind_host}, beyond this machine, without a token: "
            f"set {TOKEN_ENV} or pass --token-file"
        )


def _read(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise HostError(f"cannot read the TLS {what} {path}: {e}") from e
    if b"-----BEGIN" not in data:
        raise HostError(f"the TLS {what} {path} is not PEM (no -----BEGIN line)")
    return data


@dataclass(frozen=True)
class ServerTLS:
    cert: Path
    key: Path

    def credentials(self) -> Any:
        import grpc

        pair = (_read(self.key, "key"), _read(self.cert, "certificate"))
        return grpc.ssl_server_credentials([pair])


def server_tls(cert: Path | None, key: Path | None) -> ServerTLS | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise HostError("TLS needs both --tls-cert and --tls-key (PEM files)")
    return ServerTLS(cert, key)


def check_bind(
    bind_host: str, token: str | None, tls: ServerTLS | None, insecure_behind_mesh: bool
) -> None:
    """Refuse to listen beyond this machine without a token, or with a token in clear text."""
    refuse_open_bind(bind_host, token)
    clear_text = token is not None and tls is None and not insecure_behind_mesh
    if clear_text and not is_loopback(bind_host):
        raise HostError(
            f"the host would listen on {bind_host} with its bearer token in clear text: pass "
            "--tls-cert and --tls-key, or --insecure-behind-mesh when a service mesh (mTLS) "
            "already encrypts the traffic"
        )


def channel(address: str, ca_file: Path | None = None) -> Any:
    """A gRPC channel to the control API: TLS verified with `ca_file` (or the CA_ENV file), or
    with the system's roots for a `grpcs://` address; plain otherwise."""
    import grpc

    secure = address.startswith("grpcs://")
    target = address[len("grpcs://") :] if secure else address
    ca = ca_file or (Path(os.environ[CA_ENV]) if os.environ.get(CA_ENV) else None)
    if ca is not None:
        credentials = grpc.ssl_channel_credentials(root_certificates=_read(ca, "CA"))
        return grpc.secure_channel(target, credentials)
    if secure:
        return grpc.secure_channel(target, grpc.ssl_channel_credentials())
    return grpc.insecure_channel(target)
