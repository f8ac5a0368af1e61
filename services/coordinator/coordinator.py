"""The coordinator process: every replica serves the whole API; one leads.

Shutdown order (SIGTERM): report NOT_SERVING, let in-flight RPCs finish
within the grace period, close the index store, stop leading, deregister
(revoking the lease so a successor is elected at once), close etcd.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ferry import etcd, logs, telemetry
from ferry.config import CoordinatorConfig
from ferry.connectors import Registry, load_registry
from ferry.etcd import Keys
from ferry.member import Membership, encode_info, now_timestamp
from ferry.metrics import MetricsServer
from ferry.process import start_store
from ferry.security import Security, etcd_tls
from ferry.server import GrpcServer, HealthMonitor, ReadOnlyInterceptor, run_service
from ferry.store import Store, open_store
from ferry.v1 import (
    agents_pb2,
    agents_pb2_grpc,
    cluster_pb2,
    cluster_pb2_grpc,
    common_pb2,
    connectors_pb2,
    connectors_pb2_grpc,
    indices_pb2,
    indices_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
    replication_pb2,
    replication_pb2_grpc,
)
from ferry.version import VERSION
from services.coordinator.auto_follow import AutoFollowPatterns, auto_follow_loop
from services.coordinator.cluster import ClusterView
from services.coordinator.cluster_servicer import AgentsServicer, ClusterServicer
from services.coordinator.connectors import ConnectorStore
from services.coordinator.connectors_servicer import ConnectorsServicer
from services.coordinator.declarative import DeclarativeConnectors
from services.coordinator.follow_stats import FollowStats
from services.coordinator.followers import Followers
from services.coordinator.indices_servicer import IndicesServicer
from services.coordinator.jobs import JobService
from services.coordinator.jobs_servicer import JobsServicer
from services.coordinator.leader import LeaderRole
from services.coordinator.remotes import RemoteClusters
from services.coordinator.replication_servicer import ReplicationServicer
from services.coordinator.scheduler import scheduler_loop
from services.coordinator.types import publish_types_loop

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 32 * 1024 * 1024
"""MAX_REQUEST_BYTES lets an Indices.Bulk carry a document past the store's 10 MiB limit,
so that the store refuses it naming its operation and id; at gRPC's default of 4 MiB the
transport would cut it off first with a bare RESOURCE_EXHAUSTED."""


class Coordinator:
    """Coordinator wires one replica: API servicers, membership, leader role, health."""

    def __init__(self, config: CoordinatorConfig, *, registry: Registry | None = None) -> None:
        self.config = config
        self.id = config.member_id("coordinator")
        self.keys = Keys(config.etcd_prefix)
        self.registry = registry or load_registry()
        self.security = Security.from_config(config)
        self.client = etcd.connect(config.etcd_endpoints, tls=etcd_tls(config))
        self.store = ConnectorStore(self.client, self.keys, self.registry)
        self.jobs = JobService(self.client, self.keys, self.store)
        # Built (not opened) here so that a bad URL fails before anything starts.
        self.index_store: Store | None = open_store(config.store_url) if config.store_url else None
        self.view = ClusterView(self.client, self.keys, etcd.parse_endpoints(config.etcd_endpoints))
        self.remotes = RemoteClusters(self.client, self.keys, tls=self.security.remote_tls)
        self.followers = Followers(self.client, self.keys, self.remotes, self.index_store)
        self.patterns = AutoFollowPatterns(self.client, self.keys)
        self.declarative = (
            DeclarativeConnectors(self.store, self.registry, config.connectors_file)
            if config.connectors_file
            else None
        )
        interceptors = [ReadOnlyInterceptor()] if config.read_only else []
        self.server = GrpcServer(
            config.listen,
            interceptors=interceptors,
            max_request_bytes=MAX_REQUEST_BYTES,
            security=self.security,
            health_listen=config.health_listen,
        )
        self._add_servicers()
        self.info = common_pb2.CoordinatorInfo(
            id=self.id, start_time=now_timestamp(), version=VERSION
        )
        self.membership = Membership(
            self.client,
            self.keys.coordinator(self.id),
            lambda _session: encode_info(self.info),
            ttl=config.lease_ttl,
        )
        self.leader = LeaderRole(
            self.client,
            self.keys,
            self.membership,
            candidate=lambda: encode_info(self.info),
            loops=[
                publish_types_loop(self.registry),
                scheduler_loop(self.registry),
                auto_follow_loop(
                    self.patterns,
                    self.remotes,
                    self.followers,
                    interval=config.auto_follow_interval,
                ),
            ],
        )
        self.health = HealthMonitor(self.server, self.membership.health_reason)
        self.metrics = MetricsServer(config.metrics_listen)

    def _add_servicers(self) -> None:
        s = self.server
        s.add(
            connectors_pb2_grpc.add_ConnectorsServicer_to_server,
            ConnectorsServicer(self.store, self.registry, self.jobs),
            connectors_pb2.DESCRIPTOR.services_by_name["Connectors"].full_name,
        )
        s.add(
            cluster_pb2_grpc.add_ClusterServicer_to_server,
            ClusterServicer(self.view, self.jobs, self.id, lambda: self.config.read_only),
            cluster_pb2.DESCRIPTOR.services_by_name["Cluster"].full_name,
        )
        s.add(
            agents_pb2_grpc.add_AgentsServicer_to_server,
            AgentsServicer(self.view, self.jobs),
            agents_pb2.DESCRIPTOR.services_by_name["Agents"].full_name,
        )
        s.add(
            indices_pb2_grpc.add_IndicesServicer_to_server,
            IndicesServicer(self.index_store),
            indices_pb2.DESCRIPTOR.services_by_name["Indices"].full_name,
        )
        s.add(
            jobs_pb2_grpc.add_JobsServicer_to_server,
            JobsServicer(self.jobs),
            jobs_pb2.DESCRIPTOR.services_by_name["Jobs"].full_name,
        )
        s.add(
            replication_pb2_grpc.add_ReplicationServicer_to_server,
            ReplicationServicer(
                self.followers,
                FollowStats(self.client, self.keys, self.followers, self.security),
                self.patterns,
                self.remotes,
            ),
            replication_pb2.DESCRIPTOR.services_by_name["Replication"].full_name,
        )

    async def start(self) -> None:
        """start opens the index store, serves the API, applies the connectors file,
        registers and campaigns."""
        await self.metrics.start()
        if self.index_store is not None:
            await start_store(self.index_store, self.config.store_url)
        await self.server.start()
        self.info.address = self.config.advertise or self.server.address
        if self.declarative is not None:
            await self._apply_file_at_start()
        await self.membership.start()
        await self.leader.start()
        await self.health.start()
        log.info(
            "coordinator serving",
            extra={"address": self.info.address, "id": self.id, "read_only": self.config.read_only},
        )

    async def _apply_file_at_start(self, within: float = 30.0) -> None:
        assert self.declarative is not None
        # A bad file fails start-up at once, naming the field.
        await asyncio.to_thread(self.declarative.load)
        deadline = time.monotonic() + within
        while True:
            try:
                await self.declarative.apply()
                return
            except etcd.CONNECTIVITY_ERRORS:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def reload(self) -> None:
        """reload re-applies the connectors file (SIGHUP); a bad file changes nothing."""
        if self.declarative is None:
            log.info("SIGHUP ignored: no connectors file")
            return
        try:
            await self.declarative.apply()
        except Exception as exc:  # noqa: BLE001 — keep serving the last good state
            log.error("connectors file not applied", extra={"error": str(exc)})

    async def stop(self) -> None:
        """stop shuts down in the documented order; idempotent."""
        await self.health.stop()
        await self.server.stop(self.config.grace_period)
        if self.index_store is not None:
            await self.index_store.stop()
        await self.leader.stop()
        await self.membership.stop()
        await self.client.close()
        await self.metrics.stop()

    async def __aenter__(self) -> Coordinator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


async def serve(config: CoordinatorConfig) -> None:
    """serve runs a coordinator until SIGTERM/SIGINT."""
    coordinator = Coordinator(config)
    logs.configure("coordinator", coordinator.id, config.log_level)
    telemetry.setup_tracing("coordinator")

    async def main(stop: asyncio.Event) -> None:
        try:
            await coordinator.start()
            await stop.wait()
        finally:
            await coordinator.stop()

    await run_service(main, on_reload=coordinator.reload)
