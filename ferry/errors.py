"""Ferry's error vocabulary.

Every error Ferry raises on purpose derives from :class:`FerryError`. Each
subclass maps to exactly one gRPC status code and says whether a caller may
retry. Servers turn them into rich statuses carrying ``google.rpc`` details
(BadRequest field violations, PreconditionFailure, ResourceInfo) so that any
gRPC client, grpcurl included, can see which field or resource was at fault.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

# A status travels in gRPC trailing metadata (grpc-message, and grpc-status-details-bin
# in base64), which clients refuse past 8 KiB by default. These bounds keep the worst
# case (every character non-ASCII, so percent-encoded) under that, however much of a
# huge request an error quotes.
MAX_STATUS_MESSAGE_BYTES = 512
MAX_STATUS_VIOLATIONS = 8
MAX_STATUS_FIELD_BYTES = 128
MAX_STATUS_DESCRIPTION_BYTES = 160


def clip(text: str, max_bytes: int) -> str:
    """clip shortens text to at most max_bytes of UTF-8, keeping its start and end around "…"."""
    raw = text.encode()
    if len(raw) <= max_bytes:
        return text
    keep = max_bytes - len("…".encode())
    head = raw[: keep * 2 // 3].decode(errors="ignore")
    tail = raw[len(raw) - (keep - len(head.encode())) :].decode(errors="ignore")
    return f"{head}…{tail}"


@dataclass(frozen=True)
class FieldViolation:
    """FieldViolation names one bad field by its path, e.g. ``spec.config.docs``."""

    field: str
    description: str

    def __str__(self) -> str:
        return f"{self.field}: {self.description}"


class FerryError(Exception):
    """FerryError is the root of every error Ferry raises on purpose."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    retriable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> list[any_pb2.Any]:
        """details returns the ``google.rpc`` detail messages for the status."""
        return []

    def to_status(self) -> status_pb2.Status:
        """to_status builds the ``google.rpc.Status`` sent to clients, bounded in size so
        that it fits gRPC's trailing metadata however long the message is."""
        status = status_pb2.Status(
            code=self.code.value[0], message=clip(self.message, MAX_STATUS_MESSAGE_BYTES)
        )
        status.details.extend(self.details())
        return status


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


class InvalidArgument(FerryError):
    """InvalidArgument is bad input; it names every offending field."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, message: str, violations: Iterable[FieldViolation] = ()) -> None:
        self.violations: tuple[FieldViolation, ...] = tuple(violations)
        if self.violations and message.endswith(":"):
            message = f"{message} " + "; ".join(str(v) for v in self.violations)
        super().__init__(message)

    @classmethod
    def field(cls, field: str, description: str) -> InvalidArgument:
        """field builds an error about a single field."""
        return cls(f"{field}: {description}", [FieldViolation(field, description)])

    @classmethod
    def fields(cls, violations: Sequence[FieldViolation]) -> InvalidArgument:
        """fields builds an error listing several bad fields."""
        return cls("invalid request:", violations)

    def details(self) -> list[any_pb2.Any]:
        bad = error_details_pb2.BadRequest()
        shown = self.violations[:MAX_STATUS_VIOLATIONS]
        for v in shown:
            bad.field_violations.add(
                field=clip(v.field, MAX_STATUS_FIELD_BYTES),
                description=clip(v.description, MAX_STATUS_DESCRIPTION_BYTES),
            )
        if len(self.violations) > len(shown):
            last = bad.field_violations[-1]
            last.description = clip(
                f"{last.description} (and {len(self.violations) - len(shown)} more violations)",
                MAX_STATUS_DESCRIPTION_BYTES,
            )
        return [_pack(bad)]


class _ResourceError(FerryError):
    def __init__(self, resource_type: str, name: str, message: str) -> None:
        super().__init__(message)
        self.resource_type = resource_type
        self.name = name

    def details(self) -> list[any_pb2.Any]:
        info = error_details_pb2.ResourceInfo(
            resource_type=self.resource_type,
            resource_name=clip(self.name, MAX_STATUS_FIELD_BYTES),
            description=clip(self.message, MAX_STATUS_DESCRIPTION_BYTES),
        )
        return [_pack(info)]


class NotFound(_ResourceError):
    """NotFound says a named resource does not exist."""

    code = grpc.StatusCode.NOT_FOUND

    def __init__(self, resource_type: str, name: str) -> None:
        super().__init__(resource_type, name, f"{resource_type} {name!r} not found")


class AlreadyExists(_ResourceError):
    """AlreadyExists says a resource with that name is already there."""

    code = grpc.StatusCode.ALREADY_EXISTS

    def __init__(self, resource_type: str, name: str) -> None:
        super().__init__(resource_type, name, f"{resource_type} {name!r} already exists")


class FailedPrecondition(FerryError):
    """FailedPrecondition says the system is not in the state the call needs."""

    code = grpc.StatusCode.FAILED_PRECONDITION

    def __init__(self, message: str, *, type: str = "STATE", subject: str = "") -> None:
        super().__init__(message)
        self.type = type
        self.subject = subject

    def details(self) -> list[any_pb2.Any]:
        failure = error_details_pb2.PreconditionFailure()
        failure.violations.add(
            type=self.type,
            subject=clip(self.subject, MAX_STATUS_FIELD_BYTES),
            description=clip(self.message, MAX_STATUS_DESCRIPTION_BYTES),
        )
        return [_pack(failure)]


class Fenced(FailedPrecondition):
    """Fenced says a write carried a fencing token that a newer owner superseded."""

    def __init__(self, subject: str, detail: str = "") -> None:
        message = f"fenced: {subject} is owned by a newer token"
        super().__init__(
            f"{message} ({detail})" if detail else message, type="FENCED", subject=subject
        )


class Aborted(FailedPrecondition):
    """Aborted is a lost optimistic-concurrency race (stale revision); re-read and retry."""

    code = grpc.StatusCode.ABORTED
    retriable = True

    def __init__(self, subject: str, expected: int, actual: int) -> None:
        super().__init__(
            f"{subject}: expected revision {expected} but the stored revision is {actual}",
            type="REVISION",
            subject=subject,
        )


class OutOfRange(FerryError):
    """OutOfRange says a request is well formed but reaches past what exists, such as a
    retention lease on history that is already trimmed; asking again will not help."""

    code = grpc.StatusCode.OUT_OF_RANGE


class PermissionDenied(FerryError):
    """PermissionDenied says the caller may not do this here."""

    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(FerryError):
    """Unauthenticated says the caller did not prove who it is."""

    code = grpc.StatusCode.UNAUTHENTICATED


class Unavailable(FerryError):
    """Unavailable is a passing failure of a dependency (etcd, a store, a peer)."""

    code = grpc.StatusCode.UNAVAILABLE
    retriable = True


class SessionLost(Unavailable):
    """SessionLost says the etcd session ended; whatever it owned is gone."""


class Unimplemented(FerryError):
    """Unimplemented names a capability this build does not have yet."""

    code = grpc.StatusCode.UNIMPLEMENTED

    def __init__(self, capability: str) -> None:
        super().__init__(f"{capability} is not implemented yet")
        self.capability = capability


# Keep the google.rpc code enum honest against grpc's numbering.
assert grpc.StatusCode.INVALID_ARGUMENT.value[0] == code_pb2.INVALID_ARGUMENT
