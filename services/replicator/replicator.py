"""The replicator process: follows leader shards, serves its own shards to followers."""

from __future__ import annotations

import logging
from datetime import timedelta

import grpc

from ferry.config import ReplicatorConfig
from ferry.etcd import Session
from ferry.member import encode_info, now_timestamp
from ferry.process import MemberProcess, Registration
from ferry.v1 import (
    common_pb2,
    leader_replication_pb2,
    leader_replication_pb2_grpc,
    replication_pb2,
    replicator_pb2,
    replicator_pb2_grpc,
)
from ferry.version import VERSION
from services.replicator.follower import ShardContext
from services.replicator.leader import LeaderReplicationServicer
from services.replicator.shards import ShardTasks
from services.replicator.trimmer import HistoryTrimmer

log = logging.getLogger(__name__)


class ReplicatorServicer(replicator_pb2_grpc.ReplicatorServicer):
    """ReplicatorServicer answers about this replicator."""

    def __init__(self, replicator: Replicator) -> None:
        self._replicator = replicator

    async def Status(
        self, request: replicator_pb2.ReplicatorStatusRequest, context: grpc.aio.ServicerContext
    ) -> replicator_pb2.ReplicatorStatus:
        return self._replicator.status()

    async def ShardStats(
        self, request: replicator_pb2.ShardStatsRequest, context: grpc.aio.ServicerContext
    ) -> replicator_pb2.ShardStatsResponse:
        shards = self._replicator.shard_stats(set(request.follower_indices))
        return replicator_pb2.ShardStatsResponse(shards=shards)


class Replicator(MemberProcess):
    """Replicator serves its cluster's leader shards to followers (LeaderReplication) and
    runs the follower shard tasks it claims (see services/replicator/shards.py)."""

    role = "replicator"

    def __init__(self, config: ReplicatorConfig) -> None:
        self.replicator_config = config
        self.started = now_timestamp()
        self.shard_tasks: ShardTasks | None = None
        super().__init__(config)
        self.trimmer = (
            HistoryTrimmer(self.store, interval=config.history_trim_interval)
            if self.store is not None
            else None
        )

    def info(self, session: Session | None) -> common_pb2.ReplicatorInfo:
        return common_pb2.ReplicatorInfo(
            id=self.id,
            address=self.address,
            start_time=self.started,
            version=VERSION,
            lease_id=session.lease_id if session else 0,
        )

    def registration(self, session: Session) -> bytes:
        return encode_info(self.info(session))

    def status(self) -> replicator_pb2.ReplicatorStatus:
        status = replicator_pb2.ReplicatorStatus(
            info=self.info(self.membership.session), session_alive=self.membership.alive
        )
        for stats in self.shard_stats(set()):
            status.shard_tasks.add(
                follower_index=stats.follower_index,
                shard=stats.shard,
                fencing_token=stats.fencing_token,
                follower_global_checkpoint=stats.follower_global_checkpoint,
            )
        return status

    def shard_stats(self, indices: set[str]) -> list[replication_pb2.ShardFollowStats]:
        """shard_stats are the live stats of the follower shard tasks held here."""
        return self.shard_tasks.shard_stats(indices) if self.shard_tasks is not None else []

    def servicers(self) -> list[Registration]:
        leader = leader_replication_pb2.DESCRIPTOR.services_by_name["LeaderReplication"]
        lease_period = timedelta(seconds=self.replicator_config.retention_lease_period)
        return [
            (
                replicator_pb2_grpc.add_ReplicatorServicer_to_server,
                ReplicatorServicer(self),
                replicator_pb2.DESCRIPTOR.services_by_name["Replicator"].full_name,
            ),
            (
                leader_replication_pb2_grpc.add_LeaderReplicationServicer_to_server,
                LeaderReplicationServicer(self.store, lease_period=lease_period),
                leader.full_name,
            ),
        ]

    async def on_session_lost(self, session: Session) -> None:
        """on_session_lost stops every shard task at once, writing nothing (self-fencing)."""
        await super().on_session_lost(session)
        if self.shard_tasks is not None:
            self.shard_tasks.cancel_all()

    # Lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        await super().start()
        if self.trimmer is None:
            log.warning("no --store-url: this replicator serves and follows no shards")
            return
        await self.trimmer.start()
        assert self.store is not None
        context = ShardContext(
            self.client, self.keys, self.store, self.id, self.security.remote_tls
        )
        self.shard_tasks = ShardTasks(context, self.membership)
        self.shard_tasks.start()

    async def stop(self) -> None:
        """stop ends the shard tasks first, releasing their claims so a peer takes them."""
        if self.shard_tasks is not None:
            await self.shard_tasks.stop()
        if self.trimmer is not None:
            await self.trimmer.stop()
        await super().stop()


async def serve(config: ReplicatorConfig) -> None:
    """serve runs a replicator until SIGTERM/SIGINT."""
    await Replicator(config).serve()
