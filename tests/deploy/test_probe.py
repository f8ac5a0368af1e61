"""deploy/grpc_health_probe.py: the health check of compose and of the tls component, against
a real coordinator and a real TLS gRPC server."""

from __future__ import annotations

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
from tests.security.certs import Authority, Pair

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


@pytest.fixture
def mtls_server(tmp_path: Path) -> Iterator[tuple[int, Path, Pair]]:
    """mtls_server is a gRPC server with grpc.health.v1 SERVING over mutual TLS, its
    certificate naming localhost; yields its port, the CA and a client certificate."""
    ca = Authority(tmp_path)
    own = ca.issue("server")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    creds = grpc.ssl_server_credentials(
        [(own.key.read_bytes(), own.cert.read_bytes())],
        root_certificates=ca.cert.read_bytes(),
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    yield port, ca.cert, ca.issue("client")
    server.stop(None)


def test_tls_uses_the_services_own_certificate(mtls_server: tuple[int, Path, Pair]) -> None:
    port, ca, client = mtls_server
    tls = {
        "FERRY_LISTEN": f"0.0.0.0:{port}",
        "FERRY_TLS_CERT_FILE": str(client.cert),
        "FERRY_TLS_KEY_FILE": str(client.key),
        "FERRY_TLS_CA_FILE": str(ca),
    }
    assert probe(env=tls).returncode == 0
    # The server's certificate names localhost, not ferry-coordinator.
    assert probe("--server-name", "ferry-coordinator", env=tls).returncode == 1
    # Plaintext against a TLS server fails.
    assert probe(env={"FERRY_LISTEN": tls["FERRY_LISTEN"]}).returncode == 1
