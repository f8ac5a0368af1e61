"""TLS and mutual TLS on real service processes: who gets in, certificate renewal, etcd over TLS."""

from __future__ import annotations

import socket
import ssl
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from ferry.etcd import EmbeddedEtcd, free_port
from ferry.etcd.embedded import EtcdServerTls
from ferry.v1 import cluster_pb2, cluster_pb2_grpc
from tests.helpers import NOT_SERVING, SERVING, ServiceProcess, ferry, health_status, wait_until
from tests.security.certs import Pair, common_name
from tests.security.conftest import Pki


def _prefix() -> list[str]:
    return ["--etcd-prefix", f"/tls-{uuid.uuid4().hex[:8]}"]


def _serving(address: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return health_status(address) == SERVING
        except grpc.RpcError:
            return False

    return check


def _status(address: str, ca: Path, client: Pair | None) -> cluster_pb2.ClusterStatus:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes(),
        private_key=client.key.read_bytes() if client else None,
        certificate_chain=client.cert.read_bytes() if client else None,
    )
    with grpc.secure_channel(address, credentials) as channel:
        return cluster_pb2_grpc.ClusterStub(channel).Status(
            cluster_pb2.ClusterStatusRequest(), timeout=5
        )


def _tls_coordinator(
    services: Callable[..., ServiceProcess], etcd: EmbeddedEtcd, pki: Pki, *, mutual: bool
) -> tuple[ServiceProcess, str]:
    """_tls_coordinator starts a coordinator serving TLS; returns it and its plaintext
    health-only address (what a Kubernetes probe would use)."""
    health = f"127.0.0.1:{free_port()}"
    args = [
        *_prefix(),
        "--tls-cert-file", str(pki.server.cert),
        "--tls-key-file", str(pki.server.key),
        "--health-listen", health,
    ]  # fmt: skip
    if mutual:
        args += ["--tls-client-ca-file", str(pki.ca.cert)]
    coordinator = services("coordinator", etcd.endpoint, args=args)
    wait_until(_serving(health), timeout=20, what="coordinator SERVING on its health port")
    return coordinator, health


def test_mutual_tls_admits_only_clients_with_a_certificate_from_the_ca(
    etcd_server: EmbeddedEtcd,
    services: Callable[..., ServiceProcess],
    pki: Pki,
    grpcurl: str,
) -> None:
    coordinator, _ = _tls_coordinator(services, etcd_server, pki, mutual=True)
    address = coordinator.address

    assert _status(address, pki.ca.cert, pki.client).leader.id  # a client of the CA: in
    for client in (None, pki.stranger):  # no certificate, or one from another CA: out
        with pytest.raises(grpc.RpcError) as refused:
            _status(address, pki.ca.cert, client)
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    with pytest.raises(grpc.RpcError) as plaintext:
        health_status(address)  # plaintext: no TLS handshake, no answer
    assert plaintext.value.code() is grpc.StatusCode.UNAVAILABLE

    # The real grpcurl, with and without the client certificate.
    base = [grpcurl, "-cacert", str(pki.ca.cert)]
    method = "ferry.v1.Cluster/Status"
    with_cert = [*base, "-cert", str(pki.client.cert), "-key", str(pki.client.key)]
    ok = subprocess.run([*with_cert, address, method], capture_output=True, text=True, timeout=20)
    assert ok.returncode == 0, ok.stderr
    assert '"leader"' in ok.stdout
    refused_cli = subprocess.run(
        [*base, address, method], capture_output=True, text=True, timeout=20
    )
    assert refused_cli.returncode != 0

    # The ferry CLI: flags, and the same settings from FERRY_TLS_* variables.
    tls_flags = ["--tls-ca-file", str(pki.ca.cert)]
    cert_flags = ["--tls-cert-file", str(pki.client.cert), "--tls-key-file", str(pki.client.key)]
    shown = ferry("cluster", "status", "--coordinator", address, *tls_flags, *cert_flags)
    assert shown.returncode == 0, shown.stderr
    denied = ferry("cluster", "status", "--coordinator", address, *tls_flags, "--timeout", "3")
    assert denied.returncode == 1
    assert "cannot reach coordinator" in denied.stderr
    from_env = ferry(
        "cluster", "status", "--coordinator", address,
        env={
            "FERRY_TLS_CA_FILE": str(pki.ca.cert),
            "FERRY_TLS_CERT_FILE": str(pki.client.cert),
            "FERRY_TLS_KEY_FILE": str(pki.client.key),
        },
    )  # fmt: skip
    assert from_env.returncode == 0, from_env.stderr


def _served_common_name(address: str, ca: Path) -> str:
    host, _, port = address.rpartition(":")
    context = ssl.create_default_context(cafile=str(ca))
    context.set_alpn_protocols(["h2"])
    with socket.create_connection((host, int(port)), timeout=3) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return common_name(der)


def test_a_renewed_certificate_is_served_without_a_restart(
    etcd_server: EmbeddedEtcd, services: Callable[..., ServiceProcess], pki: Pki
) -> None:
    coordinator, _ = _tls_coordinator(services, etcd_server, pki, mutual=False)
    assert _served_common_name(coordinator.address, pki.ca.cert) == "server-1"
    assert _status(coordinator.address, pki.ca.cert, None).leader.id

    pki.ca.issue("server-2", into=pki.server)  # same files, new certificate and key
    wait_until(
        lambda: _served_common_name(coordinator.address, pki.ca.cert) == "server-2",
        timeout=15,
        what="the renewed certificate served",
    )
    assert _status(coordinator.address, pki.ca.cert, None).leader.id  # and it works
    assert coordinator.process is not None and coordinator.process.poll() is None
    assert "certificate reloaded" in coordinator.log()


@pytest.fixture
def tls_etcd(tmp_path: Path, pki: Pki) -> Iterator[EmbeddedEtcd]:
    """tls_etcd is an etcd that serves TLS and requires client certificates of the CA."""
    etcd_pair = pki.ca.issue("etcd")
    tls = EtcdServerTls(
        str(etcd_pair.cert),
        str(etcd_pair.key),
        client_ca_file=str(pki.ca.cert),
        client_cert_file=str(pki.client.cert),
        client_key_file=str(pki.client.key),
    )
    server = EmbeddedEtcd(tmp_path / "etcd-tls", tls=tls).start()
    yield server
    server.stop()


def test_services_reach_etcd_over_mutual_tls(
    tls_etcd: EmbeddedEtcd, services: Callable[..., ServiceProcess], pki: Pki
) -> None:
    prefix = _prefix()
    ca = ["--etcd-ca-file", str(pki.ca.cert)]
    cert = ["--etcd-cert-file", str(pki.client.cert), "--etcd-key-file", str(pki.client.key)]
    # Without its client certificate etcd refuses the connection. The agent without one
    # starts first: by the time the one with a certificate (started later) is registered,
    # it has had longer, and still is not.
    stranger = services("agent", tls_etcd.endpoint, args=[*prefix, *ca])
    agent = services("agent", tls_etcd.endpoint, args=[*prefix, *ca, *cert]).wait_serving()
    coordinator = services("coordinator", tls_etcd.endpoint, args=[*prefix, *ca, *cert])
    coordinator.wait_serving()
    wait_until(
        lambda: (
            agent.member_id in ferry("agents", "list", "--coordinator", coordinator.address).stdout
        ),
        what="the agent with a certificate listed",
    )
    assert health_status(stranger.address) == NOT_SERVING
    listed = ferry("agents", "list", "--coordinator", coordinator.address, "-o", "json")
    assert agent.member_id in listed.stdout
    assert stranger.member_id not in listed.stdout


def test_a_missing_certificate_file_stops_the_start_naming_the_setting(
    etcd_server: EmbeddedEtcd, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.pem"
    for flag, setting in (("--tls-cert-file", "tls_cert_file"), ("--etcd-ca-file", "etcd_ca_file")):
        extra = ["--tls-key-file", str(missing)] if flag == "--tls-cert-file" else []
        run = ferry(
            "agent", "--etcd-endpoints", etcd_server.endpoint, flag, str(missing), *extra,
            timeout=30,
        )  # fmt: skip
        assert run.returncode == 1
        assert setting in run.stderr and "nope.pem" in run.stderr


def test_backup_and_restore_reach_etcd_over_mutual_tls(
    tls_etcd: EmbeddedEtcd, services: Callable[..., ServiceProcess], pki: Pki, tmp_path: Path
) -> None:
    prefix = _prefix()
    etcd_flags = [
        "--etcd-endpoints", tls_etcd.endpoint,
        "--etcd-ca-file", str(pki.ca.cert),
        "--etcd-cert-file", str(pki.client.cert),
        "--etcd-key-file", str(pki.client.key),
    ]  # fmt: skip
    store = ["--store-url", f"sqlite:///{tmp_path / 'store.db'}"]
    coordinator = services(
        "coordinator", tls_etcd.endpoint, args=[*prefix, *etcd_flags[2:], *store]
    )
    coordinator.wait_serving()
    spec = tmp_path / "c.yaml"
    spec.write_text("name: kept\ntype: generator\nindex: kept\nconfig: {docs: 5}\n")
    created = ferry("connectors", "create", "-f", str(spec), "--coordinator", coordinator.address)
    assert created.returncode == 0, created.stderr
    coordinator.stop()

    backup = tmp_path / "backup"
    taken = ferry("backup", str(backup), *etcd_flags, *prefix, *store, timeout=60)
    assert taken.returncode == 0, taken.stderr
    without_cert = ferry(
        "backup", str(tmp_path / "b2"), *etcd_flags[:4], *prefix, *store, timeout=60
    )
    assert without_cert.returncode != 0

    other = ["--etcd-prefix", f"/restored-{uuid.uuid4().hex[:8]}"]
    restored_store = ["--store-url", f"sqlite:///{tmp_path / 'restored.db'}"]
    restored = ferry("restore", str(backup), *etcd_flags, *other, *restored_store, timeout=60)
    assert restored.returncode == 0, restored.stderr
    again = services(
        "coordinator", tls_etcd.endpoint, args=[*other, *etcd_flags[2:], *restored_store]
    )
    again.wait_serving()
    assert "kept" in ferry("connectors", "list", "--coordinator", again.address).stdout
