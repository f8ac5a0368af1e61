"""Following a leader index across two real clusters (SPEC §7): convergence, failover,
back-pressure, re-bootstrap, fatal errors, unfollow.

Every scenario ends by comparing the follower with the leader document by
document and checkpoint by checkpoint.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from typing import Any

import grpc
from google.protobuf import duration_pb2

from ferry.store import FieldKind, IndexOp, Schema
from ferry.v1 import indices_pb2, replication_pb2
from tests.helpers import wait_until
from tests.replication.clusters import ACTIVE, PAUSED, Cluster, LeaderLoad

FOLLOWING = replication_pb2.SHARD_FOLLOW_STATE_FOLLOWING


def follower_status(cluster: Cluster, index: str) -> int:
    listed = cluster.replication.ListFollowers(replication_pb2.ListFollowersRequest())
    return next(f.status for f in listed.followers if f.follower_index == index)


def test_follower_equals_leader_after_100k_operations_and_refuses_direct_writes(
    leader: Cluster, follower: Cluster
) -> None:
    leader.create_index("orders", shards=2)
    LeaderLoad(leader, "orders", operations=20_000, batch=1000).start().join()
    follower.replicator()
    follower.follow("orders-copy", "leader", "orders")
    load = LeaderLoad(leader, "orders", operations=100_000, batch=1000, seed=11).start()
    wait_until(
        lambda: all(s.state == FOLLOWING for s in follower.shard_stats("orders-copy")),
        what="both shards bootstrapped and following",
    )
    load.join()
    follower.wait_caught_up(leader, "orders", "orders-copy")
    follower.assert_equal(leader, "orders", "orders-copy")
    stats = follower.shard_stats("orders-copy")
    assert [s.bootstraps for s in stats] == [1, 1]
    assert all(s.last_bootstrap_reason == "new follower" for s in stats)
    assert sum(s.operations_written for s in stats) > 0
    assert all(s.lag_operations == 0 for s in stats)
    assert follower.bulk_refused("orders-copy") == grpc.StatusCode.FAILED_PRECONDITION


def test_killed_leader_replicator_is_retried_with_backoff_until_it_returns(
    leader: Cluster, follower: Cluster
) -> None:
    leader.create_index("events", shards=1)
    follower.replicator()
    follower.follow(
        "events", "leader", "events", max_retry_delay=duration_pb2.Duration(nanos=200_000_000)
    )
    LeaderLoad(leader, "events", operations=5_000).start().join()
    follower.wait_caught_up(leader, "events", "events")
    serving = leader.replicators[0]
    serving.kill()
    LeaderLoad(leader, "events", operations=5_000, seed=3).start().join()
    wait_until(
        lambda: any(s.read_exceptions for s in follower.shard_stats("events")),
        what="the follower records the failing reads",
    )
    [stats] = follower.shard_stats("events")
    assert stats.read_exceptions[0].retries >= 1
    assert "UNAVAILABLE" in stats.read_exceptions[0].exception
    assert stats.fatal_exception == ""
    leader.restart(serving)
    follower.wait_caught_up(leader, "events", "events")
    follower.assert_equal(leader, "events", "events")
    [stats] = follower.shard_stats("events")
    assert not stats.read_exceptions
    assert stats.bootstraps == 1


def test_killed_follower_replicator_hands_its_shards_to_another_without_rebootstrap(
    leader: Cluster, follower: Cluster
) -> None:
    leader.create_index("logs", shards=2)
    LeaderLoad(leader, "logs", operations=10_000).start().join()
    first = follower.replicator()
    follower.follow("logs", "leader", "logs")
    follower.wait_caught_up(leader, "logs", "logs")
    assert {s.replicator_id for s in follower.shard_stats("logs")} == {first.member_id}
    second = follower.replicator()
    load = LeaderLoad(leader, "logs", operations=30_000, batch=250, seed=5).start()
    first.kill()
    wait_until(
        lambda: {s.replicator_id for s in follower.shard_stats("logs")} == {second.member_id},
        timeout=30,
        what="the surviving replicator holds both shards",
    )
    load.join()
    follower.wait_caught_up(leader, "logs", "logs")
    follower.assert_equal(leader, "logs", "logs")
    stats = follower.shard_stats("logs")
    assert [s.bootstraps for s in stats] == [1, 1], "failover must resume, not re-bootstrap"
    assert all(s.fencing_token.token > 0 for s in stats)


def test_slow_follower_store_never_buffers_past_max_write_buffer_count(
    leader: Cluster, follower: Cluster
) -> None:
    leader.create_index("metrics", shards=1)
    follower.replicator()
    follower.follow(
        "metrics",
        "leader",
        "metrics",
        max_read_request_operation_count=100,
        max_write_buffer_count=300,
        max_write_request_operation_count=50,
        max_outstanding_write_requests=1,
    )
    wait_until(lambda: follower.shard_stats("metrics")[0].state == FOLLOWING, what="following")
    path = follower.store_url.removeprefix("sqlite:///")
    seen: list[replication_pb2.ShardFollowStats] = []

    def sample() -> replication_pb2.ShardFollowStats:
        [stats] = follower.shard_stats("metrics")
        seen.append(stats)
        return stats

    # Slow the follower store down for real: another connection holds SQLite's write
    # lock (the store waits for it), in three stalls of 1.5 s while the leader writes.
    lock = sqlite3.connect(path, timeout=30, isolation_level=None)
    # Paced, so that the leader still takes writes during the third stall.
    load = LeaderLoad(leader, "metrics", operations=40_000, batch=100, pause=0.02, seed=9)
    load.start()
    try:
        for _ in range(3):
            assert load.written < load.operations, "the load ended before the stalls"
            lock.execute("BEGIN IMMEDIATE")
            wait_until(
                lambda: sample().write_buffer_operation_count >= 250,
                interval=0.02,
                what="the write buffer filling up while the store stalls",
            )
            stalled_until = time.monotonic() + 1.5
            while time.monotonic() < stalled_until:
                sample()
            lock.execute("COMMIT")
            wait_until(
                lambda: sample().write_buffer_operation_count < 250,
                interval=0.02,
                what="the buffer draining",
            )
    finally:
        if lock.in_transaction:
            lock.execute("COMMIT")
        lock.close()
    load.join()
    assert max(s.write_buffer_operation_count for s in seen) <= 300
    assert min(s.outstanding_credit_operations for s in seen) >= 0, "leader sent beyond credit"
    assert all(not s.read_exceptions and not s.fatal_exception for s in seen)
    assert max(s.lag_millis for s in seen) > 0, "lag in time never showed"
    follower.wait_caught_up(leader, "metrics", "metrics")
    follower.assert_equal(leader, "metrics", "metrics")


def test_trimmed_history_makes_the_follower_bootstrap_again_by_itself(
    leader: Cluster, follower: Cluster
) -> None:
    leader.create_index("users", shards=1)
    LeaderLoad(leader, "users", operations=3_000, ids=500).start().join()
    follower.replicator()
    follower.follow("users", "leader", "users")
    follower.wait_caught_up(leader, "users", "users")
    follower.replication.Pause(replication_pb2.PauseFollowerRequest(follower_index="users"))
    wait_until(
        lambda: follower.shard_stats("users")[0].state != FOLLOWING, what="shard task stopped"
    )
    LeaderLoad(leader, "users", operations=3_000, ids=500, seed=2).start().join()

    async def expire_and_trim(store: object) -> int:
        for lease in await store.retention_leases("users"):  # type: ignore[attr-defined]
            await store.remove_retention_lease("users", lease.shard, lease.lease_id)  # type: ignore[attr-defined]
        return await store.trim_history("users")  # type: ignore[attr-defined, no-any-return]

    assert leader.run(expire_and_trim) > 0
    follower.replication.Resume(replication_pb2.ResumeFollowerRequest(follower_index="users"))
    follower.wait_caught_up(leader, "users", "users")
    follower.assert_equal(leader, "users", "users")
    [stats] = follower.shard_stats("users")
    assert stats.bootstraps == 2
    assert stats.last_bootstrap_reason.startswith("history trimmed below seq_no")


def test_deleted_leader_index_pauses_the_follower_and_unfollow_makes_it_writable(
    leader: Cluster, follower: Cluster
) -> None:
    leader.create_index("carts", shards=1)
    LeaderLoad(leader, "carts", operations=2_000, ids=300).start().join()
    follower.replicator()
    follower.follow("carts", "leader", "carts", read_poll_timeout=duration_pb2.Duration(seconds=1))
    follower.wait_caught_up(leader, "carts", "carts")
    leader.run(lambda store: store.delete_index("carts"))
    wait_until(lambda: follower_status(follower, "carts") == PAUSED, what="follower paused")
    [stats] = follower.shard_stats("carts")
    assert "NOT_FOUND" in stats.fatal_exception
    leader.create_index("carts", shards=1)
    LeaderLoad(leader, "carts", operations=1_000, ids=300, seed=4).start().join()
    follower.replication.Resume(replication_pb2.ResumeFollowerRequest(follower_index="carts"))
    assert follower_status(follower, "carts") == ACTIVE
    follower.wait_caught_up(leader, "carts", "carts")
    follower.assert_equal(leader, "carts", "carts")
    [stats] = follower.shard_stats("carts")
    assert stats.fatal_exception == ""
    assert stats.last_bootstrap_reason == "leader index was created again"
    assert follower.bulk_refused("carts") == grpc.StatusCode.FAILED_PRECONDITION
    follower.replication.Unfollow(replication_pb2.UnfollowRequest(follower_index="carts"))
    assert follower.bulk_refused("carts") == grpc.StatusCode.OK


def test_sigstopped_follower_replicator_is_fenced_and_the_follower_stays_exact(
    leader: Cluster, follower: Cluster
) -> None:
    """SIGSTOP the replicator holding the shard until another claims it, then SIGCONT.

    The woken replicator finds its session lost (its local deadline passed) or its
    writes refused by the store's fence; either way it writes nothing more, and the
    follower ends equal to the leader.
    """
    leader.create_index("ledger", shards=1)
    zombie = follower.replicator()
    follower.follow("ledger", "leader", "ledger")
    wait_until(lambda: follower.shard_stats("ledger")[0].state == FOLLOWING, what="following")
    successor = follower.replicator()
    load = LeaderLoad(leader, "ledger", operations=40_000, batch=100, seed=21).start()
    wait_until(lambda: follower.shard_stats("ledger")[0].operations_written > 0, what="applying")
    zombie.signal(signal.SIGSTOP)
    wait_until(
        lambda: follower.shard_stats("ledger")[0].replicator_id == successor.member_id,
        timeout=follower.lease_ttl + 15,
        what="the shard claimed by the successor",
    )
    zombie.signal(signal.SIGCONT)
    load.join()
    follower.wait_caught_up(leader, "ledger", "ledger")
    follower.assert_equal(leader, "ledger", "ledger")
    [stats] = follower.shard_stats("ledger")
    assert stats.replicator_id == successor.member_id
    assert stats.bootstraps == 1
    log = zombie.log()
    assert "session lost" in log or "shard task fenced" in log, log[-2000:]


def test_a_leader_schema_change_reaches_the_follower_before_the_documents_using_it(
    leader: Cluster, follower: Cluster
) -> None:
    leader.create_index("articles", shards=1)
    follower.replicator()
    follower.follow("articles", "leader", "articles")
    wait_until(lambda: follower.shard_stats("articles")[0].state == FOLLOWING, what="following")

    async def add_text_field_and_write(store: Any) -> None:
        info = await store.get_index("articles")
        schema = Schema(fields={"body": FieldKind.TEXT}, version=info.spec.schema.version + 1)
        await store.update_schema("articles", schema)
        ops = [IndexOp(f"a-{i}", {"body": f"ferry crossing number {i}"}) for i in range(50)]
        await store.bulk("articles", [*ops, IndexOp("other", {"body": "a bridge"})])

    leader.run(add_text_field_and_write)
    follower.wait_caught_up(leader, "articles", "articles")
    follower.assert_equal(leader, "articles", "articles")
    leader_schema = leader.run(lambda store: store.get_index("articles")).spec.schema
    follower_schema = follower.run(lambda store: store.get_index("articles")).spec.schema
    assert follower_schema == leader_schema
    assert follower.shard_stats("articles")[0].follower_schema_version == leader_schema.version
    matched = follower.indices.Count(
        indices_pb2.CountRequest(index="articles", match=indices_pb2.MatchQuery(query="crossing"))
    )
    assert matched.count == 50
