"""ReadStream: one ReadOperations stream of a leader shard, driven by the follower's credit.

Three activities share the stream:

- the sender (:meth:`ReadStream.responses`) reads operations from
  ``next_seq_no`` within the credit left, long-polls when caught up, and
  builds each message (operations first, then checkpoints and schema, so the
  schema sent is at least as new as the operations need);
- a reader task takes the follower's ReadCredit messages as they come:
  grants add up, and each one may move the retention lease up;
- a lease keeper task renews the retention lease: at once when credit moved
  it, and every ``lease_period / 3`` while nothing happens.

Byte credit and message bounds count operations as ``Operation.size()``
does (id, source and a fixed overhead), as the follower does. The leader
sends while byte credit remains, so it overdraws by less than one operation,
and later grants cover the overdraft first.

When the follower closes its side, the leader sends what the credit left
allows without waiting (no long poll, no wait for credit), then ends the
stream with OK.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

from ferry import metrics
from ferry.errors import InvalidArgument, NotFound, clip
from ferry.store import HistoryTrimmed, IndexInfo, Operation, Store
from ferry.store.proto import schema_to_proto
from ferry.tasks import cancel_and_wait, wait_event
from ferry.v1 import leader_replication_pb2 as pb
from services.replicator import leader_convert as convert
from services.replicator.leader_leases import renew_lease

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.05
"""POLL_INTERVAL is how often a caught-up stream reads the shard again to see new operations:
the most an operation waits before a long poll answers with it. The read itself is the check
(not shard_stats, which on PostgreSQL counts every shard's documents)."""
INDEX_CHECK_INTERVAL = 1.0
"""INDEX_CHECK_INTERVAL is how often a stream without credit checks that its index still
exists: a follower whose buffer is full learns of a deleted leader index without granting."""
READ_BATCH_OPS = 5120
"""READ_BATCH_OPS bounds one store read (CCR's max_read_request_operation_count); a larger
credit is sent in several messages."""


class ReadStream:
    """ReadStream serves one ReadOperations stream; ``requests`` are the follower's messages
    after its ReadStart. Iterate :meth:`responses` once."""

    def __init__(
        self,
        store: Store,
        start: convert.ReadStart,
        index: IndexInfo,
        requests: AsyncIterator[pb.ReadOperationsRequest],
        *,
        lease_period: timedelta,
    ) -> None:
        self.start = start
        self.next_seq_no = start.from_seq_no
        """next_seq_no is the seq_no of the next operation to send."""
        self.operation_credit = 0
        self.byte_credit = 0
        """byte_credit is negative while overdrawn."""
        self.follower_schema_version = start.schema_version
        self.lease_seq_no = start.from_seq_no
        """lease_seq_no is where the retention lease should be: it only ever moves up."""
        self._store = store
        self._created_at = index.created_at
        self._requests = requests
        self._lease_period = lease_period
        self._changed = asyncio.Event()
        """_changed is set whenever credit arrives, the follower closes its side or a task
        fails."""
        self._ended = asyncio.Event()
        """_ended is set when the follower closed its side or a task failed."""
        self._lease_moved = asyncio.Event()
        self._closed = False
        self._failure: BaseException | None = None
        self._last_empty = False
        self._sent = metrics.OPS_SENT.labels(start.leader_index)

    # The sender ---------------------------------------------------------------------

    async def responses(self) -> AsyncIterator[pb.ReadOperationsResponse]:
        """responses yields the stream's messages until it ends (OK) or fails (raises)."""
        streams = metrics.READ_STREAMS.labels(self.start.leader_index)
        streams.inc()
        try:
            async for response in self._responses():
                yield response
        finally:
            streams.dec()

    async def _responses(self) -> AsyncIterator[pb.ReadOperationsResponse]:
        s = self.start
        log.info(
            "operations stream opened",
            extra={
                "index": s.leader_index,
                "shard": s.shard,
                "follower_index": clip(s.follower_index, 255),
                "from_seq_no": s.from_seq_no,
            },
        )
        if s.retention_lease_id:
            try:
                await self._renew_lease()
            except HistoryTrimmed as exc:
                yield await self._trimmed(exc)
                return
        reader = asyncio.create_task(self._read_requests(), name="read-credit")
        keeper = None
        if s.retention_lease_id:
            keeper = asyncio.create_task(self._keep_lease(), name="keep-lease")
        try:
            while await self._has_credit():
                try:
                    ops = await self._poll()
                except HistoryTrimmed as exc:
                    yield await self._trimmed(exc)
                    return
                if ops is None:
                    return
                yield await self._message(ops)
        finally:
            await cancel_and_wait(reader)
            await cancel_and_wait(keeper)

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    async def _has_credit(self) -> bool:
        """_has_credit waits until there is credit to send with; False when the follower
        closed its side without leaving any."""
        while True:
            self._raise_failure()
            if self.operation_credit > 0 and self.byte_credit > 0:
                return True
            if self._closed:
                return False
            self._changed.clear()
            if not await wait_event(self._changed, INDEX_CHECK_INTERVAL):
                await self._index()  # NotFound ends the stream

    async def _read(self) -> list[Operation]:
        """_read reads the next operations the credit and the message bound allow."""
        s = self.start
        ops = await self._store.read_operations(
            s.leader_index,
            s.shard,
            self.next_seq_no,
            max_ops=min(self.operation_credit, READ_BATCH_OPS),
            max_bytes=s.max_message_bytes,
        )
        # The store stops within the message bound; byte credit cuts after the first
        # operation that exhausts it.
        taken: list[Operation] = []
        left = self.byte_credit
        for op in ops:
            if left <= 0:
                break
            taken.append(op)
            left -= op.size()
        return taken

    async def _poll(self) -> list[Operation] | None:
        """_poll returns the next operations, reading again every POLL_INTERVAL for up to
        read_poll_timeout while there are none: [] when none came in time, None when the
        follower closed its side or a task failed."""
        loop = asyncio.get_running_loop()
        wait = self.start.read_poll_timeout
        if self._last_empty:
            wait = max(wait, POLL_INTERVAL)  # with a zero timeout, not a busy loop
        deadline = loop.time() + wait
        while True:
            ops = await self._read()
            if ops:
                return ops
            left = deadline - loop.time()
            if left <= 0:
                return []
            if self._ended.is_set() or await wait_event(self._ended, min(POLL_INTERVAL, left)):
                self._raise_failure()
                return None

    async def _index(self) -> IndexInfo:
        """_index reads the leader index; NotFound when it is gone, or deleted and created
        again since the stream opened (another index under the same name)."""
        info = await self._store.get_index(self.start.leader_index)
        if info.created_at != self._created_at:
            raise NotFound("index", self.start.leader_index)
        return info

    async def _message(self, ops: Sequence[Operation]) -> pb.ReadOperationsResponse:
        """_message takes the operations from the credit and wraps them with the leader's
        checkpoints and schema, both read after the operations."""
        if ops:
            self.operation_credit -= len(ops)
            self.byte_credit -= sum(op.size() for op in ops)
            self.next_seq_no = ops[-1].seq_no + 1
            self._sent.inc(len(ops))
        self._last_empty = not ops
        response = await self._state()
        response.operations.extend(convert.operation_to_proto(op) for op in ops)
        return response

    async def _state(self) -> pb.ReadOperationsResponse:
        """_state is a message with the leader's checkpoints and schema, and nothing else."""
        s = self.start
        info = await self._index()
        stats = await self._store.shard_seq_nos(s.leader_index, s.shard)
        schema = info.spec.schema
        response = pb.ReadOperationsResponse(
            leader_global_checkpoint=stats.global_checkpoint,
            leader_max_seq_no=stats.max_seq_no,
            schema_version=schema.version,
            min_retained_seq_no=stats.min_retained_seq_no,
        )
        if schema.version > self.follower_schema_version:
            response.schema.CopyFrom(schema_to_proto(schema))
            self.follower_schema_version = schema.version
        return response

    async def _trimmed(self, exc: HistoryTrimmed) -> pb.ReadOperationsResponse:
        """_trimmed is the stream's last message: the history the follower needs is gone."""
        log.info(
            "operations stream: history trimmed, the follower must bootstrap",
            extra={
                "index": self.start.leader_index,
                "shard": self.start.shard,
                "follower_index": clip(self.start.follower_index, 255),
                "needed": self.next_seq_no,
                "min_retained_seq_no": exc.min_retained_seq_no,
            },
        )
        response = await self._state()
        response.history_trimmed = True
        response.min_retained_seq_no = max(response.min_retained_seq_no, exc.min_retained_seq_no)
        return response

    # The reader and the lease keeper ----------------------------------------------------

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
        self._ended.set()
        self._changed.set()

    async def _read_requests(self) -> None:
        """_read_requests adds up the follower's credit until it closes its side."""
        try:
            async for request in self._requests:
                kind = request.WhichOneof("message")
                if kind == "start":
                    raise InvalidArgument.field("start", "is only the first message of a stream")
                if kind != "credit":
                    raise InvalidArgument.field("credit", "every later message must be a credit")
                grant = convert.credit(request.credit)
                self.operation_credit += grant.operations
                self.byte_credit += grant.bytes
                if grant.follower_global_checkpoint + 1 > self.lease_seq_no:
                    self.lease_seq_no = grant.follower_global_checkpoint + 1
                    self._lease_moved.set()
                self._changed.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 — the sender raises it
            self._fail(exc)
            return
        self._closed = True
        self._ended.set()
        self._changed.set()

    async def _renew_lease(self, *, within_history: bool = False) -> None:
        """_renew_lease renews the retention lease at lease_seq_no; within_history holds what
        is left when that history is gone, else HistoryTrimmed."""
        s = self.start
        await renew_lease(
            self._store,
            s.leader_index,
            s.shard,
            s.retention_lease_id,
            self.lease_seq_no,
            ttl=self._lease_period,
            source=s.follower_index,
            within_history=within_history,
        )

    async def _keep_lease(self) -> None:
        """_keep_lease renews the retention lease when credit moved it, and at least every
        lease_period / 3."""
        every = self._lease_period.total_seconds() / 3
        try:
            while True:
                await wait_event(self._lease_moved, every)
                self._lease_moved.clear()
                await self._renew_lease(within_history=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 — the sender raises it
            self._fail(exc)
