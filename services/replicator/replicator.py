"""The replicator process: follows leader shards, serves its own shards to followers."""

from __future__ import annotations

import grpc

from ferry.config import ReplicatorConfig
from ferry.etcd import Session
from ferry.member import encode_info, now_timestamp
from ferry.process import MemberProcess, Registration
from ferry.unimplemented import unimplemented_servicer
from ferry.v1 import (
    common_pb2,
    leader_replication_pb2,
    leader_replication_pb2_grpc,
    replicator_pb2,
    replicator_pb2_grpc,
)
from ferry.version import VERSION


class ReplicatorServicer(replicator_pb2_grpc.ReplicatorServicer):
    """ReplicatorServicer answers about this replicator."""

    def __init__(self, replicator: Replicator) -> None:
        self._replicator = replicator

    async def Status(
        self, request: replicator_pb2.ReplicatorStatusRequest, context: grpc.aio.ServicerContext
    ) -> replicator_pb2.ReplicatorStatus:
        return self._replicator.status()


class Replicator(MemberProcess):
    """Replicator registers under its session lease; shard tasks arrive with replication."""

    role = "replicator"

    def __init__(self, config: ReplicatorConfig) -> None:
        self.started = now_timestamp()
        super().__init__(config)

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
        return replicator_pb2.ReplicatorStatus(
            info=self.info(self.membership.session), session_alive=self.membership.alive
        )

    def servicers(self) -> list[Registration]:
        leader = leader_replication_pb2.DESCRIPTOR.services_by_name["LeaderReplication"]
        return [
            (
                replicator_pb2_grpc.add_ReplicatorServicer_to_server,
                ReplicatorServicer(self),
                replicator_pb2.DESCRIPTOR.services_by_name["Replicator"].full_name,
            ),
            (
                leader_replication_pb2_grpc.add_LeaderReplicationServicer_to_server,
                unimplemented_servicer(
                    leader_replication_pb2_grpc.LeaderReplicationServicer, leader, "replication"
                ),
                leader.full_name,
            ),
        ]


async def serve(config: ReplicatorConfig) -> None:
    """serve runs a replicator until SIGTERM/SIGINT."""
    await Replicator(config).serve()
