"""etcd unreachable: every service reports NOT_SERVING, then recovers and re-registers."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable

import grpc
import pytest

from ferry.etcd import EmbeddedEtcd
from ferry.v1 import agents_pb2, agents_pb2_grpc, connectors_pb2, connectors_pb2_grpc
from tests.helpers import NOT_SERVING, SERVING, ServiceProcess, health_status, wait_until

pytestmark = pytest.mark.faults

TTL = 3.0


def test_health_follows_etcd_and_members_come_back(
    own_etcd: EmbeddedEtcd, services: Callable[..., ServiceProcess]
) -> None:
    args = ["--etcd-prefix", f"/outage-{uuid.uuid4().hex[:8]}"]
    coordinator = services(
        "coordinator", own_etcd.endpoint, args=args, lease_ttl=TTL
    ).wait_serving()
    agent = services("agent", own_etcd.endpoint, args=args, lease_ttl=TTL).wait_serving()

    def agent_leases() -> list[int]:
        with grpc.insecure_channel(coordinator.address) as channel:
            listed = agents_pb2_grpc.AgentsStub(channel).List(
                agents_pb2.ListAgentsRequest(), timeout=2
            )
            return [a.lease_id for a in listed.agents]

    first_lease = wait_until(agent_leases, what="agent registered")[0]

    os.kill(own_etcd.pid, signal.SIGSTOP)
    for proc in (coordinator, agent):
        wait_until(
            lambda p=proc: health_status(p.address) == NOT_SERVING, timeout=15, what="NOT_SERVING"
        )
    # ...but alive: the "liveness" health service (Kubernetes' liveness probe) stays SERVING.
    for proc in (coordinator, agent):
        assert health_status(proc.address, "liveness") == SERVING
    # The agent notices its session is gone by its local deadline.
    wait_until(lambda: '"session lost"' in agent.log(), timeout=TTL + 5, what="agent session lost")
    # The API says what is wrong: etcd is unavailable (retriable), not an internal error.
    with grpc.insecure_channel(coordinator.address) as channel:
        with pytest.raises(grpc.RpcError) as raised:
            connectors_pb2_grpc.ConnectorsStub(channel).List(
                connectors_pb2.ListConnectorsRequest(), timeout=15
            )
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    assert "etcd unavailable" in raised.value.details()  # type: ignore[attr-defined]

    os.kill(own_etcd.pid, signal.SIGCONT)
    for proc in (coordinator, agent):
        wait_until(
            lambda p=proc: health_status(p.address) == SERVING, timeout=20, what="SERVING again"
        )
    # It registered again under a new lease.
    leases = wait_until(
        lambda: (ls := agent_leases()) and ls[0] != first_lease and ls,
        timeout=20,
        what="re-registered",
    )
    assert len(leases) == 1
