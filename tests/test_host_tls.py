"""The control API off loopback: a bearer token never travels in clear text unless the user says
a service mesh encrypts; with a certificate the host speaks TLS and a client verifies it with
the CA it is given. Real `serve` processes, a certificate made for the test."""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from dagster_fastdeploy.errors import HostError
from dagster_fastdeploy.host_api import HealthAnswer
from dagster_fastdeploy.runtime.control_client import ControlClient
from tests.fixtures_runtime import VENV_BIN, free_port, free_port_range
from tests.test_host import run_cli


def make_certificate(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a host certificate for 127.0.0.1 / localhost signed by it: (ca, cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "host.pem", directory / "host.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def serve(tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    command = [
        str(VENV_BIN / "dagster-fastdeploy"), "serve",
        "--store", (tmp_path / "store").as_uri(),
        "--data-dir", str(tmp_path / "host"),
        "--location-ports", "{}-{}".format(*free_port_range(2)),
        "--no-standby",
        *args,
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for_health(address: str, **client: Any) -> HealthAnswer:
    deadline = time.monotonic() + 60
    while True:
        try:
            with ControlClient(address, **client) as control:
                return control.health()
        except HostError:
            assert time.monotonic() < deadline, "the host never answered"
            time.sleep(0.2)


def test_a_token_in_clear_text_off_loopback_is_refused_unless_a_mesh_encrypts(
    tmp_path: Path,
) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret")
    port = free_port()
    refused = serve(tmp_path, "--host", "0.0.0.0", "--port", str(port), "--token-file", str(token))
    out, _ = refused.communicate(timeout=60)
    assert refused.returncode != 0
    assert b"clear text" in out and b"--tls-cert" in out and b"--insecure-behind-mesh" in out

    meshed = serve(
        tmp_path, "--host", "0.0.0.0", "--port", str(port), "--token-file", str(token),
        "--insecure-behind-mesh",
    )  # fmt: skip
    try:
        assert wait_for_health(f"127.0.0.1:{port}", token="s3cret").ok is True
    finally:
        stop(meshed)


def test_a_host_with_a_certificate_speaks_tls_and_clients_verify_it(tmp_path: Path) -> None:
    ca, cert, key = make_certificate(tmp_path)
    port = free_port()
    host = serve(
        tmp_path, "--port", str(port), "--tls-cert", str(cert), "--tls-key", str(key),
    )  # fmt: skip
    try:
        health = wait_for_health(f"127.0.0.1:{port}", ca_file=ca)
        assert health.ok is True
        # a client that does not trust the CA (or speaks plain gRPC) gets nothing
        with pytest.raises(HostError), ControlClient(f"127.0.0.1:{port}") as plain:
            plain.health()
        with pytest.raises(HostError), ControlClient(f"grpcs://127.0.0.1:{port}") as untrusted:
            untrusted.health()
        # the commands take the CA too, by flag or environment
        shown = run_cli("status", "--server", f"127.0.0.1:{port}", "--tls-ca", str(ca), "--json")
        assert '"locations": []' in shown.stdout
        os.environ["DAGSTER_FASTDEPLOY_TLS_CA"] = str(ca)
        try:
            assert run_cli("status", "--server", f"127.0.0.1:{port}").returncode == 0
        finally:
            del os.environ["DAGSTER_FASTDEPLOY_TLS_CA"]
    finally:
        stop(host)


def test_half_a_tls_pair_is_refused(tmp_path: Path) -> None:
    _, cert, _ = make_certificate(tmp_path)
    refused = serve(tmp_path, "--port", str(free_port()), "--tls-cert", str(cert))
    out, _ = refused.communicate(timeout=60)
    assert refused.returncode != 0 and b"--tls-key" in out
