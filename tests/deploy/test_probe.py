"""deploy/grpc_health_probe.py: the health check of compose and of the tls component, against
a real coordinator and a real TLS gRPC server."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ferry.etcd import EmbeddedEtcd
from tests.helpers import REPO, ServiceProcess

PROBE = REPO / "deploy" / "grpc_health_probe.py"


def probe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """probe runs the probe as a container would, with only these FERRY_* variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    return subprocess.run(
        [sys.executable, str(PROBE), "--timeout", "2", *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )


def test_serving_coordinator_passes_and_a_stopped_one_fails(
    etcd_server: EmbeddedEtcd, services: Callable[..., ServiceProcess]
) -> None:
    coordinator = services("coordinator", etcd_server.endpoint).wait_serving()
    listen = {"FERRY_LISTEN": f"0.0.0.0:{coordinator.port}"}
    assert probe(env=listen).returncode == 0
    assert probe("--service", "ferry.v1.Connectors", env=listen).returncode == 0
    unknown = probe("--service", "ferry.v1.Nothing", env=listen)
    assert unknown.returncode == 1 and "NOT_FOUND" in unknown.stderr
    coordinator.stop()
    gone = probe(coordinator.address)
    assert gone.returncode == 1 and "UNAVAILABLE" in gone.stderr


def test_a_listen_address_without_a_fixed_port_is_refused() -> None:
    out = probe(env={"FERRY_LISTEN": "127.0.0.1:0"})
    assert out.returncode == 1 and "no fixed port" in out.stderr


# TLS ------------------------------------------------------------------------------------


def _certificates(directory: Path) -> dict[str, Path]:
    """_certificates writes a CA, a server certificate for localhost and a client one."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def cert(name: str, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
             *, ca: bool = False, san: list[str] | None = None,
             ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:  # fmt: skip
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        issuer_name, issuer_key = issuer or (subject, key)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in san]), critical=False
            )
        if not ca:
            usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        return builder.sign(issuer_key, hashes.SHA256()), key

    ca_cert, ca_key = cert("test ca", None, ca=True)
    issued = {
        "server": cert("server", (ca_cert.subject, ca_key), san=["localhost"]),
        "client": cert("client", (ca_cert.subject, ca_key), san=["ferry-agent"]),
    }
    paths = {"ca": directory / "ca.crt"}
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    for name, (certificate, key) in issued.items():
        paths[f"{name}.crt"] = directory / f"{name}.crt"
        paths[f"{name}.key"] = directory / f"{name}.key"
        paths[f"{name}.crt"].write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        paths[f"{name}.key"].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return paths


@pytest.fixture
def mtls_server(tmp_path: Path) -> Iterator[tuple[int, dict[str, Path]]]:
    """mtls_server is a gRPC server with grpc.health.v1 SERVING over mutual TLS."""
    pytest.importorskip("cryptography")
    paths = _certificates(tmp_path)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    creds = grpc.ssl_server_credentials(
        [(paths["server.key"].read_bytes(), paths["server.crt"].read_bytes())],
        root_certificates=paths["ca"].read_bytes(),
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    yield port, paths
    server.stop(None)


def test_tls_uses_the_services_own_certificate(mtls_server: tuple[int, dict[str, Path]]) -> None:
    port, paths = mtls_server
    tls = {
        "FERRY_LISTEN": f"0.0.0.0:{port}",
        "FERRY_TLS_CERT_FILE": str(paths["client.crt"]),
        "FERRY_TLS_KEY_FILE": str(paths["client.key"]),
        "FERRY_TLS_CA_FILE": str(paths["ca"]),
    }
    assert probe(env=tls).returncode == 0
    # The server's certificate names localhost, not ferry-coordinator.
    assert probe("--server-name", "ferry-coordinator", env=tls).returncode == 1
    # Plaintext against a TLS server fails.
    assert probe(env={"FERRY_LISTEN": tls["FERRY_LISTEN"]}).returncode == 1
