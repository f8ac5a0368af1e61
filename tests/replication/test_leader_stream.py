"""LeaderReplication on a real SQLite store, served by a real gRPC server, called with grpc.aio.

Most tests serve :class:`LeaderReplicationServicer` in-process (the store is
written from the test meanwhile); one runs ``ferry replicator`` as a process.
Every operation written here costs exactly :data:`SIZE` bytes of credit.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from ferry.etcd import EmbeddedEtcd
from ferry.server import GrpcServer
from ferry.store import (
    DeleteOp,
    FieldKind,
    HistoryTrimmed,
    IndexOp,
    IndexSpec,
    Schema,
    Store,
    open_store,
)
from ferry.v1 import leader_replication_pb2 as pb
from ferry.v1 import leader_replication_pb2_grpc as pb_grpc
from services.replicator.leader import LeaderReplicationServicer
from services.replicator.leader_leases import renew_lease
from services.replicator.leader_stream import POLL_INTERVAL
from tests.helpers import ServiceProcess, eventually

Stub = pb_grpc.LeaderReplicationStub
SIZE = 100
"""SIZE is Operation.size() of every document :func:`write` writes (id 3, source 65, 32)."""
SERVICE = "ferry.v1.LeaderReplication"


def doc(i: int, pad: str = "x") -> IndexOp:
    """doc is document d{i:02d} whose operation costs SIZE bytes."""
    return IndexOp(f"d{i:02d}", {"pad": pad * 55})


async def write(store: Store, start: int, count: int, index: str = "orders") -> None:
    await store.bulk(index, [doc(i) for i in range(start, start + count)])


# Fixtures ------------------------------------------------------------------------------


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """store is a started SQLite store with an empty one-shard index "orders" (schema v1)."""
    opened = open_store(f"sqlite:///{tmp_path / 'leader.db'}")
    await opened.start()
    await opened.create_index(
        IndexSpec("orders", shards=1, schema=Schema({"pad": FieldKind.KEYWORD}, version=1))
    )
    yield opened
    await opened.stop()


Serve = Callable[..., Awaitable[Stub]]


@pytest.fixture
async def serve(store: Store) -> AsyncIterator[Serve]:
    """serve starts a gRPC server with the servicer on ``store`` and returns a stub to it."""
    servers: list[GrpcServer] = []
    channels: list[grpc.aio.Channel] = []

    async def start(
        on: Store | None = store, *, lease_period: timedelta = timedelta(hours=12)
    ) -> Stub:
        server = GrpcServer("127.0.0.1:0")
        servicer = LeaderReplicationServicer(on, lease_period=lease_period)
        server.add(pb_grpc.add_LeaderReplicationServicer_to_server, servicer, SERVICE)
        await server.start()
        servers.append(server)
        channel = grpc.aio.insecure_channel(server.address)
        channels.append(channel)
        return pb_grpc.LeaderReplicationStub(channel)

    yield start
    for channel in channels:
        await channel.close()
    for server in servers:
        await server.stop(0)


@pytest.fixture
async def stub(serve: Serve) -> Stub:
    return await serve()


def violations(err: grpc.aio.AioRpcError) -> list[str]:
    """violations are the fields a failed call's BadRequest names."""
    fields: list[str] = []
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                bad = error_details_pb2.BadRequest()
                if detail.Unpack(bad):
                    fields += [v.field for v in bad.field_violations]
    return fields


def seconds(value: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(value * 1e9))
    return d


_END = object()


class Stream:
    """Stream is a follower's end of ReadOperations: it writes the start and credit, and a
    background task collects the leader's messages as they come."""

    def __init__(self, stub: Stub) -> None:
        self.call: Any = stub.ReadOperations()
        self.messages: asyncio.Queue[Any] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                got = await self.call.read()
                if got is grpc.aio.EOF:
                    self.messages.put_nowait(_END)
                    return
                self.messages.put_nowait(got)
        except grpc.aio.AioRpcError as err:
            self.messages.put_nowait(err)

    async def start(self, **fields: Any) -> Stream:
        fields.setdefault("leader_index", "orders")
        poll = fields.pop("poll", None)
        start = pb.ReadStart(**fields)
        if poll is not None:
            start.read_poll_timeout.CopyFrom(seconds(poll))
        await self.call.write(pb.ReadOperationsRequest(start=start))
        return self

    async def credit(self, operations: int, size: int, checkpoint: int = -1) -> None:
        credit = pb.ReadCredit(
            operations=operations, bytes=size, follower_global_checkpoint=checkpoint
        )
        await self.call.write(pb.ReadOperationsRequest(credit=credit))

    async def next(self, timeout: float = 5.0) -> pb.ReadOperationsResponse:  # noqa: ASYNC109
        got = await asyncio.wait_for(self.messages.get(), timeout)
        if isinstance(got, grpc.aio.AioRpcError):
            raise got
        assert got is not _END, "the stream ended"
        return got  # type: ignore[no-any-return]

    async def seq_nos(self, count: int) -> list[list[int]]:
        """seq_nos reads messages until ``count`` operations came; each message's seq_nos."""
        got: list[list[int]] = []
        while sum(map(len, got)) < count:
            got.append([op.seq_no for op in (await self.next()).operations])
        return got

    async def nothing_for(self, wait: float) -> None:
        """nothing_for fails if the leader sends a message within ``wait`` seconds."""
        with pytest.raises(TimeoutError):
            got = await asyncio.wait_for(self.messages.get(), wait)
            pytest.fail(f"the leader sent {got}")

    async def failure(self) -> grpc.aio.AioRpcError:
        got = await asyncio.wait_for(self.messages.get(), 10)
        assert isinstance(got, grpc.aio.AioRpcError), f"expected an error, got {got}"
        return got

    async def ended_ok(self) -> None:
        got = await asyncio.wait_for(self.messages.get(), 10)
        assert got is _END, f"expected the end of the stream, got {got}"
        assert await self.call.code() == grpc.StatusCode.OK

    async def close(self) -> None:
        self.call.cancel()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


@pytest.fixture
async def open_stream(stub: Stub) -> AsyncIterator[Callable[..., Awaitable[Stream]]]:
    """open_stream opens ReadOperations streams (start fields as keywords), closed after."""
    opened: list[Stream] = []

    async def open_(on: Stub = stub, **fields: Any) -> Stream:
        stream = Stream(on)
        opened.append(stream)
        return await stream.start(**fields)

    yield open_
    for stream in opened:
        await stream.close()


OpenStream = Callable[..., Awaitable[Stream]]


# Credit -----------------------------------------------------------------------------------


async def test_no_credit_no_operations_and_never_more_than_granted(
    store: Store, open_stream: OpenStream
) -> None:
    await write(store, 0, 20)
    stream = await open_stream(schema_version=1)

    await stream.nothing_for(0.3)  # started, but no credit yet
    await stream.credit(5, 10**9)
    assert await stream.seq_nos(5) == [[0, 1, 2, 3, 4]]
    await stream.nothing_for(0.3)  # the operation credit is used up
    await stream.credit(2, 10**9)
    await stream.credit(1, 10**9)  # grants add up
    assert [s for message in await stream.seq_nos(3) for s in message] == [5, 6, 7]
    await stream.nothing_for(0.3)


async def test_byte_credit_overdraws_by_less_than_one_operation(
    store: Store, open_stream: OpenStream
) -> None:
    await write(store, 0, 10)
    stream = await open_stream(schema_version=1)

    await stream.credit(100, SIZE * 3 // 2)  # 1.5 operations: sends 2, overdrawn by 0.5
    assert await stream.seq_nos(2) == [[0, 1]]
    await stream.credit(0, SIZE)  # covers the overdraft first: 0.5 left, one more
    assert await stream.seq_nos(1) == [[2]]
    await stream.credit(0, SIZE * 2 // 5)  # -0.5 + 0.4: still overdrawn
    await stream.nothing_for(0.3)
    await stream.credit(0, SIZE // 5)  # +0.1
    assert await stream.seq_nos(1) == [[3]]


async def test_messages_are_split_at_max_message_bytes(
    store: Store, open_stream: OpenStream
) -> None:
    await write(store, 0, 10)
    stream = await open_stream(schema_version=1, max_message_bytes=SIZE * 5 // 2)
    await stream.credit(9, 10**9)
    assert await stream.seq_nos(9) == [[0, 1], [2, 3], [4, 5], [6, 7], [8]]

    # A message always carries one operation, however small the bound.
    tiny = await open_stream(schema_version=1, max_message_bytes=1)
    await tiny.credit(3, 10**9)
    assert await tiny.seq_nos(3) == [[0], [1], [2]]


async def test_operations_carry_source_version_and_write_time(
    store: Store, open_stream: OpenStream
) -> None:
    before = time.time()
    await store.bulk("orders", [IndexOp("a", {"v": 1})])
    await store.bulk("orders", [IndexOp("a", {"v": 2}), DeleteOp("a")])
    stream = await open_stream(schema_version=1)
    await stream.credit(10, 10**9)

    message = await stream.next()
    ops = [(o.seq_no, o.type, o.doc_id, o.source, o.version) for o in message.operations]
    assert ops == [
        (0, pb.OPERATION_TYPE_INDEX, "a", b'{"v":1}', 1),
        (1, pb.OPERATION_TYPE_INDEX, "a", b'{"v":2}', 2),
        (2, pb.OPERATION_TYPE_DELETE, "a", b"", 0),
    ]
    assert all(
        before - 1 <= o.write_time.ToNanoseconds() / 1e9 <= time.time() + 1
        for o in message.operations
    )
    assert (message.leader_global_checkpoint, message.leader_max_seq_no) == (2, 2)
    assert (message.schema_version, message.min_retained_seq_no) == (1, 0)
    assert not message.HasField("schema")  # the follower has version 1 already


# Long poll ------------------------------------------------------------------------------------


async def test_long_poll_answers_with_checkpoints_after_the_timeout(
    store: Store, open_stream: OpenStream
) -> None:
    await write(store, 0, 3)
    stream = await open_stream(schema_version=1, from_seq_no=3, poll=0.5)
    started = time.monotonic()
    await stream.credit(10, 10**9)

    message = await stream.next()

    assert time.monotonic() - started >= 0.5
    assert list(message.operations) == [] and not message.history_trimmed
    assert (message.leader_global_checkpoint, message.leader_max_seq_no) == (2, 2)
    assert message.schema_version == 1


async def test_long_poll_answers_as_soon_as_an_operation_is_written(
    store: Store, open_stream: OpenStream
) -> None:
    stream = await open_stream(schema_version=1, poll=60)
    await stream.credit(10, 10**9)
    await stream.nothing_for(0.3)  # an empty shard: polling

    written = time.monotonic()
    await write(store, 0, 1)
    message = await stream.next(timeout=10)

    assert time.monotonic() - written < 10 * POLL_INTERVAL + 1
    assert [op.seq_no for op in message.operations] == [0]
    assert message.leader_global_checkpoint == 0


async def test_long_poll_reads_the_shard_not_its_stats(
    store: Store, open_stream: OpenStream, monkeypatch: pytest.MonkeyPatch
) -> None:
    # shard_stats counts every shard's documents on PostgreSQL: a stream never calls it. A
    # caught-up stream polls with the read itself, and reads the shard's seq_nos once for
    # the message it answers with.
    calls: Counter[str] = Counter()

    def counting(name: str) -> None:
        method = getattr(store, name)

        async def counted(*args: Any) -> Any:
            calls[name] += 1
            return await method(*args)

        monkeypatch.setattr(store, name, counted)

    counting("shard_stats")
    counting("shard_seq_nos")
    stream = await open_stream(schema_version=1, poll=0.5)
    await stream.credit(10, 10**9)

    message = await stream.next()

    assert list(message.operations) == [] and message.leader_global_checkpoint == -1
    assert calls == {"shard_seq_nos": 1}


# History trimmed, NOT_FOUND and bad requests --------------------------------------------------


async def test_trimmed_history_is_one_message_then_ok(
    store: Store, open_stream: OpenStream
) -> None:
    await write(store, 0, 5)
    await write(store, 0, 5)  # every first version superseded: trimmable
    assert await store.trim_history("orders") == 5
    stream = await open_stream(schema_version=1, from_seq_no=2)
    await stream.credit(10, 10**9)

    message = await stream.next()

    assert message.history_trimmed and list(message.operations) == []
    assert message.min_retained_seq_no == 5
    assert message.leader_global_checkpoint == 9
    await stream.ended_ok()


async def test_a_missing_leader_index_is_not_found(stub: Stub, open_stream: OpenStream) -> None:
    stream = await open_stream(leader_index="nope")
    err = await stream.failure()
    assert err.code() == grpc.StatusCode.NOT_FOUND and "nope" in (err.details() or "")


@pytest.mark.parametrize("credit_left", [True, False], ids=["long-polling", "without-credit"])
async def test_a_leader_index_deleted_mid_stream_is_not_found(
    store: Store, open_stream: OpenStream, credit_left: bool
) -> None:
    await write(store, 0, 2)
    stream = await open_stream(schema_version=1, poll=60)
    await stream.credit(10 if credit_left else 2, 10**9)
    assert await stream.seq_nos(2) == [[0, 1]]

    await store.delete_index("orders")  # while the stream long-polls, or waits for credit

    err = await stream.failure()
    assert err.code() == grpc.StatusCode.NOT_FOUND


def start_(**fields: Any) -> pb.ReadOperationsRequest:
    return pb.ReadOperationsRequest(start=pb.ReadStart(**{"leader_index": "orders", **fields}))


def credit_(**fields: Any) -> pb.ReadOperationsRequest:
    return pb.ReadOperationsRequest(credit=pb.ReadCredit(**fields))


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ([credit_(operations=1)], "start"),
        ([pb.ReadOperationsRequest()], "start"),
        ([start_(), start_()], "start"),
        ([start_(shard=1)], "start.shard"),
        ([start_(shard=-1)], "start.shard"),
        ([start_(from_seq_no=-1)], "start.from_seq_no"),
        ([start_(read_poll_timeout=seconds(-1))], "start.read_poll_timeout"),
        ([start_(read_poll_timeout=seconds(3601))], "start.read_poll_timeout"),
        ([start_(max_message_bytes=-1)], "start.max_message_bytes"),
        ([start_(), credit_(operations=-1)], "credit.operations"),
        ([start_(), credit_(bytes=-1)], "credit.bytes"),
        ([start_(leader_index="Not An Index")], "start.leader_index"),
    ],
    ids=[
        "credit-first", "empty-first", "second-start", "shard-out-of-range", "negative-shard",
        "negative-from", "negative-poll", "poll-over-an-hour", "negative-message-bytes",
        "negative-credit", "negative-byte-credit", "bad-index-name",
    ],
)  # fmt: skip
async def test_bad_streams_are_invalid_argument_naming_the_field(
    stub: Stub, messages: list[pb.ReadOperationsRequest], field: str
) -> None:
    call: Any = stub.ReadOperations()
    for message in messages:
        await call.write(message)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        async with asyncio.timeout(10):
            async for _ in call:
                pass
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(raised.value) == [field]


# Schema ------------------------------------------------------------------------------------------


async def test_a_newer_schema_comes_once_with_the_operations_that_need_it(
    store: Store, open_stream: OpenStream
) -> None:
    await write(store, 0, 1)
    stream = await open_stream(schema_version=0, poll=60)
    await stream.credit(100, 10**9)
    first = await stream.next()
    # The follower had none: the leader's schema comes with the first operations.
    assert first.HasField("schema") and first.schema.version == 1
    assert [op.seq_no for op in first.operations] == [0]

    await store.update_schema("orders", Schema({"pad": FieldKind.KEYWORD, "n": FieldKind.LONG}, 2))
    await store.bulk("orders", [IndexOp("n1", {"n": 1})])
    second = await stream.next()
    assert [op.doc_id for op in second.operations] == ["n1"]
    assert second.schema.version == second.schema_version == 2
    assert {f.path for f in second.schema.fields} == {"pad", "n"}

    await store.bulk("orders", [IndexOp("n2", {"n": 2})])
    third = await stream.next()
    assert [op.doc_id for op in third.operations] == ["n2"]
    assert third.schema_version == 2 and not third.HasField("schema")  # sent once


# Retention leases held by the stream ------------------------------------------------------------


async def lease(store: Store, lease_id: str) -> Any:
    return next((x for x in await store.retention_leases("orders") if x.lease_id == lease_id), None)


async def test_the_stream_renews_its_lease_and_credit_moves_it_up(
    store: Store, serve: Serve, open_stream: OpenStream
) -> None:
    await write(store, 0, 10)
    period = timedelta(seconds=0.9)
    stream = await open_stream(
        await serve(lease_period=period), schema_version=1, from_seq_no=3, retention_lease_id="f1",
        follower_index="copy", poll=60,
    )  # fmt: skip
    first = await eventually(lambda: lease(store, "f1"), what="the lease placed at start")
    assert (first.retaining_seq_no, first.source) == (3, "copy")
    assert first.expires_at <= time.time() + 0.9 + 0.1

    await stream.credit(100, 10**9, checkpoint=7)
    await eventually(
        lambda: _retaining(store, "f1", 8), what="the lease advanced to the checkpoint + 1"
    )
    await stream.credit(100, 10**9, checkpoint=5)  # never backwards
    # Idle: renewed every period / 3, so it outlives its first expiry.
    await eventually(
        lambda: _expires_after(store, "f1", first.expires_at + 0.5), timeout=5, what="renewed"
    )
    assert (await lease(store, "f1")).retaining_seq_no == 8


async def _retaining(store: Store, lease_id: str, seq_no: int) -> bool:
    found = await lease(store, lease_id)
    return found is not None and found.retaining_seq_no == seq_no


async def _expires_after(store: Store, lease_id: str, when: float) -> bool:
    found = await lease(store, lease_id)
    return found is not None and found.expires_at > when


async def test_a_new_lease_on_trimmed_history_sends_history_trimmed(
    store: Store, open_stream: OpenStream
) -> None:
    await write(store, 0, 3)
    await write(store, 0, 3)
    await store.trim_history("orders")
    stream = await open_stream(schema_version=1, from_seq_no=0, retention_lease_id="late")

    message = await stream.next()

    assert message.history_trimmed and message.min_retained_seq_no == 3
    await stream.ended_ok()
    assert await lease(store, "late") is None


async def test_a_held_lease_whose_history_went_holds_what_is_left(store: Store) -> None:
    await write(store, 0, 3)
    await write(store, 0, 3)  # supersedes 0..2
    await store.trim_history("orders")  # no lease: history below 3 goes
    args = ("orders", 0, "gone", 0)

    with pytest.raises(HistoryTrimmed):
        await renew_lease(store, *args, ttl=timedelta(minutes=1))
    held = await renew_lease(store, *args, ttl=timedelta(minutes=1), within_history=True)

    assert held.retaining_seq_no == 3


# Bootstrap ---------------------------------------------------------------------------------------


async def test_bootstrap_is_a_consistent_chunked_snapshot_with_its_lease_placed_first(
    store: Store, stub: Stub
) -> None:
    await write(store, 0, 30)
    await store.bulk("orders", [DeleteOp("d05"), doc(7, pad="y")])
    expected = {
        d.id: d for d in await store.multi_get("orders", [f"d{i:02d}" for i in range(30)]) if d
    }
    [stats] = await store.shard_stats("orders")
    request = pb.BootstrapRequest(
        leader_index="orders", retention_lease_id="boot", follower_index="copy",
        max_chunk_bytes=SIZE * 4,
    )  # fmt: skip

    chunks = []
    async for chunk in stub.Bootstrap(request, timeout=10):
        if not chunks:
            # Before the first chunk the lease is at snapshot + 1 ...
            held = await lease(store, "boot")
            assert held is not None and held.retaining_seq_no == chunk.snapshot_seq_no + 1
            # ... and the leader goes on writing: none of it is in the snapshot.
            await store.bulk("orders", [DeleteOp("d00"), doc(1, pad="z"), doc(50)])
        chunks.append(chunk)

    assert {c.snapshot_seq_no for c in chunks} == {stats.max_seq_no}
    assert [len(c.documents) for c in chunks] == [4] * 7 + [1]  # 29 documents, 4 a chunk
    assert [c.last for c in chunks] == [False] * 7 + [True]
    assert chunks[0].total_documents == 29 and chunks[0].schema.version == 1
    assert not any(c.HasField("schema") or c.total_documents for c in chunks[1:])
    assert chunks[-1].leader_max_seq_no == stats.max_seq_no + 3  # the writes made meanwhile
    got = {d.doc_id: d for c in chunks for d in c.documents}
    assert sorted(got) == sorted(expected)
    for doc_id, d in got.items():
        assert d.seq_no == expected[doc_id].seq_no and d.version == d.seq_no + 1
        assert d.type == pb.OPERATION_TYPE_INDEX
    assert got["d07"].source == b'{"pad":"' + b"y" * 55 + b'"}'
    assert got["d01"].source == b'{"pad":"' + b"x" * 55 + b'"}'


async def test_bootstrap_of_an_empty_shard_is_one_last_chunk(store: Store, stub: Stub) -> None:
    request = pb.BootstrapRequest(leader_index="orders", retention_lease_id="boot")
    chunks = [c async for c in stub.Bootstrap(request, timeout=10)]

    assert len(chunks) == 1
    [chunk] = chunks
    assert chunk.last and chunk.snapshot_seq_no == -1 and list(chunk.documents) == []
    assert chunk.total_documents == 0 and chunk.schema.version == 1
    assert (chunk.leader_global_checkpoint, chunk.leader_max_seq_no) == (-1, -1)
    assert (await lease(store, "boot")).retaining_seq_no == 0


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.BootstrapRequest(leader_index="orders"), "retention_lease_id"),
        (pb.BootstrapRequest(leader_index="orders", retention_lease_id="b", shard=3), "shard"),
        (pb.BootstrapRequest(leader_index="orders", retention_lease_id="b", max_chunk_bytes=-1),
         "max_chunk_bytes"),
    ],
)  # fmt: skip
async def test_bad_bootstraps_name_the_field(
    stub: Stub, request_: pb.BootstrapRequest, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        async for _ in stub.Bootstrap(request_, timeout=10):
            pass
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(raised.value) == [field]


# Leases, indices, no store ------------------------------------------------------------------------


async def test_put_retention_lease_renews_never_back_and_refuses_trimmed_history(
    store: Store, stub: Stub
) -> None:
    await write(store, 0, 4)
    put = pb.PutRetentionLeaseRequest(leader_index="orders", lease_id="f1", retaining_seq_no=2)

    made = await stub.PutRetentionLease(put, timeout=5)
    assert (made.id, made.retaining_seq_no) == ("f1", 2)
    assert made.period.ToTimedelta() == timedelta(hours=12)
    assert made.expire_time.ToNanoseconds() - made.renew_time.ToNanoseconds() == 12 * 3600 * 10**9

    put.retaining_seq_no, put.source = 1, "dr/copy"
    put.period.CopyFrom(seconds(60))
    renewed = await stub.PutRetentionLease(put, timeout=5)
    assert (renewed.retaining_seq_no, renewed.source) == (2, "dr/copy")  # renewed, not moved back
    assert renewed.expire_time.ToNanoseconds() < made.expire_time.ToNanoseconds()

    await write(store, 0, 4)  # supersedes 0..3, but "f1" holds from 2
    await store.trim_history("orders")
    late = pb.PutRetentionLeaseRequest(leader_index="orders", lease_id="late", retaining_seq_no=0)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.PutRetentionLease(late, timeout=5)
    assert raised.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert "trimmed" in (raised.value.details() or "")
    renewed_low = await stub.PutRetentionLease(put, timeout=5)  # the existing lease: fine
    assert renewed_low.retaining_seq_no == 2

    remove = pb.RemoveRetentionLeaseRequest(leader_index="orders", lease_id="f1")
    await stub.RemoveRetentionLease(remove, timeout=5)
    await stub.RemoveRetentionLease(remove, timeout=5)  # absent: fine too
    assert await store.retention_leases("orders") == []


def put_(**fields: Any) -> pb.PutRetentionLeaseRequest:
    fields = {"leader_index": "orders", "lease_id": "a", **fields}
    return pb.PutRetentionLeaseRequest(**fields)


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (put_(lease_id=""), "lease_id"),
        (put_(retaining_seq_no=-1), "retaining_seq_no"),
        (put_(shard=1), "shard"),
        (put_(period=seconds(-5)), "period"),
        (put_(period=seconds(0)), "period"),
    ],
)  # fmt: skip
async def test_bad_lease_requests_name_the_field(
    stub: Stub, request_: pb.PutRetentionLeaseRequest, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.PutRetentionLease(request_, timeout=5)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(raised.value) == [field]


async def test_get_and_list_leader_indices(store: Store, stub: Stub) -> None:
    await write(store, 0, 3)
    await store.create_index(IndexSpec("orders-eu", shards=2))
    await store.create_index(IndexSpec("users", shards=3))

    got = await stub.GetIndex(pb.GetLeaderIndexRequest(name="orders"), timeout=5)
    assert (got.name, got.shard_count, got.doc_count, got.schema.version) == ("orders", 1, 3, 1)
    assert [f.path for f in got.schema.fields] == ["pad"]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.GetIndex(pb.GetLeaderIndexRequest(name="gone"), timeout=5)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND

    async def names(pattern: str) -> list[str]:
        listed = await stub.ListIndices(pb.ListLeaderIndicesRequest(pattern=pattern), timeout=5)
        return [i.name for i in listed.indices]

    assert await names("") == ["orders", "orders-eu", "users"]
    assert await names("orders*") == ["orders", "orders-eu"]
    assert await names("user?") == ["users"]
    assert await names("nothing*") == []
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await names("*" * 513)
    assert violations(raised.value) == ["pattern"]


async def test_without_a_store_every_call_is_failed_precondition(serve: Serve) -> None:
    stub = await serve(None)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.ListIndices(pb.ListLeaderIndicesRequest(), timeout=5)
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "store-url" in (raised.value.details() or "")
    stream = Stream(stub)
    await stream.start(leader_index="orders")
    err = await stream.failure()
    await stream.close()
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION


# A real replicator process -------------------------------------------------------------------


async def test_a_replicator_process_serves_its_store_and_trims_history(
    services: Callable[..., ServiceProcess], etcd_server: EmbeddedEtcd, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'cluster.db'}"
    async with open_store(url) as store:
        await store.create_index(IndexSpec("orders", shards=1))
        await write(store, 0, 3)
        replicator = services(
            "replicator", etcd_server.endpoint,
            args=["--etcd-prefix", f"/leader-{tmp_path.name}", "--store-url", url,
                  "--history-trim-interval", "0.2"],
        )  # fmt: skip
        await asyncio.to_thread(replicator.wait_serving)

        async with grpc.aio.insecure_channel(replicator.address) as channel:
            stub = pb_grpc.LeaderReplicationStub(channel)
            listed = await stub.ListIndices(pb.ListLeaderIndicesRequest(), timeout=5)
            assert [(i.name, i.doc_count) for i in listed.indices] == [("orders", 3)]
            stream = await Stream(stub).start(leader_index="orders", schema_version=0)
            await stream.credit(10, 10**9)
            message = await stream.next()
            assert [op.seq_no for op in message.operations] == [0, 1, 2]
            assert message.schema_version == 0
            await stream.close()

        # The trimmer drops the superseded history (nobody holds a lease).
        await write(store, 0, 3)
        await eventually(
            lambda: _min_retained(store, 3), timeout=10, what="history trimmed by the replicator"
        )

    # Reflection lists the service, without grpcurl.
    def listed_services() -> list[str]:
        with grpc.insecure_channel(replicator.address) as sync_channel:
            return list(ProtoReflectionDescriptorDatabase(sync_channel).get_services())

    assert SERVICE in await asyncio.to_thread(listed_services)


async def _min_retained(store: Store, seq_no: int) -> bool:
    [stats] = await store.shard_stats("orders")
    return stats.min_retained_seq_no == seq_no
