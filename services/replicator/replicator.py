"""The replicator process: follows leader shards, serves its own shards to followers."""

from __future__ import annotations

import logging
from datetime import timedelta

import grpc

from ferry.config import ReplicatorConfig
from ferry.errors import FerryError, Unavailable
from ferry.etcd import Session
from ferry.member import encode_info, now_timestamp
from ferry.process import MemberProcess, Registration
from ferry.store import Store, open_store
from ferry.v1 import (
    common_pb2,
    leader_replication_pb2,
    leader_replication_pb2_grpc,
    replicator_pb2,
    replicator_pb2_grpc,
)
from ferry.version import VERSION
from services.replicator.leader import LeaderReplicationServicer
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


class Replicator(MemberProcess):
    """Replicator registers under its session lease; shard tasks arrive with replication."""

    role = "replicator"

    def __init__(self, config: ReplicatorConfig) -> None:
        self.replicator_config = config
        self.started = now_timestamp()
        # Built (not opened) here so that a bad URL fails before anything starts.
        self.store: Store | None = open_store(config.store_url) if config.store_url else None
        self.trimmer = (
            HistoryTrimmer(self.store, interval=config.history_trim_interval)
            if self.store is not None
            else None
        )
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

    # Lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        if self.store is not None:
            try:
                await self.store.start()
            except FerryError:
                raise
            except Exception as exc:  # any driver's error, re-raised in Ferry's vocabulary
                raise Unavailable(f"store_url: cannot open the index store: {exc}") from exc
        await super().start()
        if self.trimmer is None:
            log.warning("no --store-url: this replicator serves no leader shards")
            return
        await self.trimmer.start()

    async def stop(self) -> None:
        if self.trimmer is not None:
            await self.trimmer.stop()
        await super().stop()
        if self.store is not None:
            await self.store.stop()


async def serve(config: ReplicatorConfig) -> None:
    """serve runs a replicator until SIGTERM/SIGINT."""
    await Replicator(config).serve()
