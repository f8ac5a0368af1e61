"""FollowParams: a follower's tuning, CCR's defaults filled in, validated and merged.

Zero or unset fields of :class:`~ferry.v1.replication_pb2.FollowParameters`
take the defaults (CCR's). Durations are the exception to "zero means
default": an unset ``read_poll_timeout`` is 1 m, but a set ``0s`` answers at
once.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from google.protobuf import duration_pb2

from ferry.errors import FieldViolation, InvalidArgument
from ferry.v1 import replication_pb2 as pb

MIB = 1024 * 1024
UNBOUNDED_BYTES = 2**63 - 1
UNBOUNDED_COUNT = 2**31 - 1
MAX_DURATION = 3600.0
"""MAX_DURATION bounds max_retry_delay and read_poll_timeout (1 h)."""


@dataclass(frozen=True)
class FollowParams:
    """FollowParams are a follower's effective parameters (seconds for durations)."""

    max_read_request_operation_count: int = 5120
    max_outstanding_read_requests: int = 12
    max_read_request_size: int = 32 * MIB
    max_write_request_operation_count: int = 5120
    max_write_request_size: int = UNBOUNDED_BYTES
    max_outstanding_write_requests: int = 9
    max_write_buffer_count: int = UNBOUNDED_COUNT
    max_write_buffer_size: int = 512 * MIB
    max_retry_delay: float = 0.5
    read_poll_timeout: float = 60.0

    def to_proto(self) -> pb.FollowParameters:
        message = pb.FollowParameters()
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in DURATIONS:
                getattr(message, f.name).CopyFrom(_duration(value))
            else:
                setattr(message, f.name, value)
        return message


DURATIONS = frozenset({"max_retry_delay", "read_poll_timeout"})
_COUNT_LIMITS = {
    "max_read_request_operation_count": UNBOUNDED_COUNT,
    "max_outstanding_read_requests": 1024,
    "max_write_request_operation_count": UNBOUNDED_COUNT,
    "max_outstanding_write_requests": 1024,
    "max_write_buffer_count": UNBOUNDED_COUNT,
}


def _duration(seconds: float) -> duration_pb2.Duration:
    message = duration_pb2.Duration()
    message.FromNanoseconds(round(seconds * 1e9))
    return message


def violations(message: pb.FollowParameters, path: str = "parameters") -> list[FieldViolation]:
    """violations lists what is wrong with requested parameters, each naming its field."""
    found: list[FieldViolation] = []
    for f in fields(FollowParams):
        where = f"{path}.{f.name}"
        if f.name in DURATIONS:
            if not message.HasField(f.name):
                continue
            d = getattr(message, f.name)
            if d.seconds < 0 or d.nanos < 0 or not 0 <= d.nanos < 1_000_000_000:
                found.append(FieldViolation(where, "must be a non-negative duration"))
            elif d.ToNanoseconds() > MAX_DURATION * 1e9:
                found.append(FieldViolation(where, f"must be at most {MAX_DURATION:.0f}s"))
            elif f.name == "max_retry_delay" and d.ToNanoseconds() == 0:
                found.append(FieldViolation(where, "must be positive"))
            continue
        value = getattr(message, f.name)
        if value < 0:
            found.append(FieldViolation(where, "must not be negative (0 means the default)"))
        elif value > _COUNT_LIMITS.get(f.name, UNBOUNDED_BYTES):
            found.append(FieldViolation(where, f"must be at most {_COUNT_LIMITS[f.name]}"))
    return found


def check(message: pb.FollowParameters, path: str = "parameters") -> None:
    """check raises InvalidArgument naming every bad field."""
    found = violations(message, path)
    if found:
        raise InvalidArgument.fields(found)


def _set_fields(message: pb.FollowParameters) -> dict[str, float | int]:
    """_set_fields are the fields a request sets: non-zero numbers, present durations."""
    chosen: dict[str, float | int] = {}
    for f in fields(FollowParams):
        if f.name in DURATIONS:
            if message.HasField(f.name):
                chosen[f.name] = getattr(message, f.name).ToNanoseconds() / 1e9
        elif getattr(message, f.name):
            chosen[f.name] = getattr(message, f.name)
    return chosen


def effective(message: pb.FollowParameters) -> FollowParams:
    """effective fills the defaults into requested (already checked) parameters."""
    return FollowParams(**_set_fields(message))  # type: ignore[arg-type]


def merged(current: pb.FollowParameters, update: pb.FollowParameters) -> FollowParams:
    """merged is ``current`` with the fields ``update`` sets replaced (Resume)."""
    values = {**_set_fields(current), **_set_fields(update)}
    return FollowParams(**values)  # type: ignore[arg-type]
