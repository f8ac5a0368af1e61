"""ferry.v1.LeaderReplication: a leader cluster's shards served to follower clusters.

Thin: requests are checked and translated in :mod:`leader_convert`, the
ReadOperations stream lives in :mod:`leader_stream`, lease renewal in
:mod:`leader_leases`. Every RPC reads the replicator's own index store.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from fnmatch import fnmatchcase

import grpc

from ferry.errors import FailedPrecondition, InvalidArgument, NotFound, OutOfRange, Unavailable
from ferry.store import HistoryTrimmed, IndexInfo, Snapshot, SnapshotDoc, Store
from ferry.store.model import DEFAULT_RETENTION
from ferry.store.proto import index_name, index_to_proto, schema_to_proto
from ferry.v1 import indices_pb2
from ferry.v1 import leader_replication_pb2 as pb
from ferry.v1 import leader_replication_pb2_grpc as pb_grpc
from services.replicator import leader_convert as convert
from services.replicator.leader_leases import renew_lease
from services.replicator.leader_stream import ReadStream

log = logging.getLogger(__name__)

Ctx = grpc.aio.ServicerContext

MAX_PATTERN_CHARS = 512
"""MAX_PATTERN_CHARS bounds ListIndices' glob: translating one takes time quadratic in its
"["s (the same bound as Indices.List)."""
SNAPSHOT_BATCH_DOCS = 500
"""SNAPSHOT_BATCH_DOCS is how many documents Bootstrap reads from the snapshot at a time."""


class NoIndexStore(FailedPrecondition):
    """NoIndexStore says this replicator was started without --store-url: it has no
    leader shards to serve."""

    def __init__(self) -> None:
        super().__init__(
            "no index store configured (--store-url): this replicator serves no leader shards",
            type="STORE",
            subject="store_url",
        )


def _check_shard(info: IndexInfo, shard: int, where: str) -> None:
    if shard >= info.spec.shards:
        raise InvalidArgument.field(
            where, f"index {info.spec.name!r} has shards 0 to {info.spec.shards - 1}, not {shard}"
        )


class LeaderReplicationServicer(pb_grpc.LeaderReplicationServicer):
    """LeaderReplicationServicer serves the leader side of replication from ``store``.

    ``store`` None means none configured: every RPC then fails with
    FAILED_PRECONDITION. ``lease_period`` is how long a lease lives after a
    ReadOperations stream or a Bootstrap renews it.
    """

    def __init__(self, store: Store | None, *, lease_period: timedelta = DEFAULT_RETENTION) -> None:
        self._configured = store
        self._lease_period = lease_period

    @property
    def _store(self) -> Store:
        if self._configured is None:
            raise NoIndexStore()
        return self._configured

    async def _shard(self, name: str, shard: int, where: str = "shard") -> IndexInfo:
        info = await self._store.get_index(name)
        _check_shard(info, shard, where)
        return info

    # Operations -------------------------------------------------------------------

    async def ReadOperations(
        self, request_iterator: AsyncIterator[pb.ReadOperationsRequest], context: Ctx
    ) -> AsyncIterator[pb.ReadOperationsResponse]:
        requests = aiter(request_iterator)
        first = await anext(requests, None)
        if first is None or first.WhichOneof("message") != "start":
            raise InvalidArgument.field("start", "the first message of a stream must be a start")
        start = convert.read_start(first.start)
        store = self._store
        info = await self._shard(start.leader_index, start.shard, "start.shard")
        stream = ReadStream(store, start, info, requests, lease_period=self._lease_period)
        async for response in stream.responses():
            yield response

    # Bootstrap ----------------------------------------------------------------------

    async def Bootstrap(
        self, request: pb.BootstrapRequest, context: Ctx
    ) -> AsyncIterator[pb.BootstrapResponse]:
        max_chunk_bytes = convert.bootstrap_request(request)
        store = self._store
        name, shard, lease_id = request.leader_index, request.shard, request.retention_lease_id
        await self._shard(name, shard)
        # Hold the history from what is still there before the snapshot opens, so that no
        # trim can take what follows the snapshot before the lease moves right after it.
        held = (await store.shard_seq_nos(name, shard)).min_retained_seq_no
        await self._place_lease(name, shard, lease_id, held, request.follower_index)
        async with store.snapshot(name, shard) as snap:
            await self._place_lease(name, shard, lease_id, snap.seq_no + 1, request.follower_index)
            log.info(
                "bootstrap started",
                extra={"index": name, "shard": shard, "snapshot_seq_no": snap.seq_no},
            )
            first, previous = True, None
            async for docs in _chunks(snap, max_chunk_bytes):
                if previous is not None:
                    yield await self._chunk(snap, name, shard, previous, first=first, last=False)
                    first = False
                previous = docs
            assert previous is not None, "_chunks yields at least one chunk"
            yield await self._chunk(snap, name, shard, previous, first=first, last=True)

    async def _place_lease(
        self, name: str, shard: int, lease_id: str, seq_no: int, source: str
    ) -> None:
        """_place_lease puts a Bootstrap's lease exactly at seq_no, lower or higher."""
        try:
            await self._store.put_retention_lease(
                name, shard, lease_id, seq_no, ttl=self._lease_period, source=source
            )
        except HistoryTrimmed as exc:
            # Only before the snapshot: a trim slipped in after min_retained_seq_no was read.
            raise Unavailable(f"bootstrap of {name}[{shard}]: {exc.message}; try again") from exc

    async def _chunk(
        self,
        snap: Snapshot,
        name: str,
        shard: int,
        docs: list[SnapshotDoc],
        *,
        first: bool,
        last: bool,
    ) -> pb.BootstrapResponse:
        stats = await self._store.shard_seq_nos(name, shard)
        chunk = pb.BootstrapResponse(
            snapshot_seq_no=snap.seq_no,
            documents=[convert.document_to_proto(d) for d in docs],
            last=last,
            leader_global_checkpoint=stats.global_checkpoint,
            leader_max_seq_no=stats.max_seq_no,
        )
        if first:
            chunk.schema.CopyFrom(schema_to_proto(snap.schema))
            chunk.total_documents = snap.docs
        return chunk

    # Retention leases -----------------------------------------------------------------

    async def PutRetentionLease(
        self, request: pb.PutRetentionLeaseRequest, context: Ctx
    ) -> indices_pb2.RetentionLease:
        period = convert.lease_request(request)
        name, shard = request.leader_index, request.shard
        await self._shard(name, shard)
        try:
            lease = await renew_lease(
                self._store,
                name,
                shard,
                request.lease_id,
                request.retaining_seq_no,
                ttl=period,
                source=request.source,
            )
        except HistoryTrimmed as exc:
            raise OutOfRange(
                f"retention lease {request.lease_id!r} on {name}[{shard}] asks for history from"
                f" seq_no {request.retaining_seq_no}, but it is trimmed below"
                f" {exc.min_retained_seq_no}: bootstrap the follower again"
            ) from exc
        return convert.lease_to_proto(lease, period)

    async def RemoveRetentionLease(
        self, request: pb.RemoveRetentionLeaseRequest, context: Ctx
    ) -> pb.RemoveRetentionLeaseResponse:
        convert.remove_request(request)
        await self._shard(request.leader_index, request.shard)
        await self._store.remove_retention_lease(
            request.leader_index, request.shard, request.lease_id
        )
        return pb.RemoveRetentionLeaseResponse()

    # Indices ------------------------------------------------------------------------------

    async def _index(self, info: IndexInfo) -> indices_pb2.Index:
        stats = await self._store.shard_stats(info.spec.name)
        return index_to_proto(info, sum(s.docs for s in stats))

    async def GetIndex(self, request: pb.GetLeaderIndexRequest, context: Ctx) -> indices_pb2.Index:
        name = index_name(request.name, "name")
        return await self._index(await self._store.get_index(name))

    async def ListIndices(
        self, request: pb.ListLeaderIndicesRequest, context: Ctx
    ) -> pb.ListLeaderIndicesResponse:
        if len(request.pattern) > MAX_PATTERN_CHARS:
            raise InvalidArgument.field(
                "pattern", f"must be at most {MAX_PATTERN_CHARS} characters"
            )
        pattern = request.pattern or "*"
        response = pb.ListLeaderIndicesResponse()
        for info in await self._store.list_indices():
            if not fnmatchcase(info.spec.name, pattern):
                continue
            try:
                response.indices.append(await self._index(info))
            except NotFound:
                continue  # deleted since it was listed
        return response


async def _chunks(snap: Snapshot, max_bytes: int) -> AsyncIterator[list[SnapshotDoc]]:
    """_chunks groups a snapshot's documents into chunks of at most max_bytes (at least one
    document each); an empty snapshot is one empty chunk."""
    chunk: list[SnapshotDoc] = []
    size = 0
    async for batch in snap.batches(SNAPSHOT_BATCH_DOCS):
        for doc in batch:
            cost = doc.size()
            if chunk and size + cost > max_bytes:
                yield chunk
                chunk, size = [], 0
            chunk.append(doc)
            size += cost
    yield chunk
