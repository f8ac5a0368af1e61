"""Coordinator leader loss: SIGKILL the leader; the other replica leads within TTL + 1 s."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable

import grpc
import pytest

from ferry.etcd import EmbeddedEtcd
from ferry.v1 import cluster_pb2, cluster_pb2_grpc, connectors_pb2_grpc
from ferry.v1 import connectors_pb2 as pb
from tests.helpers import ServiceProcess, wait_until

TTL = 3.0

pytestmark = pytest.mark.faults


def leader_id(address: str) -> str:
    with grpc.insecure_channel(address) as channel:
        status = cluster_pb2_grpc.ClusterStub(channel).Status(
            cluster_pb2.ClusterStatusRequest(), timeout=2
        )
        return status.leader.id


def two_coordinators(
    etcd_server: EmbeddedEtcd, services: Callable[..., ServiceProcess]
) -> tuple[ServiceProcess, ServiceProcess]:
    """two_coordinators starts two replicas and returns (leader, the other) once one leads."""
    args = ["--etcd-prefix", f"/faults-{uuid.uuid4().hex[:8]}"]
    a = services("coordinator", etcd_server.endpoint, args=args, lease_ttl=TTL).wait_serving()
    b = services("coordinator", etcd_server.endpoint, args=args, lease_ttl=TTL).wait_serving()
    first = wait_until(lambda: leader_id(a.address), what="a leader")
    assert first in (a.member_id, b.member_id)
    return (a, b) if first == a.member_id else (b, a)


def test_sigkill_leader_other_replica_takes_over(
    etcd_server: EmbeddedEtcd, services: Callable[..., ServiceProcess]
) -> None:
    leader, survivor = two_coordinators(etcd_server, services)

    # The survivor answers the API throughout the failover: no request is refused.
    failures: list[BaseException] = []
    answered = 0
    stop = threading.Event()

    def hammer() -> None:
        nonlocal answered
        with grpc.insecure_channel(survivor.address) as channel:
            stub = connectors_pb2_grpc.ConnectorsStub(channel)
            i = 0
            while not stop.is_set():
                try:
                    spec = pb.ConnectorSpec(name=f"c{i}", type="generator", index="x")
                    stub.Create(pb.CreateConnectorRequest(spec=spec), timeout=2)
                    stub.List(pb.ListConnectorsRequest(), timeout=2)
                    answered += 1
                    i += 1
                except grpc.RpcError as exc:
                    failures.append(exc)

    worker = threading.Thread(target=hammer)
    worker.start()
    try:
        killed_at = time.monotonic()
        leader.kill()
        wait_until(
            lambda: leader_id(survivor.address) == survivor.member_id,
            timeout=TTL + 5,
            interval=0.02,
            what="survivor leads",
        )
        took_over = time.monotonic() - killed_at
    finally:
        stop.set()
        worker.join()
    assert took_over <= TTL + 1.0, f"took {took_over:.2f}s to elect a new leader"
    assert failures == []
    assert answered > 0
    assert '"became leader"' in survivor.log()


def test_paused_leader_steps_down_and_never_leads_alongside_its_successor(
    etcd_server: EmbeddedEtcd, services: Callable[..., ServiceProcess]
) -> None:
    leader, survivor = two_coordinators(etcd_server, services)

    leader.signal(signal.SIGSTOP)  # a zombie: alive, but neither renewing nor leading
    wait_until(
        lambda: leader_id(survivor.address) == survivor.member_id,
        timeout=TTL + 5,
        what="survivor leads while the old leader is paused",
    )
    leader.signal(signal.SIGCONT)
    # On waking, the old leader finds its local deadline long gone: it steps down
    # at once instead of running its management loops next to the new leader.
    wait_until(lambda: '"stepped down"' in leader.log(), timeout=10, what="old leader steps down")
    assert leader_id(leader.address) == survivor.member_id
    assert leader_id(survivor.address) == survivor.member_id
    stepped = next(line for line in leader.log().splitlines() if '"stepped down"' in line)
    assert "deadline" in stepped, stepped
