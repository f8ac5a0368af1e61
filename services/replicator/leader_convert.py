"""Translation between ``ferry.v1.LeaderReplication`` messages and the index store's types.

Nothing here does I/O. A bad request raises InvalidArgument naming the field
(``start.from_seq_no``, ``credit.bytes``, ``period``).

Operation.version: the store keeps no per-document version, so a replicated
operation's version is derived from its seq_no: ``seq_no + 1`` after an INDEX
(it grows with every write of the document, and is never 0), ``0`` after a
DELETE, as the proto says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from google.protobuf import duration_pb2

from ferry.errors import FieldViolation, InvalidArgument
from ferry.store import Operation, OpKind, RetentionLease, SnapshotDoc
from ferry.store.model import DEFAULT_RETENTION
from ferry.store.proto import index_name, timestamp
from ferry.v1 import indices_pb2
from ferry.v1 import leader_replication_pb2 as pb

MIB = 1024 * 1024
DEFAULT_READ_POLL_TIMEOUT = 60.0
"""DEFAULT_READ_POLL_TIMEOUT is ReadStart.read_poll_timeout when unset (CCR's 1 m)."""
MAX_READ_POLL_TIMEOUT = 3600.0
DEFAULT_MESSAGE_BYTES = MIB
"""DEFAULT_MESSAGE_BYTES bounds a message's operations (or a chunk's documents) when the
request says 0."""
MAX_LEASE_PERIOD = timedelta(days=30)
MAX_LEASE_ID_BYTES = 512
MAX_SOURCE_BYTES = 1024


@dataclass(frozen=True)
class ReadStart:
    """ReadStart is a checked ReadStart with its defaults filled in (seconds for durations)."""

    leader_index: str
    shard: int
    follower_index: str
    from_seq_no: int
    retention_lease_id: str
    schema_version: int
    read_poll_timeout: float
    max_message_bytes: int


@dataclass(frozen=True)
class Credit:
    """Credit is one checked ReadCredit."""

    operations: int
    bytes: int
    follower_global_checkpoint: int


def _bounded(value: str, where: str, max_bytes: int, problems: list[FieldViolation]) -> None:
    if len(value.encode()) > max_bytes:
        problems.append(FieldViolation(where, f"must be at most {max_bytes} bytes"))


def _duration(
    message: duration_pb2.Duration, where: str, maximum: float, problems: list[FieldViolation]
) -> float:
    """_duration is a Duration in seconds; a negative, malformed or too long one is named."""
    if message.seconds < 0 or message.nanos < 0 or message.nanos >= 1_000_000_000:
        problems.append(FieldViolation(where, "must be a non-negative duration"))
        return 0.0
    seconds = message.ToNanoseconds() / 1e9
    if seconds > maximum:
        problems.append(FieldViolation(where, f"must be at most {maximum:.0f}s"))
    return seconds


def _raise(problems: list[FieldViolation]) -> None:
    if len(problems) == 1:
        raise InvalidArgument.field(problems[0].field, problems[0].description)
    if problems:
        raise InvalidArgument.fields(problems)


def read_start(message: pb.ReadStart) -> ReadStart:
    """read_start checks a stream's first message; the shard's range is checked against the
    index later."""
    problems: list[FieldViolation] = []
    try:
        index_name(message.leader_index, "start.leader_index")
    except InvalidArgument as exc:
        problems += exc.violations
    if message.shard < 0:
        problems.append(FieldViolation("start.shard", "must not be negative"))
    if message.from_seq_no < 0:
        problems.append(FieldViolation("start.from_seq_no", "must not be negative"))
    if message.schema_version < 0:
        problems.append(FieldViolation("start.schema_version", "must not be negative"))
    if message.max_message_bytes < 0:
        problems.append(
            FieldViolation("start.max_message_bytes", "must not be negative (0 means 1 MiB)")
        )
    _bounded(message.retention_lease_id, "start.retention_lease_id", MAX_LEASE_ID_BYTES, problems)
    _bounded(message.follower_index, "start.follower_index", MAX_SOURCE_BYTES, problems)
    poll = DEFAULT_READ_POLL_TIMEOUT
    if message.HasField("read_poll_timeout"):
        poll = _duration(
            message.read_poll_timeout, "start.read_poll_timeout", MAX_READ_POLL_TIMEOUT, problems
        )
    _raise(problems)
    return ReadStart(
        leader_index=message.leader_index,
        shard=message.shard,
        follower_index=message.follower_index,
        from_seq_no=message.from_seq_no,
        retention_lease_id=message.retention_lease_id,
        schema_version=message.schema_version,
        read_poll_timeout=poll,
        max_message_bytes=message.max_message_bytes or DEFAULT_MESSAGE_BYTES,
    )


def credit(message: pb.ReadCredit) -> Credit:
    """credit checks a ReadCredit."""
    problems: list[FieldViolation] = []
    if message.operations < 0:
        problems.append(FieldViolation("credit.operations", "must not be negative"))
    if message.bytes < 0:
        problems.append(FieldViolation("credit.bytes", "must not be negative"))
    if message.follower_global_checkpoint < -1:
        problems.append(
            FieldViolation("credit.follower_global_checkpoint", "must be -1 (nothing) or more")
        )
    _raise(problems)
    return Credit(message.operations, message.bytes, message.follower_global_checkpoint)


def _call_problems(
    leader_index: str, shard: int, lease_field: str, lease_id: str
) -> list[FieldViolation]:
    """_call_problems names what is wrong with the index, shard and lease id that every
    leader call besides the stream names (the lease id is required)."""
    problems: list[FieldViolation] = []
    try:
        index_name(leader_index, "leader_index")
    except InvalidArgument as exc:
        problems += exc.violations
    if shard < 0:
        problems.append(FieldViolation("shard", "must not be negative"))
    if not lease_id:
        problems.append(FieldViolation(lease_field, "is required"))
    _bounded(lease_id, lease_field, MAX_LEASE_ID_BYTES, problems)
    return problems


def bootstrap_request(request: pb.BootstrapRequest) -> int:
    """bootstrap_request checks a BootstrapRequest; returns its chunk bound in bytes."""
    problems = _call_problems(
        request.leader_index, request.shard, "retention_lease_id", request.retention_lease_id
    )
    _bounded(request.follower_index, "follower_index", MAX_SOURCE_BYTES, problems)
    if request.max_chunk_bytes < 0:
        problems.append(FieldViolation("max_chunk_bytes", "must not be negative (0 means 1 MiB)"))
    _raise(problems)
    return request.max_chunk_bytes or DEFAULT_MESSAGE_BYTES


def lease_request(request: pb.PutRetentionLeaseRequest) -> timedelta:
    """lease_request checks a PutRetentionLeaseRequest; returns its period (12 h when unset)."""
    problems = _call_problems(request.leader_index, request.shard, "lease_id", request.lease_id)
    _bounded(request.source, "source", MAX_SOURCE_BYTES, problems)
    if request.retaining_seq_no < 0:
        problems.append(FieldViolation("retaining_seq_no", "must not be negative"))
    period = DEFAULT_RETENTION
    if request.HasField("period"):
        seconds = _duration(request.period, "period", MAX_LEASE_PERIOD.total_seconds(), problems)
        if seconds == 0 and not problems:
            problems.append(FieldViolation("period", "must be positive (unset means 12h)"))
        period = timedelta(seconds=seconds)
    _raise(problems)
    return period


def remove_request(request: pb.RemoveRetentionLeaseRequest) -> None:
    """remove_request checks a RemoveRetentionLeaseRequest."""
    _raise(_call_problems(request.leader_index, request.shard, "lease_id", request.lease_id))


def operation_version(kind: OpKind, seq_no: int) -> int:
    """operation_version is a document's version after the operation (see the module doc)."""
    return seq_no + 1 if kind is OpKind.INDEX else 0


def operation_to_proto(op: Operation) -> pb.Operation:
    index = op.kind is OpKind.INDEX
    return pb.Operation(
        seq_no=op.seq_no,
        type=pb.OPERATION_TYPE_INDEX if index else pb.OPERATION_TYPE_DELETE,
        doc_id=op.id,
        source=op.source if index and op.source is not None else b"",
        version=operation_version(op.kind, op.seq_no),
        write_time=timestamp(op.write_time),
    )


def document_to_proto(doc: SnapshotDoc) -> pb.Operation:
    """document_to_proto is a snapshot document as the INDEX operation that last wrote it."""
    return pb.Operation(
        seq_no=doc.seq_no,
        type=pb.OPERATION_TYPE_INDEX,
        doc_id=doc.id,
        source=doc.source,
        version=operation_version(OpKind.INDEX, doc.seq_no),
        write_time=timestamp(doc.write_time),
    )


def lease_to_proto(lease: RetentionLease, period: timedelta) -> indices_pb2.RetentionLease:
    message = indices_pb2.RetentionLease(
        id=lease.lease_id,
        retaining_seq_no=lease.retaining_seq_no,
        source=lease.source,
        renew_time=timestamp(lease.expires_at - period.total_seconds()),
        expire_time=timestamp(lease.expires_at),
    )
    message.period.FromTimedelta(period)
    return message
