"""Two real Ferry clusters on one machine: each its own etcd, store, coordinator and replicators.

The leader cluster's replicators serve ``LeaderReplication`` from the leader
store; the follower cluster's coordinator serves ``Replication`` and its
replicators claim the follower shard tasks. Writes to leader indices go
straight into the leader store from the test (another process writing the
same SQLite file, as an agent would), so that 100k operations take seconds.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from ferry.etcd import Keys
from ferry.store import DeleteOp, IndexOp, IndexSpec, open_store
from ferry.v1 import (
    indices_pb2,
    indices_pb2_grpc,
    replication_pb2,
    replication_pb2_grpc,
)
from tests.helpers import ServiceProcess, wait_until
from tests.sync.support import SyncCluster, index_documents

ACTIVE = replication_pb2.FOLLOWER_STATUS_ACTIVE
PAUSED = replication_pb2.FOLLOWER_STATUS_PAUSED


class Cluster(SyncCluster):
    """Cluster is one Ferry cluster (a SyncCluster with its own key root and SQLite store
    file) plus its replicators and the replication API."""

    def __init__(
        self,
        name: str,
        start: Callable[..., ServiceProcess],
        etcd_endpoint: str,
        tmp_path: Path,
        *,
        lease_ttl: float = 3.0,
    ) -> None:
        keys = Keys(f"/{name}-{random.getrandbits(32):08x}")
        super().__init__(start, etcd_endpoint, keys, tmp_path, lease_ttl=lease_ttl, store_name=name)
        self.name = name
        self.replicators: list[ServiceProcess] = []

    def replicator(self, *extra: str, member_id: str = "", wait: bool = True) -> ServiceProcess:
        proc = self._start(
            "replicator",
            self.etcd_endpoint,
            args=[*self._common(), *extra],
            lease_ttl=self.lease_ttl,
            member_id=member_id or f"{self.name}-replicator-{len(self.replicators)}",
        )
        self.replicators.append(proc)
        if wait:
            proc.wait_serving()
        return proc

    def restart(self, proc: ServiceProcess) -> ServiceProcess:
        """restart starts a stopped process again on the same address and id."""
        proc.start()
        return proc.wait_serving()

    @property
    def replication(self) -> replication_pb2_grpc.ReplicationStub:
        return replication_pb2_grpc.ReplicationStub(self.channel)

    @property
    def indices(self) -> indices_pb2_grpc.IndicesStub:
        return indices_pb2_grpc.IndicesStub(self.channel)

    # The store, directly ---------------------------------------------------------------

    def run(self, work: Callable[[Any], Any]) -> Any:
        """run calls ``await work(store)`` on this cluster's store, opened for the call."""

        async def call() -> Any:
            async with open_store(self.store_url) as store:
                return await work(store)

        return asyncio.run(call())

    def create_index(self, name: str, shards: int = 2) -> None:
        self.run(lambda store: store.create_index(IndexSpec(name=name, shards=shards)))

    def documents(self, index: str) -> dict[str, dict[str, Any]]:
        return index_documents(self.store_url, index)

    def checkpoints(self, index: str) -> list[tuple[int, int]]:
        """checkpoints are each shard's (global checkpoint, max seq_no)."""
        stats = self.run(lambda store: store.shard_stats(index))
        return [(s.global_checkpoint, s.max_seq_no) for s in stats]

    # Replication API -------------------------------------------------------------------

    def add_remote(self, name: str, leader: Cluster) -> None:
        self.replication.PutRemoteCluster(
            replication_pb2.PutRemoteClusterRequest(
                remote_cluster=replication_pb2.RemoteCluster(
                    name=name, addresses=[r.address for r in leader.replicators]
                )
            )
        )

    def follow(
        self, follower: str, remote: str, leader_index: str, **params: Any
    ) -> replication_pb2.Follower:
        return self.replication.Follow(
            replication_pb2.FollowRequest(
                follower_index=follower,
                remote_cluster=remote,
                leader_index=leader_index,
                parameters=replication_pb2.FollowParameters(**params),
            )
        )

    def shard_stats(self, index: str) -> list[replication_pb2.ShardFollowStats]:
        response = self.replication.Stats(
            replication_pb2.FollowStatsRequest(follower_indices=[index])
        )
        return list(response.followers[0].shards)

    def wait_caught_up(
        self, leader: Cluster, leader_index: str, index: str, timeout: float = 60.0
    ) -> None:
        """wait_caught_up waits until every follower shard's checkpoint is the leader's."""

        def caught_up() -> bool:
            want = [gcp for gcp, _ in leader.checkpoints(leader_index)]
            got = [gcp for gcp, _ in self.checkpoints(index)]
            return got == want

        wait_until(caught_up, timeout=timeout, what=f"{index} caught up with {leader_index}")

    def assert_equal(self, leader: Cluster, leader_index: str, index: str) -> None:
        """assert_equal: the follower equals the leader document by document, checkpoints too."""
        want, got = leader.documents(leader_index), self.documents(index)
        assert len(got) == len(want), f"follower {len(got)} docs, leader {len(want)}"
        differ = [i for i in want if got.get(i) != want[i]]
        assert not differ, f"{len(differ)} documents differ, e.g. {differ[:3]}"
        assert [g for g, _ in self.checkpoints(index)] == [
            g for g, _ in leader.checkpoints(leader_index)
        ]

    def bulk_refused(self, index: str) -> grpc.StatusCode:
        """bulk_refused is the status of an ordinary write to ``index`` (OK if it worked)."""
        try:
            self.indices.Bulk(
                indices_pb2.BulkRequest(
                    index=index,
                    operations=[
                        indices_pb2.BulkOperation(
                            type=indices_pb2.BULK_OPERATION_TYPE_DELETE, id="x"
                        )
                    ],
                )
            )
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[attr-defined, no-any-return]
        return grpc.StatusCode.OK


class LeaderLoad:
    """LeaderLoad writes a seeded mix of index, update and delete operations to a leader index.

    Runs in its own thread (with its own event loop and store connection), so
    that the test can watch replication while the leader takes writes.
    """

    def __init__(
        self,
        cluster: Cluster,
        index: str,
        *,
        operations: int,
        ids: int = 20_000,
        batch: int = 500,
        pause: float = 0.0,
        seed: int = 7,
    ) -> None:
        self.cluster = cluster
        self.index = index
        self.operations = operations
        self.ids = ids
        self.batch = batch
        self.pause = pause
        self.rng = random.Random(seed)
        self.written = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="leader-load", daemon=True)

    def start(self) -> LeaderLoad:
        self._thread.start()
        return self

    def join(self, timeout: float = 120.0) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "leader load did not finish"
        if self.error is not None:
            raise self.error

    def _main(self) -> None:
        try:
            asyncio.run(self._write())
        except BaseException as exc:  # noqa: BLE001 — re-raised by join
            self.error = exc

    def ops(self, n: int) -> list[IndexOp | DeleteOp]:
        out: list[IndexOp | DeleteOp] = []
        for _ in range(n):
            doc = f"doc-{self.rng.randrange(self.ids)}"
            if self.rng.random() < 0.2:
                out.append(DeleteOp(doc))
            else:
                out.append(
                    IndexOp(
                        doc,
                        {"n": self.rng.randrange(10**9), "body": "x" * self.rng.randrange(8, 200)},
                    )
                )
        return out

    async def _write(self) -> None:
        async with open_store(self.cluster.store_url) as store:
            while self.written < self.operations:
                n = min(self.batch, self.operations - self.written)
                await store.bulk(self.index, self.ops(n))
                self.written += n
                if self.pause:
                    await asyncio.sleep(self.pause)
