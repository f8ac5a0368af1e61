"""Every RPC of every service, fed random hostile requests and undecodable bytes.

Whatever arrives, each server answers deliberately (see outcome.py) and
keeps SERVING. Requests are random from the descriptors; the deeper,
nearly-valid fuzzing of Connectors and Indices lives in their own modules.
"""

from __future__ import annotations

import time

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.protobuf.message import DecodeError
from hypothesis import given
from hypothesis import strategies as st

from ferry.v1 import (
    agent_pb2,
    agents_pb2,
    cluster_pb2,
    connectors_pb2,
    indices_pb2,
    jobs_pb2,
    leader_replication_pb2,
    replication_pb2,
    replicator_pb2,
)
from tests.fuzz.conftest import Services, fuzz_settings
from tests.fuzz.messages import message_class, messages
from tests.fuzz.outcome import UNDECODABLE_FIELD, check_deliberate, method_path

RANDOM_EXAMPLES = 40
WIRE_EXAMPLES = 8

SERVED = {
    "coordinator": [
        connectors_pb2.DESCRIPTOR.services_by_name["Connectors"],
        indices_pb2.DESCRIPTOR.services_by_name["Indices"],
        agents_pb2.DESCRIPTOR.services_by_name["Agents"],
        cluster_pb2.DESCRIPTOR.services_by_name["Cluster"],
        jobs_pb2.DESCRIPTOR.services_by_name["Jobs"],
        replication_pb2.DESCRIPTOR.services_by_name["Replication"],
    ],
    "agent": [agent_pb2.DESCRIPTOR.services_by_name["Agent"]],
    "replicator": [
        replicator_pb2.DESCRIPTOR.services_by_name["Replicator"],
        leader_replication_pb2.DESCRIPTOR.services_by_name["LeaderReplication"],
    ],
}
METHODS = [(role, m) for role, services in SERVED.items() for s in services for m in s.methods]
IDS = [method_path(m).lstrip("/") for _, m in METHODS]


def test_every_served_service_is_fuzzed(services: Services) -> None:
    for role, fuzzed in SERVED.items():
        server = getattr(services, role).server
        assert sorted(server.services) == sorted(s.full_name for s in fuzzed), role


def request_lists(method: MethodDescriptor) -> st.SearchStrategy[list]:
    """request_lists is one request, or a few for a client-streaming method."""
    one = messages(method.input_type)
    if method.client_streaming:
        return st.lists(one, max_size=3)
    return one.map(lambda r: [r])


@pytest.mark.parametrize(("role", "method"), METHODS, ids=IDS)
@fuzz_settings(RANDOM_EXAMPLES)
@given(data=st.data())
def test_random_requests_get_deliberate_answers(
    services: Services, role: str, method: MethodDescriptor, data: st.DataObject
) -> None:
    services.client(role).call(method, *data.draw(request_lists(method), label="requests"))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def bad_utf8(method: MethodDescriptor) -> st.SearchStrategy[bytes]:
    """bad_utf8 is a request whose first string field holds bytes that are not UTF-8."""
    strings = [f for f in method.input_type.fields if f.type == FieldDescriptor.TYPE_STRING]
    if not strings:
        return st.nothing()
    tag = _varint(strings[0].number << 3 | 2)
    junk = st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"a\x80b"])
    return junk.map(lambda b: tag + _varint(len(b)) + b)


def garbage(method: MethodDescriptor) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(min_size=1, max_size=64), bad_utf8(method))


@pytest.mark.parametrize(("role", "method"), METHODS, ids=IDS)
@fuzz_settings(WIRE_EXAMPLES)
@given(data=st.data())
def test_undecodable_requests_are_invalid_argument(
    services: Services, role: str, method: MethodDescriptor, data: st.DataObject
) -> None:
    raw = data.draw(garbage(method), label="raw")
    client = services.client(role)
    outcome = client.invoke_raw(method, raw)
    try:
        requests = [message_class(method.input_type).FromString(raw)]
    except DecodeError:
        requests = []
        if not method.client_streaming:  # a stream's handler may refuse before reading
            assert outcome.fields() == [UNDECODABLE_FIELD], outcome
    check_deliberate(
        outcome,
        requests,
        f"{method_path(method)}({raw!r})",
        max_request_bytes=client.max_request_bytes,
    )


SYNTAX_BOMBS = [c * 30_000 for c in "[({*?\\%$.\x00"]
"""SYNTAX_BOMBS repeat a character some parser treats specially: their worst cases (a
glob of "["s, a regex of "("s) are often quadratic, and one would stall the server."""
STRING_FIELDS = [
    (role, m, f.name)
    for role, m in METHODS
    for f in m.input_type.fields
    if f.type == FieldDescriptor.TYPE_STRING and not f.is_repeated
]


@pytest.fixture(scope="module")
def an_index(services: Services) -> None:
    """an_index makes sure there is an index, so that List matches its pattern against one."""
    create = indices_pb2.DESCRIPTOR.services_by_name["Indices"].methods_by_name["Create"]
    request = indices_pb2.CreateIndexRequest(name="fz-any")
    created = services.coordinator_client.call(create, request)
    assert created.ok or created.code == grpc.StatusCode.ALREADY_EXISTS, created


@pytest.mark.parametrize(
    ("role", "method", "field"),
    STRING_FIELDS,
    ids=[f"{method_path(m).lstrip('/')}.{f}" for _, m, f in STRING_FIELDS],
)
@pytest.mark.usefixtures("an_index")
def test_syntax_bombs_in_any_string_field_are_answered_at_once(
    services: Services, role: str, method: MethodDescriptor, field: str
) -> None:
    for bomb in SYNTAX_BOMBS:
        request = message_class(method.input_type)(**{field: bomb})
        started = time.monotonic()
        services.client(role).call(method, request)
        took = time.monotonic() - started
        assert took < 2, f"{method_path(method)} took {took:.1f}s over {field}={bomb[:8]!r}..."
