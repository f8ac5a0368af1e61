"""Replication metrics and spans of real replicators (SPEC §8.2): the follower's per-shard
lag and applied operations, the leader's open streams and operations sent; a span per
bootstrap, read message and applied batch, and none of etcd's streams."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ferry.etcd import EmbeddedEtcd, free_port
from ferry.v1 import replication_pb2
from tests.helpers import ServiceProcess
from tests.otlp import Exported, Receiver, etcd_spans, receiving
from tests.replication.clusters import Cluster, LeaderLoad
from tests.scrape import scrape, scrape_until


@pytest.fixture
def otlp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """otlp receives the spans of every process started after it."""
    yield from receiving(monkeypatch)


@pytest.fixture
def clusters(
    otlp: Receiver,
    services: Callable[..., ServiceProcess],
    etcd_server: EmbeddedEtcd,
    follower_etcd: EmbeddedEtcd,
    tmp_path: Path,
) -> Iterator[tuple[Cluster, Cluster, str, str]]:
    """clusters are a leader and a follower cluster (as the leader and follower fixtures),
    each replicator serving metrics: (leader, follower, leader's address, follower's)."""
    leader_metrics, follower_metrics = (f"127.0.0.1:{free_port()}" for _ in range(2))
    leader = Cluster("leader", services, etcd_server.endpoint, tmp_path)
    follower = Cluster("follower", services, follower_etcd.endpoint, tmp_path)
    try:
        leader.replicator("--metrics-listen", leader_metrics)
        follower.coordinator()
        follower.add_remote("leader", leader)
        yield leader, follower, leader_metrics, follower_metrics
    finally:
        follower.close()
        leader.close()


def test_follower_shards_export_lag_applied_operations_and_spans(
    clusters: tuple[Cluster, Cluster, str, str], otlp: Receiver
) -> None:
    leader, follower, leader_metrics, follower_metrics = clusters
    leader.create_index("orders", shards=2)
    LeaderLoad(leader, "orders", operations=2_000, batch=500).start().join()
    follower.replicator("--metrics-listen", follower_metrics)
    follower.follow("orders-copy", "leader", "orders")
    follower.wait_caught_up(leader, "orders", "orders-copy")
    # Bootstrapped from a snapshot; what the leader writes now is applied as operations.
    LeaderLoad(leader, "orders", operations=3_000, batch=500, seed=5).start().join()
    follower.wait_caught_up(leader, "orders", "orders-copy")

    shards = scrape_until(
        follower_metrics,
        lambda got: got.total("ferry_replication_operations_applied_total", index="orders-copy"),
        what="operations applied on the follower",
    )
    assert shards.label_values("ferry_replication_lag_operations", "shard") == {"0", "1"}
    lag = shards.values("ferry_replication_lag_operations", index="orders-copy")
    assert len(lag) == 2 and all(isinstance(v, float) and v >= 0 for v in lag)
    assert len(shards.values("ferry_replication_lag_seconds", index="orders-copy")) == 2
    assert shards.total("ferry_replication_bootstraps_total", index="orders-copy") == 2
    assert shards.total("ferry_replication_read_exceptions_total", index="orders-copy") == 0
    assert shards.values("ferry_replication_write_buffer_operations", index="orders-copy")
    scrape_until(
        follower_metrics,
        lambda got: got.total("ferry_replication_lag_operations") == 0,
        what="no lag once caught up",
    )

    served = scrape(leader_metrics)
    assert served.total("ferry_replication_read_streams", index="orders") == 2
    assert served.total("ferry_replication_operations_sent_total", index="orders") > 0

    def replication(name: str, count: int = 1) -> list[Exported]:
        return otlp.wait_for(
            lambda s: (
                s.service == "ferry-replicator"
                and s.span.name == f"replication.{name}"
                and s.attribute("ferry.index") == "orders-copy"
            ),
            count,
            what=f"replication.{name} spans",
        )

    bootstraps = replication("bootstrap", 2)
    assert {b.attribute("ferry.shard") for b in bootstraps} == {0, 1}
    assert all(b.attribute("ferry.reason") == "new follower" for b in bootstraps)
    for span in replication("apply"):
        first, last = span.attribute("ferry.seq_no.first"), span.attribute("ferry.seq_no.last")
        assert isinstance(first, int) and isinstance(last, int)
        assert span.attribute("ferry.ops") == last - first + 1  # a batch is a run of seq_nos
    assert any(r.attribute("ferry.ops") for r in replication("read"))
    assert etcd_spans(otlp) == [], "etcd's watch and keepalive streams stay out of traces"

    # A stopped shard task's series go with it.
    follower.replication.Pause(replication_pb2.PauseFollowerRequest(follower_index="orders-copy"))
    scrape_until(
        follower_metrics,
        lambda got: not got.values("ferry_replication_lag_operations"),
        what="the follower shards' series removed",
    )
