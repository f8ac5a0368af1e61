"""Calling any RPC generically and judging the answer: deliberate statuses only.

A deliberate answer is OK or one of the statuses Ferry raises on purpose.
INVALID_ARGUMENT must carry a google.rpc.BadRequest whose field violations
name fields of the request; UNIMPLEMENTED must name the missing capability;
UNAVAILABLE must name an unreachable remote cluster. UNKNOWN, INTERNAL and
DEADLINE_EXCEEDED (with a generous timeout) are bugs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.descriptor import Descriptor, MethodDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from tests.fuzz.messages import message_class

TIMEOUT = 20.0
"""TIMEOUT is generous: an answer this late means the server is stuck."""

HEALTH_EVERY = 10
"""HEALTH_EVERY is how many calls a client makes between health checks of its server."""

DELIBERATE = frozenset(
    {
        grpc.StatusCode.OK,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)

UNREACHABLE_REMOTE = re.compile(r"remote cluster '[^']*' is unreachable")
"""UNREACHABLE_REMOTE is the message of the one deliberate UNAVAILABLE: a call that needs a
registered remote cluster none of whose addresses answered (say, a fuzzed one)."""

UNDECODABLE_FIELD = "request"
"""UNDECODABLE_FIELD is the field a violation names when the request bytes do not decode."""

_ROOT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class Outcome:
    """Outcome is what one call came back with; violations are BadRequest (field, description)."""

    code: grpc.StatusCode
    message: str = ""
    violations: list[tuple[str, str]] = field(default_factory=list)
    responses: list[Any] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.code == grpc.StatusCode.OK

    @property
    def response(self) -> Any:
        [response] = self.responses
        return response

    def fields(self) -> list[str]:
        return [f for f, _ in self.violations]


def _outcome(error: grpc.RpcError) -> Outcome:
    call: Any = error
    outcome = Outcome(call.code(), call.details() or "")
    try:
        status = rpc_status.from_call(call)
    except ValueError:  # details cut off by the transport: the code alone tells the story
        status = None
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                outcome.violations += [(v.field, v.description) for v in bad.field_violations]
    return outcome


def check_deliberate(
    outcome: Outcome,
    requests: Sequence[Message],
    what: str,
    *,
    max_request_bytes: int,
    stream_of: Descriptor | None = None,
) -> None:
    """check_deliberate fails unless outcome is a deliberate, well-formed answer to requests.

    An empty ``requests`` means the bytes sent did not decode: INVALID_ARGUMENT
    must then name :data:`UNDECODABLE_FIELD`. ``stream_of`` is the request type
    of a client stream, which may send no message at all: a violation may then
    name any of its fields (the first message it lacks).
    """
    where = f"{what} -> {outcome.code.name}: {outcome.message[:500]!r}"
    if outcome.code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        # The transport's own limit on message size: deliberate only above it.
        assert any(r.ByteSize() > max_request_bytes for r in requests), where
        return
    if outcome.code == grpc.StatusCode.UNAVAILABLE:
        assert UNREACHABLE_REMOTE.search(outcome.message), where
        return
    assert outcome.code in DELIBERATE, where
    if outcome.code == grpc.StatusCode.INVALID_ARGUMENT:
        assert outcome.violations, f"no BadRequest field violations: {where}"
        allowed = {UNDECODABLE_FIELD} if not requests and stream_of is None else set()
        if stream_of is not None:
            allowed |= set(stream_of.fields_by_name)
        for request in requests:
            allowed |= set(request.DESCRIPTOR.fields_by_name)
        for name, description in outcome.violations:
            root = _ROOT.match(name)
            assert root and root.group() in allowed, f"violation names {name!r}: {where}"
            assert description, f"violation of {name!r} has no description: {where}"
    elif outcome.code == grpc.StatusCode.UNIMPLEMENTED:
        assert "not implemented yet" in outcome.message, f"capability not named: {where}"
    elif not outcome.ok:
        assert outcome.message, where


def method_path(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


class Client:
    """Client calls any method of a server by descriptor and checks its health now and then."""

    def __init__(self, address: str, *, max_request_bytes: int = 4 * 1024 * 1024) -> None:
        self.address = address
        self.max_request_bytes = max_request_bytes
        self.channel = grpc.insecure_channel(
            address, options=[("grpc.max_receive_message_length", 256 * 1024 * 1024)]
        )
        self._health = health_pb2_grpc.HealthStub(self.channel)
        self._calls = 0

    def close(self) -> None:
        self.channel.close()

    def serving(self) -> bool:
        reply = self._health.Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT)
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def _counted(self) -> None:
        self._calls += 1
        if self._calls % HEALTH_EVERY == 0:
            assert self.serving(), f"{self.address} stopped serving"

    def invoke(self, method: MethodDescriptor, requests: Sequence[Message]) -> Outcome:
        """invoke sends requests (one unless the method streams them) and collects the answer."""
        self._counted()
        response = message_class(method.output_type)
        path = method_path(method)
        serialize, deserialize = _serialize, response.FromString
        try:
            if method.client_streaming and method.server_streaming:
                bidi = self.channel.stream_stream(path, serialize, deserialize)
                return _ok(bidi(iter(requests), timeout=TIMEOUT))
            if method.client_streaming:
                upload = self.channel.stream_unary(path, serialize, deserialize)
                return _ok([upload(iter(requests), timeout=TIMEOUT)])
            [request] = requests
            if method.server_streaming:
                download = self.channel.unary_stream(path, serialize, deserialize)
                return _ok(download(request, timeout=TIMEOUT))
            unary = self.channel.unary_unary(path, serialize, deserialize)
            return _ok([unary(request, timeout=TIMEOUT)])
        except grpc.RpcError as error:
            return _outcome(error)

    def invoke_raw(self, method: MethodDescriptor, raw: bytes) -> Outcome:
        """invoke_raw sends bytes as they are, as the one request (or the first of the stream)."""
        self._counted()
        path = method_path(method)
        try:
            if method.client_streaming and method.server_streaming:
                return _ok(self.channel.stream_stream(path)(iter([raw]), timeout=TIMEOUT))
            if method.client_streaming:
                return _ok([self.channel.stream_unary(path)(iter([raw]), timeout=TIMEOUT)])
            if method.server_streaming:
                return _ok(self.channel.unary_stream(path)(raw, timeout=TIMEOUT))
            return _ok([self.channel.unary_unary(path)(raw, timeout=TIMEOUT)])
        except grpc.RpcError as error:
            return _outcome(error)

    def call(self, method: MethodDescriptor, *requests: Message) -> Outcome:
        """call invokes and fails the test unless the answer is deliberate."""
        outcome = self.invoke(method, requests)
        what = f"{method_path(method)}({_brief(requests)})"
        check_deliberate(
            outcome,
            requests,
            what,
            max_request_bytes=self.max_request_bytes,
            stream_of=method.input_type if method.client_streaming else None,
        )
        return outcome


def _ok(responses: Iterable[Any]) -> Outcome:
    return Outcome(grpc.StatusCode.OK, responses=list(responses))


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def _brief(requests: Iterable[Message]) -> str:
    text = "; ".join(str(r).replace("\n", " ") for r in requests)
    return text if len(text) <= 400 else text[:400] + "..."
