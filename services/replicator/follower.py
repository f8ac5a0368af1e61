"""ShardFollower: one follower shard task, from bootstrap to following the leader's history.

A replicator of the follower cluster runs one ShardFollower per follower
shard it has claimed. The task

1. asks the leader cluster for the leader index; a new follower shard (or
   one whose leader index was created again, or whose last bootstrap was cut
   short) copies a consistent snapshot first (**bootstrap**);
2. opens ``LeaderReplication.ReadOperations`` from its checkpoint + 1 and
   grants the leader **credit** — operations and bytes, one read's worth at
   a time, at most ``max_outstanding_read_requests`` reads ahead — but never
   more than the write buffer has room for, so a slow follower store stops the
   leader instead of filling memory (back-pressure);
3. applies buffered operations to the follower store in batches, up to
   ``max_outstanding_write_requests`` at once, every write fenced by the
   claim's token; the store moves the follower checkpoint in the same
   transaction, so a new owner resumes exactly where this one stopped;
4. on ``history_trimmed`` bootstraps again by itself and says why.

Errors are classified as in SPEC §7.5: unavailable, deadline and resource
exhaustion (and a store that is briefly unavailable) are retried with
jittered exponential backoff capped by ``max_retry_delay``; a deleted leader
index, a bad request or a schema conflict are fatal: the task records the
exception and pauses the follower. Losing the claim (Fenced) ends the task
without writing anything more.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import aetcd
import grpc
from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

from ferry.errors import Fenced, FerryError
from ferry.etcd import Keys
from ferry.etcd.claim import Claim
from ferry.replication.params import FollowParams, effective
from ferry.replication.records import FollowerRecord, ShardRecord, fence_scope
from ferry.replication.remote import RemoteLeader
from ferry.security import ClientTls
from ferry.store import Fence, Operation, SnapshotDoc, Store
from ferry.store.model import NO_OPS, OpKind
from ferry.store.proto import schema_from_proto
from ferry.tasks import backoff, raise_if_cancelling
from ferry.v1 import indices_pb2, leader_replication_pb2
from ferry.v1 import replication_pb2 as pb

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

BACKOFF_BASE = 0.05
"""BACKOFF_BASE is the first retry's upper bound; each retry doubles it up to max_retry_delay."""
PAUSE_ATTEMPTS = 5
"""PAUSE_ATTEMPTS bounds how often a fatal error's pause is tried against concurrent writes."""
CHUNK_BYTES = 1024 * 1024
"""CHUNK_BYTES bounds a bootstrap chunk and a read message (the proto's defaults)."""
FATAL_CODES = frozenset(
    {
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)
"""FATAL_CODES from the leader pause the follower; every other status is retried."""


class FatalReplicationError(FerryError):
    """FatalReplicationError stops a follower until a person resumes it (SPEC §7.5)."""


class HistoryGone(Exception):
    """HistoryGone says the leader trimmed history this shard needs: bootstrap again."""

    def __init__(self, needed: int, min_retained: int) -> None:
        super().__init__(f"history trimmed below seq_no {min_retained} (needed {needed})")
        self.needed = needed
        self.min_retained = min_retained


def to_operation(shard: int, op: leader_replication_pb2.Operation) -> Operation:
    """to_operation is a replicated operation in the store's vocabulary."""
    delete = op.type == leader_replication_pb2.OPERATION_TYPE_DELETE
    return Operation(
        shard=shard,
        seq_no=op.seq_no,
        kind=OpKind.DELETE if delete else OpKind.INDEX,
        id=op.doc_id,
        source=None if delete else bytes(op.source),
        write_time=op.write_time.ToNanoseconds() / 1e9,
    )


def classify(exc: BaseException) -> str:
    """classify says what an error means for a shard task: "fenced", "fatal" or "retry".

    A leader's status is fatal when in FATAL_CODES; Ferry's own errors say whether they
    are retriable (a schema conflict, a bad schema or FatalReplicationError are not);
    anything else (connections, timeouts) is retried.
    """
    if isinstance(exc, Fenced):
        return "fenced"
    if isinstance(exc, grpc.aio.AioRpcError):
        return "fatal" if exc.code() in FATAL_CODES else "retry"
    if isinstance(exc, FerryError):
        return "retry" if exc.retriable else "fatal"
    return "retry"


def describe(exc: BaseException) -> str:
    """describe is an error as stats and logs show it."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return f"{type(exc).__name__}: {exc}"


@dataclass
class ShardContext:
    """ShardContext is what every shard task of one replicator shares."""

    client: aetcd.Client
    keys: Keys
    store: Store
    replicator_id: str
    remote_tls: ClientTls | None = None
    """This process's CA and certificate, used towards remotes whose ``tls`` is set."""


@dataclass
class Counters:
    """Counters are a shard task's CCR-style stats, kept across its stream restarts."""

    leader_global_checkpoint: int = NO_OPS
    leader_max_seq_no: int = NO_OPS
    follower_global_checkpoint: int = NO_OPS
    follower_max_seq_no: int = NO_OPS
    last_requested_seq_no: int = NO_OPS
    follower_schema_version: int = 0
    total_read_time: float = 0.0
    successful_read_requests: int = 0
    failed_read_requests: int = 0
    operations_read: int = 0
    bytes_read: int = 0
    total_write_time: float = 0.0
    successful_write_requests: int = 0
    failed_write_requests: int = 0
    operations_written: int = 0
    last_read: float = 0.0
    read_exceptions: dict[int, tuple[int, str]] = field(default_factory=dict)


class ShardFollower:
    """ShardFollower replicates one leader shard into the follower shard it has claimed."""

    def __init__(
        self,
        ctx: ShardContext,
        record: FollowerRecord,
        shard: int,
        claim: Claim,
        remote: RemoteLeader,
    ) -> None:
        self.ctx = ctx
        self.record = record
        self.shard = shard
        self.claim = claim
        self.remote = remote
        self.params: FollowParams = effective(record.follower.parameters)
        self.index = record.follower.follower_index
        self.leader_index = record.follower.leader_index
        self.fence = Fence(scope=fence_scope(self.index, shard), token=claim.token)
        self.state = pb.SHARD_FOLLOW_STATE_FOLLOWING
        self.counters = Counters()
        self.shard_record = ShardRecord()
        self.shard_record_revision = 0
        # The stream's live state, reset on every stream.
        self.buffer: collections.deque[Operation] = collections.deque()
        self.buffer_bytes = 0
        self.unapplied: collections.deque[tuple[int, float]] = collections.deque()
        """unapplied is (seq_no, write_time) of every op received and not yet applied."""
        self.credit_ops = 0
        self.credit_bytes = 0
        self.writing = 0
        self.retries = 0
        self.span_attributes: dict[str, AttributeValue] = {
            "ferry.index": self.index,
            "ferry.shard": shard,
            "ferry.leader_index": self.leader_index,
        }
        """span_attributes name the shard on each of its spans (one span per read message,
        applied batch and bootstrap)."""

    # Stats ---------------------------------------------------------------------------

    def stats(self) -> pb.ShardFollowStats:
        """stats is this shard task's ShardFollowStats right now."""
        c = self.counters
        now = time.time()
        read_size = self.params.max_read_request_operation_count
        lag_ms = int((now - self.unapplied[0][1]) * 1000) if self.unapplied else 0
        stats = pb.ShardFollowStats(
            remote_cluster=self.record.follower.remote_cluster,
            leader_index=self.leader_index,
            follower_index=self.index,
            shard=self.shard,
            state=self.state,
            leader_global_checkpoint=c.leader_global_checkpoint,
            leader_max_seq_no=c.leader_max_seq_no,
            follower_global_checkpoint=c.follower_global_checkpoint,
            follower_max_seq_no=c.follower_max_seq_no,
            last_requested_seq_no=c.last_requested_seq_no,
            outstanding_read_requests=math.ceil(max(self.credit_ops, 0) / read_size),
            outstanding_write_requests=self.writing,
            write_buffer_operation_count=len(self.buffer),
            write_buffer_size_in_bytes=self.buffer_bytes,
            outstanding_credit_operations=self.credit_ops,
            outstanding_credit_bytes=self.credit_bytes,
            follower_schema_version=c.follower_schema_version,
            total_read_time_millis=int(c.total_read_time * 1000),
            successful_read_requests=c.successful_read_requests,
            failed_read_requests=c.failed_read_requests,
            operations_read=c.operations_read,
            bytes_read=c.bytes_read,
            total_write_time_millis=int(c.total_write_time * 1000),
            successful_write_requests=c.successful_write_requests,
            failed_write_requests=c.failed_write_requests,
            operations_written=c.operations_written,
            time_since_last_read_millis=int((now - c.last_read) * 1000) if c.last_read else 0,
            fatal_exception=self.shard_record.fatal_exception,
            lag_operations=max(c.leader_max_seq_no - c.follower_global_checkpoint, 0),
            lag_millis=max(lag_ms, 0),
            bootstraps=self.shard_record.bootstraps,
            last_bootstrap_reason=self.shard_record.last_bootstrap_reason,
            replicator_id=self.ctx.replicator_id,
        )
        for from_seq_no, (retries, text) in sorted(c.read_exceptions.items()):
            stats.read_exceptions.add(from_seq_no=from_seq_no, retries=retries, exception=text)
        if self.shard_record.last_bootstrap_time:
            stats.last_bootstrap_time.FromNanoseconds(
                int(self.shard_record.last_bootstrap_time * 1e9)
            )
        stats.fencing_token.scope = self.fence.scope
        stats.fencing_token.token = self.claim.token
        return stats

    # The task ------------------------------------------------------------------------

    async def run(self) -> None:
        """run replicates until cancelled, fenced, or stopped by a fatal error."""
        await self._load_shard_record()
        r = self.shard_record
        if r.bootstraps == 0 or r.bootstrap_pending:
            self.state = pb.SHARD_FOLLOW_STATE_BOOTSTRAPPING
        await self._read_follower_checkpoint()
        log.info(
            "following shard",
            extra={"index": self.index, "shard": self.shard, "token": self.claim.token},
        )
        while True:
            try:
                reason, leader_created = await self._bootstrap_reason()
                if reason:
                    attributes = {**self.span_attributes, "ferry.reason": reason}
                    with tracer.start_as_current_span(
                        "replication.bootstrap", attributes=attributes
                    ):
                        await self._bootstrap(reason, leader_created)
                await self._follow()
            except asyncio.CancelledError:
                raise
            except HistoryGone as gone:
                self.shard_record.bootstrap_pending = str(gone)
                await self._save_shard_record()
            except Exception as exc:  # noqa: BLE001 — classified just below
                # A cancel that came out of a leader call or the store as another error
                # is still a cancel: retrying would keep the claim ShardTasks is releasing.
                raise_if_cancelling()
                verdict = classify(exc)
                if verdict == "fenced":
                    log.warning(
                        "shard task fenced: another replicator owns it",
                        extra={"index": self.index, "shard": self.shard, "error": str(exc)},
                    )
                    return
                if verdict == "fatal":
                    await self._pause_fatal(exc)
                    return
                await self._backoff(exc)

    async def _backoff(self, exc: BaseException) -> None:
        self.retries += 1
        c = self.counters
        c.failed_read_requests += 1
        from_seq_no = c.follower_global_checkpoint + 1
        retries, _ = c.read_exceptions.get(from_seq_no, (0, ""))
        c.read_exceptions = {from_seq_no: (retries + 1, describe(exc))}
        delay = backoff(min(self.retries, 20), BACKOFF_BASE, self.params.max_retry_delay)
        log.warning(
            "replication read failed; retrying",
            extra={
                "index": self.index,
                "shard": self.shard,
                "error": describe(exc),
                "retry_in_s": round(delay, 3),
                "retries": self.retries,
            },
        )
        await asyncio.sleep(delay)

    def _succeeded(self) -> None:
        self.retries = 0
        self.counters.read_exceptions.clear()

    # Bootstrap -----------------------------------------------------------------------

    async def _bootstrap_reason(self) -> tuple[str, float]:
        """_bootstrap_reason says why this shard must copy a snapshot now ("" if it need
        not), with the leader index's creation time (its identity)."""
        leader: indices_pb2.Index = await self.remote.call(
            "GetIndex", leader_replication_pb2.GetLeaderIndexRequest(name=self.leader_index)
        )
        if leader.shard_count != self.record.shards:
            raise FatalReplicationError(
                f"leader index {self.leader_index!r} has {leader.shard_count} shards;"
                f" the follower has {self.record.shards}"
            )
        created = leader.create_time.ToNanoseconds() / 1e9
        if self.shard_record.bootstraps == 0:
            reason = "new follower"
        elif self.shard_record.leader_created and created != self.shard_record.leader_created:
            reason = "leader index was created again"
        else:
            reason = self.shard_record.bootstrap_pending
        return reason, created

    async def _bootstrap(self, reason: str, leader_created: float) -> None:
        """_bootstrap copies a consistent snapshot of the leader shard into this shard."""
        self.state = pb.SHARD_FOLLOW_STATE_BOOTSTRAPPING
        log.info(
            "bootstrapping follower shard",
            extra={"index": self.index, "shard": self.shard, "reason": reason},
        )
        self.shard_record.bootstrap_pending = reason
        await self._save_shard_record()
        store, c = self.ctx.store, self.counters
        await store.begin_bootstrap(self.index, self.shard, fence=self.fence)
        request = leader_replication_pb2.BootstrapRequest(
            leader_index=self.leader_index,
            shard=self.shard,
            follower_index=self.index,
            retention_lease_id=self.record.lease_id,
            max_chunk_bytes=CHUNK_BYTES,
        )
        snapshot_seq_no = NO_OPS
        finished = False
        started = time.monotonic()
        chunks = cast(
            grpc.aio.UnaryStreamCall,
            self.remote.stub().Bootstrap(request, metadata=await self.remote.resolve_metadata()),
        )
        async for chunk in chunks:
            c.last_read = time.time()
            snapshot_seq_no = chunk.snapshot_seq_no
            c.leader_global_checkpoint = chunk.leader_global_checkpoint
            c.leader_max_seq_no = chunk.leader_max_seq_no
            if chunk.HasField("schema"):
                await self._apply_schema(chunk.schema)
            docs = [
                SnapshotDoc(
                    id=d.doc_id,
                    source=bytes(d.source),
                    seq_no=d.seq_no,
                    write_time=d.write_time.ToNanoseconds() / 1e9,
                )
                for d in chunk.documents
            ]
            if docs:
                await store.apply_snapshot(self.index, self.shard, docs, fence=self.fence)
                c.operations_read += len(docs)
                c.bytes_read += sum(d.size() for d in docs)
            if chunk.last:
                finished = True
                break
        if not finished:
            raise ConnectionError("bootstrap stream ended before its last chunk")
        await store.finish_bootstrap(self.index, self.shard, snapshot_seq_no, fence=self.fence)
        c.total_read_time += time.monotonic() - started
        c.follower_global_checkpoint = c.follower_max_seq_no = snapshot_seq_no
        r = self.shard_record
        r.bootstraps += 1
        r.last_bootstrap_time = time.time()
        r.last_bootstrap_reason = reason
        r.leader_created = leader_created
        r.bootstrap_pending = ""
        await self._save_shard_record()
        self._succeeded()
        trace.get_current_span().set_attributes(
            {"ferry.snapshot_seq_no": snapshot_seq_no, "ferry.bootstraps": r.bootstraps}
        )
        log.info(
            "bootstrapped follower shard",
            extra={
                "index": self.index,
                "shard": self.shard,
                "reason": reason,
                "snapshot_seq_no": snapshot_seq_no,
                "bootstraps": r.bootstraps,
            },
        )

    async def _apply_schema(self, message: indices_pb2.IndexSchema) -> None:
        """_apply_schema installs a newer leader schema before the operations that need it."""
        schema = schema_from_proto(message, "schema")
        if schema.version <= self.counters.follower_schema_version:
            return
        info = await self.ctx.store.get_index(self.index)
        if schema.version > info.spec.schema.version:
            await self.ctx.store.update_schema(self.index, schema)
            log.info(
                "follower schema updated",
                extra={"index": self.index, "schema_version": schema.version},
            )
        self.counters.follower_schema_version = max(schema.version, info.spec.schema.version)

    # Following -----------------------------------------------------------------------

    async def _follow(self) -> None:
        """_follow streams operations above the checkpoint until the stream ends."""
        await self._read_follower_checkpoint()
        self.state = pb.SHARD_FOLLOW_STATE_FOLLOWING
        self.buffer.clear()
        self.buffer_bytes = 0
        self.unapplied.clear()
        self.credit_ops = self.credit_bytes = 0
        c = self.counters
        from_seq_no = c.follower_global_checkpoint + 1
        c.last_requested_seq_no = c.follower_global_checkpoint
        # grpc's generated stubs are typed for the synchronous API: this is an aio call.
        call = cast(
            grpc.aio.StreamStreamCall,
            self.remote.stub().ReadOperations(metadata=await self.remote.resolve_metadata()),  # type: ignore[call-arg]
        )
        stream = _Stream(self, call)
        start = leader_replication_pb2.ReadStart(
            leader_index=self.leader_index,
            shard=self.shard,
            follower_index=self.index,
            from_seq_no=from_seq_no,
            retention_lease_id=self.record.lease_id,
            schema_version=c.follower_schema_version,
            max_message_bytes=CHUNK_BYTES,
        )
        start.read_poll_timeout.FromNanoseconds(int(self.params.read_poll_timeout * 1e9))
        try:
            await call.write(leader_replication_pb2.ReadOperationsRequest(start=start))
            await stream.run()
        finally:
            call.cancel()

    async def _read_follower_checkpoint(self) -> None:
        stats = await self.ctx.store.shard_seq_nos(self.index, self.shard)
        c = self.counters
        c.follower_global_checkpoint = stats.global_checkpoint
        c.follower_max_seq_no = stats.max_seq_no
        if not c.follower_schema_version:
            info = await self.ctx.store.get_index(self.index)
            c.follower_schema_version = info.spec.schema.version

    # etcd records --------------------------------------------------------------------

    async def _load_shard_record(self) -> None:
        got = await self.ctx.client.get(self.ctx.keys.follow_shard(self.index, self.shard).encode())
        self.shard_record = ShardRecord.decode(got.value if got else None)

    async def _save_shard_record(self) -> None:
        """_save_shard_record writes the shard record while this task holds the claim."""
        key = self.ctx.keys.follow_shard(self.index, self.shard).encode()
        tx = self.ctx.client.transactions
        await self.claim.guarded(self.ctx.client, [tx.put(key, self.shard_record.encode())])

    async def _pause_fatal(self, exc: BaseException) -> None:
        """_pause_fatal records a fatal exception and pauses the whole follower (CCR does)."""
        text = describe(exc)
        self.shard_record.fatal_exception = text
        self.state = pb.SHARD_FOLLOW_STATE_PAUSED
        log.error(
            "replication stopped by a fatal error; the follower is paused",
            extra={"index": self.index, "shard": self.shard, "error": text},
        )
        client, keys = self.ctx.client, self.ctx.keys
        tx = client.transactions
        follower_key = keys.follower(self.index).encode()
        shard_key = keys.follow_shard(self.index, self.shard).encode()
        for _ in range(PAUSE_ATTEMPTS):
            got = await client.get(follower_key)
            ops, compare = [tx.put(shard_key, self.shard_record.encode())], []
            if got is not None:
                record = FollowerRecord.decode(got.value, got.mod_revision)
                record.follower.status = pb.FOLLOWER_STATUS_PAUSED
                ops.append(tx.put(follower_key, record.encode()))
                compare.append(tx.mod(follower_key) == got.mod_revision)
            try:
                await self.claim.guarded(client, ops, compare=compare)
                return
            except Fenced:
                continue  # the follower record changed meanwhile, or the claim is gone
        log.warning("could not record the fatal error: the shard claim is gone")


class _Stream:
    """_Stream is one ReadOperations stream: the reader, the writers and the credit."""

    def __init__(self, task: ShardFollower, call: grpc.aio.StreamStreamCall) -> None:
        self.task = task
        self.call = call
        self.send_lock = asyncio.Lock()
        self.room = asyncio.Event()
        self.failed = asyncio.Event()
        self.failure: BaseException | None = None

    async def run(self) -> None:
        """run reads until the stream ends or fails; a failed store write ends it too."""
        t = self.task
        writers = [
            asyncio.create_task(self._writer(), name=f"apply {t.index}[{t.shard}] #{n}")
            for n in range(max(t.params.max_outstanding_write_requests, 1))
        ]
        reader = asyncio.create_task(self._read(), name=f"read {t.index}[{t.shard}]")
        failed = asyncio.create_task(self.failed.wait(), name=f"failed {t.index}[{t.shard}]")
        try:
            await self._grant()
            await asyncio.wait([reader, failed], return_when=asyncio.FIRST_COMPLETED)
            if self.failure is not None:
                raise self.failure
            reader.result()
        finally:
            for task in (reader, failed, *writers):
                task.cancel()
            await asyncio.gather(reader, failed, *writers, return_exceptions=True)

    async def _grant(self) -> None:
        """_grant gives the leader credit for as many reads as the write buffer has room for."""
        t, p, c = self.task, self.task.params, self.task.counters
        async with self.send_lock:
            while True:
                outstanding = math.ceil(max(t.credit_ops, 0) / p.max_read_request_operation_count)
                if outstanding >= p.max_outstanding_read_requests:
                    return
                room_ops = p.max_write_buffer_count - len(t.buffer) - max(t.credit_ops, 0)
                room_bytes = p.max_write_buffer_size - t.buffer_bytes - max(t.credit_bytes, 0)
                if room_ops <= 0 or room_bytes <= 0:
                    return
                ops = min(p.max_read_request_operation_count, room_ops)
                size = min(p.max_read_request_size, room_bytes)
                credit = leader_replication_pb2.ReadCredit(
                    operations=ops,
                    bytes=size,
                    follower_global_checkpoint=c.follower_global_checkpoint,
                )
                await self.call.write(leader_replication_pb2.ReadOperationsRequest(credit=credit))
                t.credit_ops += ops
                t.credit_bytes += size
                c.last_requested_seq_no = (
                    c.follower_global_checkpoint + len(t.unapplied) + max(t.credit_ops, 0)
                )

    async def _read(self) -> None:
        t, c = self.task, self.task.counters
        while True:
            started = time.monotonic()
            got = await self.call.read()
            if got is grpc.aio.EOF:
                raise ConnectionError("the leader ended the operations stream")
            message = cast(leader_replication_pb2.ReadOperationsResponse, got)
            c.last_read = time.time()
            c.total_read_time += time.monotonic() - started
            # The span covers handling the message, not waiting for it (a long poll).
            with tracer.start_as_current_span("replication.read", attributes=t.span_attributes):
                await self._handle(message)

    async def _handle(self, message: leader_replication_pb2.ReadOperationsResponse) -> None:
        """_handle takes one ReadOperations message: checkpoints, schema, operations."""
        t, c = self.task, self.task.counters
        c.leader_global_checkpoint = message.leader_global_checkpoint
        c.leader_max_seq_no = message.leader_max_seq_no
        if message.history_trimmed:
            raise HistoryGone(c.follower_global_checkpoint + 1, message.min_retained_seq_no)
        if message.HasField("schema"):
            await t._apply_schema(message.schema)
        if message.schema_version > c.follower_schema_version:
            raise FatalReplicationError(
                f"leader schema version {message.schema_version} arrived without its schema"
            )
        ops = [to_operation(t.shard, op) for op in message.operations]
        if ops:
            trace.get_current_span().set_attributes(_seq_nos(ops))
            self._take(ops)
        c.successful_read_requests += 1
        t._succeeded()

    def _take(self, ops: Sequence[Operation]) -> None:
        t, c = self.task, self.task.counters
        size = sum(op.size() for op in ops)
        t.credit_ops -= len(ops)
        t.credit_bytes -= size
        if t.credit_ops < 0:
            raise FatalReplicationError(
                f"the leader sent {-t.credit_ops} operations beyond the credit granted"
            )
        t.buffer.extend(ops)
        t.buffer_bytes += size
        t.unapplied.extend((op.seq_no, op.write_time) for op in ops)
        c.operations_read += len(ops)
        c.bytes_read += size
        self.room.set()

    def _batch(self) -> list[Operation]:
        t, p = self.task, self.task.params
        batch: list[Operation] = []
        size = 0
        while t.buffer and len(batch) < p.max_write_request_operation_count:
            op = t.buffer[0]
            if batch and size + op.size() > p.max_write_request_size:
                break
            batch.append(t.buffer.popleft())
            size += op.size()
        t.buffer_bytes -= size
        return batch

    async def _writer(self) -> None:
        t, c = self.task, self.task.counters
        try:
            while True:
                while not t.buffer:
                    self.room.clear()
                    await self.room.wait()
                batch = self._batch()
                if not batch:
                    continue
                t.writing += 1
                started = time.monotonic()
                attributes = {**t.span_attributes, **_seq_nos(batch)}
                try:
                    with tracer.start_as_current_span("replication.apply", attributes=attributes):
                        checkpoint = await t.ctx.store.apply_operations(
                            t.index, t.shard, batch, fence=t.fence
                        )
                except BaseException:
                    c.failed_write_requests += 1
                    raise
                finally:
                    t.writing -= 1
                c.total_write_time += time.monotonic() - started
                c.successful_write_requests += 1
                c.operations_written += len(batch)
                c.follower_global_checkpoint = max(c.follower_global_checkpoint, checkpoint)
                c.follower_max_seq_no = max(c.follower_max_seq_no, batch[-1].seq_no)
                while t.unapplied and t.unapplied[0][0] <= c.follower_global_checkpoint:
                    t.unapplied.popleft()
                await self._grant()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 — the reader raises it
            self.failure = exc
            self.failed.set()


def _seq_nos(ops: Sequence[Operation]) -> dict[str, AttributeValue]:
    """_seq_nos are the span attributes of a run of operations: how many, first and last."""
    return {
        "ferry.ops": len(ops),
        "ferry.seq_no.first": ops[0].seq_no,
        "ferry.seq_no.last": ops[-1].seq_no,
    }
