"""Pair: a leader cluster and a follower cluster replicating from it, for the benchmarks.

Each side is a :class:`bench._cluster.Cluster` in a directory of its own, so
each has its own embedded etcd and SQLite store. The leader runs one
replicator serving ``LeaderReplication`` from the leader store (no
coordinator: none is needed); the follower runs a coordinator serving
``Replication`` and one replicator that claims the follower shard tasks, and
knows the leader as remote cluster :data:`REMOTE`. Benchmarks write to leader
indices straight into the leader store, in process, as an agent would from
its own; tests/replication/clusters.py sets up the same two clusters.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

from bench._cluster import Cluster, wait_for
from ferry.store import Store
from ferry.v1 import replication_pb2, replication_pb2_grpc

REMOTE = "leader"
"""REMOTE is the leader cluster's name in the follower cluster."""
FOLLOWING = replication_pb2.SHARD_FOLLOW_STATE_FOLLOWING
PAUSED = replication_pb2.SHARD_FOLLOW_STATE_PAUSED
STATE_TIMEOUT = 60.0


class Pair:
    """Pair is the two clusters. Use it as a context manager: leaving it stops the
    follower cluster, then the leader cluster."""

    def __init__(self, directory: Path, *, lease_ttl: float = 3.0) -> None:
        (directory / "leader").mkdir(parents=True, exist_ok=True)
        (directory / "follower").mkdir(parents=True, exist_ok=True)
        self.leader = Cluster(directory / "leader", lease_ttl=lease_ttl)
        self.follower = Cluster(directory / "follower", lease_ttl=lease_ttl)

    def __enter__(self) -> Pair:
        with ExitStack() as started:  # on a failure, stops what did start
            started.enter_context(self.leader)
            started.enter_context(self.follower)
            # Started together, they load their modules side by side.
            leader = self.leader.launch("replicator")
            services = [
                leader,
                self.follower.launch("coordinator"),
                self.follower.launch("replicator"),
            ]
            for service in services:
                service.wait_serving()
            self.replication.PutRemoteCluster(
                replication_pb2.PutRemoteClusterRequest(
                    remote_cluster=replication_pb2.RemoteCluster(
                        name=REMOTE, addresses=[leader.address]
                    )
                ),
                timeout=10,
            )
            started.pop_all()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """close stops every process and both etcds; idempotent."""
        try:
            self.follower.close()
        finally:
            self.leader.close()

    @property
    def replication(self) -> replication_pb2_grpc.ReplicationStub:
        """replication is the follower cluster's Replication API."""
        return replication_pb2_grpc.ReplicationStub(self.follower.channel)

    def follow(self, follower_index: str, leader_index: str) -> None:
        """follow starts following the leader index (default parameters) and waits until
        every shard is FOLLOWING: bootstrapped, reading operations."""
        self.replication.Follow(
            replication_pb2.FollowRequest(
                follower_index=follower_index, remote_cluster=REMOTE, leader_index=leader_index
            ),
            timeout=10,
        )
        self.wait_states(follower_index, FOLLOWING)

    def pause(self, follower_index: str) -> None:
        """pause pauses the follower and waits until no replicator runs its shard tasks."""
        self.replication.Pause(
            replication_pb2.PauseFollowerRequest(follower_index=follower_index), timeout=10
        )
        self.wait_states(follower_index, PAUSED)

    def resume(self, follower_index: str) -> None:
        """resume resumes a paused follower; it does not wait."""
        self.replication.Resume(
            replication_pb2.ResumeFollowerRequest(follower_index=follower_index), timeout=10
        )

    def states(self, follower_index: str) -> list[int]:
        """states are the follower's shard states, in shard order, from Replication.Stats."""
        reply = self.replication.Stats(
            replication_pb2.FollowStatsRequest(follower_indices=[follower_index]), timeout=10
        )
        return [s.state for s in reply.followers[0].shards]

    def wait_states(self, follower_index: str, state: int) -> None:
        """wait_states waits until every shard of the follower is in ``state``."""

        def every() -> bool:
            return all(s == state for s in self.states(follower_index))

        name = replication_pb2.ShardFollowState.Name(state)
        wait_for(every, timeout=STATE_TIMEOUT, what=f"every shard of {follower_index} {name}")


async def checkpoints(store: Store, index: str) -> list[int]:
    """checkpoints are the index's global checkpoints, in shard order: on a follower, the
    highest seq_no below which every replicated operation has been applied."""
    return [s.global_checkpoint for s in await store.shard_stats(index)]
