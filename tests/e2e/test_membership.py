"""Agents and replicators register under their session lease and vanish when killed."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable

import grpc

from ferry.etcd import EmbeddedEtcd
from ferry.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    agents_pb2,
    agents_pb2_grpc,
    cluster_pb2,
    cluster_pb2_grpc,
    replicator_pb2,
    replicator_pb2_grpc,
)
from tests.helpers import ServiceProcess, wait_until

TTL = 3.0


def test_members_appear_and_disappear_with_their_lease(
    etcd_server: EmbeddedEtcd, services: Callable[..., ServiceProcess], grpcurl: str
) -> None:
    args = ["--etcd-prefix", f"/e2e-{uuid.uuid4().hex[:8]}"]
    coordinator = services("coordinator", etcd_server.endpoint, args=args, lease_ttl=TTL)
    agent = services(
        "agent", etcd_server.endpoint, lease_ttl=TTL,
        args=[*args, "--labels", "zone=a,disk=ssd", "--max-concurrent-tasks", "7"],
    )  # fmt: skip
    replicator = services("replicator", etcd_server.endpoint, args=args, lease_ttl=TTL)
    for proc in (coordinator, agent, replicator):
        proc.wait_serving()

    with grpc.insecure_channel(coordinator.address) as channel:
        agents = agents_pb2_grpc.AgentsStub(channel)
        cluster = cluster_pb2_grpc.ClusterStub(channel)

        def listed_agents() -> list[str]:
            return [a.id for a in agents.List(agents_pb2.ListAgentsRequest(), timeout=5).agents]

        wait_until(lambda: listed_agents() == [agent.member_id], what="agent registered")
        info = agents.List(agents_pb2.ListAgentsRequest(), timeout=5).agents[0]
        assert info.address == agent.address
        assert dict(info.labels) == {"zone": "a", "disk": "ssd"}
        assert info.max_concurrent_tasks == 7
        assert "generator" in info.connector_types

        status = wait_until(
            lambda: (
                (s := cluster.Status(cluster_pb2.ClusterStatusRequest(), timeout=5)).leader.id and s
            ),
            what="a leader",
        )
        assert status.leader.id == coordinator.member_id and status.leader_epoch > 0
        assert [r.id for r in status.replicators] == [replicator.member_id]
        assert status.etcd.healthy and status.etcd.version.startswith("3.5")

        # Reflection lists every service of each member, health included.
        for proc, service in (
            (agent, "ferry.v1.Agent"),
            (replicator, "ferry.v1.LeaderReplication"),
        ):
            listed = subprocess.run(
                [grpcurl, "-plaintext", proc.address, "list"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert service in listed.stdout.split() and "grpc.health.v1.Health" in listed.stdout

        # Each member answers about itself too.
        with grpc.insecure_channel(agent.address) as ach:
            own = agent_pb2_grpc.AgentStub(ach).Status(agent_pb2.AgentStatusRequest(), timeout=5)
            assert own.session_alive and own.info.id == agent.member_id
        with grpc.insecure_channel(replicator.address) as rch:
            own_r = replicator_pb2_grpc.ReplicatorStub(rch).Status(
                replicator_pb2.ReplicatorStatusRequest(), timeout=5
            )
            assert own_r.session_alive and own_r.info.id == replicator.member_id

        # SIGKILL: nothing deregisters; the lease expiring removes the member.
        killed_at = time.monotonic()
        agent.kill()
        replicator.kill()
        wait_until(lambda: listed_agents() == [], timeout=TTL + 5, what="agent gone")
        wait_until(
            lambda: not cluster.Status(cluster_pb2.ClusterStatusRequest(), timeout=5).replicators,
            timeout=TTL + 5,
            what="replicator gone",
        )
        assert time.monotonic() - killed_at <= TTL + 3


def test_sigterm_deregisters_at_once(
    etcd_server: EmbeddedEtcd, services: Callable[..., ServiceProcess]
) -> None:
    args = ["--etcd-prefix", f"/e2e-{uuid.uuid4().hex[:8]}"]
    coordinator = services(
        "coordinator", etcd_server.endpoint, args=args, lease_ttl=30
    ).wait_serving()
    agent = services("agent", etcd_server.endpoint, args=args, lease_ttl=30).wait_serving()
    with grpc.insecure_channel(coordinator.address) as channel:
        agents = agents_pb2_grpc.AgentsStub(channel)
        wait_until(
            lambda: agents.List(agents_pb2.ListAgentsRequest(), timeout=5).agents, what="agent"
        )
        assert agent.stop() == 0
        # Graceful stop revokes the lease: gone long before the 30 s TTL.
        assert agents.List(agents_pb2.ListAgentsRequest(), timeout=5).agents == []
