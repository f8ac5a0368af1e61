"""Token authentication with roles on real processes, through the CLI, grpcurl and a remote
cluster's token: UNAUTHENTICATED without a known token, PERMISSION_DENIED for a weak role."""

from __future__ import annotations

import hashlib
import json
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from ferry.etcd import EmbeddedEtcd
from ferry.v1 import leader_replication_pb2 as leader_pb
from ferry.v1 import leader_replication_pb2_grpc as leader_grpc
from tests.helpers import SERVING, ServiceProcess, ferry, health_status, wait_until

VIEWER = "viewer-token-0123456789"
OPERATOR = "operator-token-0123456789"
ADMIN = "admin-token-0123456789abc"
LATE = "late-token-0123456789abcd"


def _tokens_file(path: Path, *extra: str) -> Path:
    digest = hashlib.sha256(ADMIN.encode()).hexdigest()
    path.write_text(
        "tokens:\n"
        f"  - {{name: dashboards, role: viewer, token: {VIEWER}}}\n"
        "  - {name: ci, role: operator, token: '${env:TEST_OPERATOR_TOKEN}'}\n"
        f"  - {{name: root, role: admin, sha256: {digest}}}\n" + "".join(extra)
    )
    return path


@pytest.fixture
def secured(
    etcd_server: EmbeddedEtcd, services: Callable[..., ServiceProcess], tmp_path: Path
) -> tuple[ServiceProcess, Path]:
    tokens = _tokens_file(tmp_path / "tokens.yaml")
    coordinator = services(
        "coordinator",
        etcd_server.endpoint,
        args=["--etcd-prefix", f"/roles-{uuid.uuid4().hex[:8]}", "--auth-tokens-file", str(tokens)],
        env={"TEST_OPERATOR_TOKEN": OPERATOR},
    ).wait_serving()  # health needs no token
    return coordinator, tokens


def _cli(coordinator: ServiceProcess, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    return ferry(*args, "--coordinator", coordinator.address, "--auth-token", token)


SPEC = """
name: orders
type: generator
index: orders
config: {docs: 20}
"""


def test_each_role_may_do_what_it_is_for_and_no_more(
    secured: tuple[ServiceProcess, Path], tmp_path: Path
) -> None:
    coordinator, _ = secured
    spec = tmp_path / "orders.yaml"
    spec.write_text(SPEC)

    anonymous = ferry("connectors", "list", "--coordinator", coordinator.address)
    assert anonymous.returncode == 1
    assert "UNAUTHENTICATED" in anonymous.stderr and "bearer token" in anonymous.stderr
    unknown = _cli(coordinator, "not-a-token-at-all-123", "connectors", "list")
    assert "UNAUTHENTICATED" in unknown.stderr and "not known" in unknown.stderr

    # viewer: reads, nothing else
    assert _cli(coordinator, VIEWER, "connectors", "list").returncode == 0
    created = _cli(coordinator, VIEWER, "connectors", "create", "-f", str(spec))
    assert created.returncode == 1
    assert "PERMISSION_DENIED" in created.stderr
    assert "'dashboards' has role viewer" in created.stderr and "needs admin" in created.stderr

    # admin creates; operator runs syncs but cannot delete
    assert _cli(coordinator, ADMIN, "connectors", "create", "-f", str(spec)).returncode == 0
    synced = _cli(coordinator, OPERATOR, "sync", "orders")
    assert synced.returncode == 0, synced.stderr
    assert _cli(coordinator, VIEWER, "sync", "orders").returncode == 1
    deleted = _cli(coordinator, OPERATOR, "connectors", "delete", "orders")
    assert deleted.returncode == 1
    assert "PERMISSION_DENIED" in deleted.stderr and "needs admin" in deleted.stderr
    assert "orders" in _cli(coordinator, VIEWER, "connectors", "list").stdout  # still there
    assert _cli(coordinator, ADMIN, "connectors", "delete", "orders").returncode == 0

    # the token may also come from FERRY_AUTH_TOKEN, as for the services
    via_env = ferry(
        "connectors", "list", "--coordinator", coordinator.address,
        env={"FERRY_AUTH_TOKEN": VIEWER},
    )  # fmt: skip
    assert via_env.returncode == 0, via_env.stderr


def test_grpcurl_needs_a_token_but_not_for_health_and_reflection(
    secured: tuple[ServiceProcess, Path], grpcurl: str
) -> None:
    coordinator, _ = secured
    base = [grpcurl, "-plaintext"]
    listed = subprocess.run([*base, coordinator.address, "list"], capture_output=True, text=True)
    assert "ferry.v1.Connectors" in listed.stdout, listed.stderr
    health = subprocess.run(
        [*base, coordinator.address, "grpc.health.v1.Health/Check"], capture_output=True, text=True
    )
    assert "SERVING" in health.stdout, health.stderr
    method = "ferry.v1.Connectors/List"
    refused = subprocess.run([*base, coordinator.address, method], capture_output=True, text=True)
    assert refused.returncode != 0 and "Unauthenticated" in refused.stderr
    header = ["-H", f"authorization: Bearer {VIEWER}"]
    allowed = subprocess.run(
        [*base, *header, coordinator.address, method], capture_output=True, text=True
    )
    assert allowed.returncode == 0, allowed.stderr


def test_a_token_added_to_the_file_works_without_a_restart(
    secured: tuple[ServiceProcess, Path],
) -> None:
    coordinator, tokens = secured
    assert "UNAUTHENTICATED" in _cli(coordinator, LATE, "connectors", "list").stderr
    _tokens_file(tokens, f"  - {{name: late, role: viewer, token: {LATE}}}\n")
    wait_until(
        lambda: _cli(coordinator, LATE, "connectors", "list").returncode == 0,
        what="the new token accepted",
    )
    # A broken file keeps the tokens in force (logged), instead of locking everyone out.
    tokens.write_text("tokens: [{name: x, role: emperor, token: short}]\n")

    def refused_and_still_admitted() -> bool:
        admitted = _cli(coordinator, LATE, "connectors", "list").returncode == 0
        return admitted and "tokens file not reloaded" in coordinator.log()

    wait_until(refused_and_still_admitted, what="the broken file refused, the old tokens kept")


def test_leader_replication_checks_the_follower_clusters_token(
    etcd_server: EmbeddedEtcd, services: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    """A follower cluster's coordinator dials the leader's replicator with the remote's token:
    an unknown token is UNAUTHENTICATED, a viewer's PERMISSION_DENIED, an operator's works."""
    tokens = _tokens_file(tmp_path / "tokens.yaml")
    leader_replicator = services(
        "replicator",
        etcd_server.endpoint,
        args=[
            "--etcd-prefix",
            f"/leader-{uuid.uuid4().hex[:8]}",
            "--store-url",
            f"sqlite:///{tmp_path / 'leader.db'}",
            "--auth-tokens-file",
            str(tokens),
        ],
        env={"TEST_OPERATOR_TOKEN": OPERATOR},
    ).wait_serving()
    with grpc.insecure_channel(leader_replicator.address) as channel:
        stub = leader_grpc.LeaderReplicationStub(channel)
        request = leader_pb.ListLeaderIndicesRequest()
        with pytest.raises(grpc.RpcError) as anonymous:
            stub.ListIndices(request, timeout=5)
        assert anonymous.value.code() is grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as viewer:
            stub.ListIndices(request, timeout=5, metadata=[("authorization", f"Bearer {VIEWER}")])
        assert viewer.value.code() is grpc.StatusCode.PERMISSION_DENIED
        stub.ListIndices(request, timeout=5, metadata=[("authorization", f"Bearer {OPERATOR}")])

    follower = services(
        "coordinator",
        etcd_server.endpoint,
        args=["--etcd-prefix", f"/follower-{uuid.uuid4().hex[:8]}"],
        env={"GOOD_TOKEN": OPERATOR, "WEAK_TOKEN": VIEWER},
    ).wait_serving()
    for name, ref in (("good", "${env:GOOD_TOKEN}"), ("weak", "${env:WEAK_TOKEN}"), ("none", "")):
        token = ["--token", ref] if ref else []
        added = ferry(
            "remote", "add", name, leader_replicator.address, *token,
            "--coordinator", follower.address,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
    shown = ferry("remote", "list", "--coordinator", follower.address, "-o", "json").stdout
    assert health_status(follower.address) == SERVING
    remotes = {r["name"]: r for r in json.loads(shown)}
    assert remotes["good"].get("connected") is True, remotes["good"]
    assert "PERMISSION_DENIED" in remotes["weak"]["error"]
    assert "UNAUTHENTICATED" in remotes["none"]["error"]
