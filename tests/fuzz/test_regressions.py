"""One plain example per bug the fuzzers found, named after it, so none comes back.

Each test sends the smallest input that used to crash (UNKNOWN, INTERNAL),
hang the server, lose the error on the way to the client, or be accepted
although invalid; it now gets a deliberate answer naming the field.
"""

from __future__ import annotations

import json
import time

import grpc
import pytest
from google.protobuf import struct_pb2
from google.protobuf.descriptor import MethodDescriptor

from ferry.errors import MAX_STATUS_VIOLATIONS, InvalidArgument
from ferry.specs import parse_specs
from ferry.store import DEFAULT_LIMITS
from ferry.store.common import encode_cursor
from ferry.v1 import agents_pb2, connectors_pb2, indices_pb2
from tests.fuzz.conftest import Services
from tests.fuzz.outcome import Client, Outcome

CONNECTORS = connectors_pb2.DESCRIPTOR.services_by_name["Connectors"].methods_by_name
INDICES = indices_pb2.DESCRIPTOR.services_by_name["Indices"].methods_by_name
AGENTS = agents_pb2.DESCRIPTOR.services_by_name["Agents"].methods_by_name
INDEX = "fz-regressions"
STOPPED = "fz-regressions-stopped"


def spec(name: str = "fz-regression", **fields: object) -> connectors_pb2.ConnectorSpec:
    """spec is a valid generator spec, with some fields replaced."""
    valid = {"name": name, "type": "generator", "index": "fz-regression"}
    built = connectors_pb2.ConnectorSpec(**{**valid, **fields})  # type: ignore[arg-type]
    built.config.update({"docs": 10})
    return built


def invalid(outcome: Outcome, *fields: str) -> None:
    assert outcome.code == grpc.StatusCode.INVALID_ARGUMENT, outcome
    assert outcome.fields() == list(fields), outcome


@pytest.fixture(scope="module")
def client(services: Services) -> Client:
    """client talks to the coordinator, which holds INDEX (one text field) and STOPPED."""
    c = services.coordinator_client
    schema = indices_pb2.IndexSchema(
        fields=[
            indices_pb2.IndexField(path="n", type=indices_pb2.INDEX_FIELD_TYPE_LONG),
            indices_pb2.IndexField(path="t", type=indices_pb2.INDEX_FIELD_TYPE_TEXT),
        ]
    )
    assert c.call(INDICES["Create"], indices_pb2.CreateIndexRequest(name=INDEX, schema=schema)).ok
    ops = [
        indices_pb2.BulkOperation(
            type=indices_pb2.BULK_OPERATION_TYPE_INDEX,
            id=f"d{i}",
            source=struct_pb2.Struct(fields={"n": struct_pb2.Value(number_value=i)}),
        )
        for i in range(3)
    ]
    assert c.call(INDICES["Bulk"], indices_pb2.BulkRequest(index=INDEX, operations=ops)).ok
    stopped = connectors_pb2.CreateConnectorRequest(
        spec=spec(STOPPED), initial_state=connectors_pb2.CONNECTOR_STATE_STOPPED
    )
    assert c.call(CONNECTORS["Create"], stopped).ok
    return c


def _nested_struct_bytes(depth: int) -> bytes:
    """_nested_struct_bytes is a ValidateConnectorRequest whose spec.config nests depth Structs."""

    def field(number: int, payload: bytes) -> bytes:
        size, length = len(payload), bytearray()
        while True:
            byte, size = size & 0x7F, size >> 7
            length.append(byte | (0x80 if size else 0))
            if not size:
                break
        return bytes([number << 3 | 2]) + bytes(length) + payload

    inner = b""
    for _ in range(depth):  # Struct{fields: {"a": Value{struct_value: inner}}}
        inner = field(1, field(1, b"a") + field(2, field(5, inner)))
    return field(1, field(1, b"x") + field(4, inner))


@pytest.mark.parametrize(
    "raw",
    [b"\xff\xff\xff", b"\x0a\x03\x0a\x01\xff", _nested_struct_bytes(120)],
    ids=["corrupt", "not-utf8", "nested-past-protobuf-limit"],
)
def test_regression_undecodable_request_is_invalid_argument(client: Client, raw: bytes) -> None:
    # Was UNKNOWN "Unexpected <class 'DecodeError'>", raised by grpc before any servicer ran.
    invalid(client.invoke_raw(CONNECTORS["Validate"], raw), "request")


def test_regression_error_quoting_a_huge_value_reaches_the_client(client: Client) -> None:
    # Was RESOURCE_EXHAUSTED on the client: the status (message and details) quoted the
    # 100 KB value and no longer fit gRPC's trailing metadata.
    missing = client.call(AGENTS["Drain"], agents_pb2.DrainAgentRequest(id="\u00e9" * 100_000))
    assert missing.code == grpc.StatusCode.NOT_FOUND and missing.message.endswith("not found")
    bad_cron = spec(schedule=connectors_pb2.Schedule(full="\U0001f600" * 50_000))
    invalid(
        client.call(CONNECTORS["Create"], connectors_pb2.CreateConnectorRequest(spec=bad_cron)),
        "spec.schedule.full",
    )


def test_regression_thousands_of_violations_reach_the_client(client: Client) -> None:
    rules = connectors_pb2.SyncRules(basic=[connectors_pb2.BasicRule()] * 2000)
    created = client.call(
        CONNECTORS["Create"], connectors_pb2.CreateConnectorRequest(spec=spec(rules=rules))
    )
    assert created.code == grpc.StatusCode.INVALID_ARGUMENT
    assert len(created.violations) == MAX_STATUS_VIOLATIONS
    assert created.violations[-1][1].endswith("more violations)")


@pytest.mark.parametrize(
    ("method", "request_", "field"),
    [
        (
            CONNECTORS["Create"],
            connectors_pb2.CreateConnectorRequest(spec=spec("trailing\n")),
            "spec.name",
        ),
        (
            CONNECTORS["Create"],
            connectors_pb2.CreateConnectorRequest(spec=spec(index="trailing\n")),
            "spec.index",
        ),
        (
            CONNECTORS["Create"],
            connectors_pb2.CreateConnectorRequest(spec=spec(agent_selector={"zone": "eu\n"})),
            "spec.agent_selector.zone",
        ),
        (INDICES["Create"], indices_pb2.CreateIndexRequest(name="trailing\n"), "name"),
        (
            INDICES["UpdateSchema"],
            indices_pb2.UpdateIndexSchemaRequest(
                name=INDEX,
                fields=[indices_pb2.IndexField(path="q\n", type=indices_pb2.INDEX_FIELD_TYPE_TEXT)],
            ),
            "fields[0].path",
        ),
    ],
    ids=["connector-name", "connector-index", "label-value", "index-name", "field-path"],
)
def test_regression_trailing_newline_in_names(
    client: Client, method: MethodDescriptor, request_: object, field: str
) -> None:
    # Was accepted: the name patterns ended in "$", which also matches before a final "\n".
    invalid(client.call(method, request_), field)  # type: ignore[arg-type]


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_regression_non_finite_number_in_connector_config(client: Client, number: float) -> None:
    # Was INTERNAL: JSON cannot hold NaN or infinities, and encoding the config crashed.
    bad = spec()
    bad.config.update({"docs": number})
    validated = client.call(
        CONNECTORS["Validate"], connectors_pb2.ValidateConnectorRequest(spec=bad)
    )
    assert [e.field for e in validated.response.errors] == ["spec.config.docs"]
    created = client.call(CONNECTORS["Create"], connectors_pb2.CreateConnectorRequest(spec=bad))
    invalid(created, "spec.config.docs")


def test_regression_unknown_initial_state(client: Client) -> None:
    # Was stored as state 99; AlterOffsets on it then crashed naming the state (INTERNAL).
    request = connectors_pb2.CreateConnectorRequest(spec=spec("fz-state-99"), initial_state=99)
    invalid(client.call(CONNECTORS["Create"], request), "initial_state")
    got = client.call(CONNECTORS["Get"], connectors_pb2.GetConnectorRequest(name="fz-state-99"))
    assert got.code == grpc.StatusCode.NOT_FOUND


def test_regression_unknown_enum_numbers_in_spec(client: Client) -> None:
    # Were accepted and stored: only the UNSPECIFIED value was checked.
    rule = connectors_pb2.BasicRule(field="a", operator=55, policy=66)
    bad = spec(isolation=77, rules=connectors_pb2.SyncRules(basic=[rule]))
    invalid(
        client.call(CONNECTORS["Create"], connectors_pb2.CreateConnectorRequest(spec=bad)),
        "spec.isolation",
        "spec.rules.basic[0].operator",
        "spec.rules.basic[0].policy",
    )


@pytest.mark.parametrize("pattern", ["(" * 5000, "a{4294967296}"], ids=["nested", "repeat"])
def test_regression_regex_rule_that_cannot_compile(client: Client, pattern: str) -> None:
    # Was INTERNAL: re.compile raised RecursionError / OverflowError, not re.error.
    rule = connectors_pb2.BasicRule(
        field="a",
        operator=connectors_pb2.RULE_OPERATOR_REGEX,
        policy=connectors_pb2.RULE_POLICY_INCLUDE,
        value=pattern,
    )
    bad = spec(rules=connectors_pb2.SyncRules(basic=[rule]))
    invalid(
        client.call(CONNECTORS["Create"], connectors_pb2.CreateConnectorRequest(spec=bad)),
        "spec.rules.basic[0].value",
    )


@pytest.mark.parametrize(("seconds", "nanos"), [(10**15, 0), (1, 2_000_000_000)])
def test_regression_backoff_duration_out_of_range(client: Client, seconds: int, nanos: int) -> None:
    # Was INTERNAL: protobuf cannot write such a Duration as JSON, so storing it crashed.
    policy = connectors_pb2.ErrorPolicy()
    policy.initial_backoff.seconds, policy.initial_backoff.nanos = seconds, nanos
    bad = spec(error_policy=policy)
    invalid(
        client.call(CONNECTORS["Create"], connectors_pb2.CreateConnectorRequest(spec=bad)),
        "spec.error_policy.initial_backoff",
    )


def test_regression_backoff_durations_too_large_to_compare(client: Client) -> None:
    # Was INTERNAL from Validate: comparing max_backoff with initial_backoff converted
    # both to timedelta, which overflows ("Python int too large to convert to C int").
    policy = connectors_pb2.ErrorPolicy()
    policy.initial_backoff.seconds = policy.max_backoff.seconds = 2**63 - 1
    validated = client.call(
        CONNECTORS["Validate"],
        connectors_pb2.ValidateConnectorRequest(spec=spec(error_policy=policy)),
    )
    assert [e.field for e in validated.response.errors] == [
        "spec.error_policy.initial_backoff",
        "spec.error_policy.max_backoff",
    ]


@pytest.mark.parametrize("cron", ["0 0 30 2 *", "0 0 31 4,6 *"])
def test_regression_cron_that_never_fires(client: Client, cron: str) -> None:
    # Was accepted: the syntax is valid, but no date matches, so no sync would ever run.
    bad = spec(schedule=connectors_pb2.Schedule(incremental=cron))
    created = client.call(CONNECTORS["Create"], connectors_pb2.CreateConnectorRequest(spec=bad))
    invalid(created, "spec.schedule.incremental")
    assert "never matches" in created.violations[0][1]


def test_regression_spec_too_large_for_etcd(client: Client) -> None:
    # Was INTERNAL: etcd refused the 3.7 MB value ("received message larger than max").
    selector = {f"k{i}" + "a" * 300: "v" * 60 for i in range(10_000)}
    bad = spec(agent_selector=selector)
    invalid(
        client.call(CONNECTORS["Create"], connectors_pb2.CreateConnectorRequest(spec=bad)), "spec"
    )


@pytest.mark.parametrize(
    ("offsets", "field"),
    [
        ([connectors_pb2.TaskOffset(partition="p")] * 2, "offsets[1].partition"),
        ([connectors_pb2.TaskOffset(partition=f"p{i}") for i in range(200)], "offsets"),
        ([connectors_pb2.TaskOffset(partition="p" * 2_000_000)], "offsets[0].partition"),
        (
            [connectors_pb2.TaskOffset(partition="p", cursor={"next": float("inf")})],
            "offsets[0].cursor.next",
        ),
        (
            [connectors_pb2.TaskOffset(partition="p", cursor={"blob": "x" * 100_000})],
            "offsets[0].cursor",
        ),
    ],
    ids=["duplicate", "more-than-one-transaction", "huge-partition", "infinite", "huge-cursor"],
)
def test_regression_alter_offsets_etcd_cannot_hold(
    client: Client, offsets: list[connectors_pb2.TaskOffset], field: str
) -> None:
    # Were INTERNAL: etcd refused the transaction (duplicate key, too many operations,
    # request too large), or JSON could not hold the cursor.
    request = connectors_pb2.AlterOffsetsRequest(name=STOPPED, offsets=offsets)
    invalid(client.call(CONNECTORS["AlterOffsets"], request), field)


@pytest.mark.parametrize(
    "values", [[{"a": 1}, "d0"], [[1], "d0"], [10**30, "d0"], [1, {"a": 1}]], ids=str
)
def test_regression_forged_page_token_cursor(client: Client, values: list[object]) -> None:
    # Was INTERNAL: SQLite cannot bind a dict, a list or an integer past 64 bits.
    search = indices_pb2.SearchRequest(
        index=INDEX, sort=[indices_pb2.SortField(field="n")], page_size=1
    )
    token = client.call(INDICES["Search"], search).response.next_page_token
    search.page_token = token.partition(".")[0] + "." + encode_cursor(values)
    invalid(client.call(INDICES["Search"], search), "page_token")


def test_regression_too_many_filters_and_sort_fields(client: Client) -> None:
    # Was INTERNAL: SQLite's "Expression tree is too large" and "too many columns".
    prefix = indices_pb2.Filter(field="t", prefix="a")
    many_filters = indices_pb2.SearchRequest(index=INDEX, filters=[prefix] * 5000)
    invalid(client.call(INDICES["Search"], many_filters), "filters")
    invalid(
        client.call(
            INDICES["Count"], indices_pb2.CountRequest(index=INDEX, filters=[prefix] * 5000)
        ),
        "filters",
    )
    many_sorts = indices_pb2.SearchRequest(
        index=INDEX, sort=[indices_pb2.SortField(field="n")] * 3000
    )
    invalid(client.call(INDICES["Search"], many_sorts), "sort")


def test_regression_list_pattern_of_brackets_does_not_block_the_server(client: Client) -> None:
    # Was a hang: translating "[" * 100000 to a regex is quadratic, on the event loop,
    # long enough for the coordinator's etcd session to expire.
    started = time.monotonic()
    listed = client.call(INDICES["List"], indices_pb2.ListIndicesRequest(pattern="[" * 100_000))
    invalid(listed, "pattern")
    assert time.monotonic() - started < 5
    assert client.serving()


def test_regression_document_id_errors_name_request_fields(client: Client) -> None:
    # Were named "doc_id" and "doc_ids[1]", the store's parameters, not the request's fields.
    get = indices_pb2.GetDocumentRequest(index=INDEX, id="a\x00b")
    invalid(client.call(INDICES["GetDocument"], get), "id")
    multi = indices_pb2.MultiGetRequest(index=INDEX, ids=["d0", "x" * 600])
    invalid(client.call(INDICES["MultiGet"], multi), "ids[1]")


def test_regression_match_without_text_fields_names_match_query(client: Client) -> None:
    # Was named "query.match", the store's name; the request's field is match.query.
    schema = indices_pb2.IndexSchema(
        fields=[indices_pb2.IndexField(path="k", type=indices_pb2.INDEX_FIELD_TYPE_KEYWORD)]
    )
    create = indices_pb2.CreateIndexRequest(name="fz-no-text", schema=schema)
    assert client.call(INDICES["Create"], create).ok
    search = indices_pb2.SearchRequest(index="fz-no-text", match=indices_pb2.MatchQuery(query="a"))
    invalid(client.call(INDICES["Search"], search), "match.query")
    count = indices_pb2.CountRequest(index="fz-no-text", match=indices_pb2.MatchQuery(query="a"))
    invalid(client.call(INDICES["Count"], count), "match.query")


def test_regression_oversized_document_names_operation_and_id(client: Client) -> None:
    # Was RESOURCE_EXHAUSTED from the transport (4 MiB) before the store's 10 MiB limit
    # could name the operation and the document.
    big = struct_pb2.Struct()
    big.update({"t": "x" * (DEFAULT_LIMITS.max_document_bytes + 1)})
    ops = [
        indices_pb2.BulkOperation(type=indices_pb2.BULK_OPERATION_TYPE_DELETE, id="d0"),
        indices_pb2.BulkOperation(type=indices_pb2.BULK_OPERATION_TYPE_INDEX, id="big", source=big),
    ]
    refused = client.call(INDICES["Bulk"], indices_pb2.BulkRequest(index=INDEX, operations=ops))
    invalid(refused, "operations[1].source")
    assert "'big'" in refused.violations[0][1]
    kept = client.call(INDICES["GetDocument"], indices_pb2.GetDocumentRequest(index=INDEX, id="d0"))
    assert kept.ok, "the refused batch deleted d0"


@pytest.mark.parametrize(
    ("method", "request_", "field"),
    [
        (
            CONNECTORS["Update"],
            connectors_pb2.UpdateConnectorRequest(spec=spec(STOPPED), expected_revision=-5),
            "expected_revision",
        ),
        (
            CONNECTORS["Delete"],
            connectors_pb2.DeleteConnectorRequest(name=STOPPED, expected_revision=-1),
            "expected_revision",
        ),
        (
            INDICES["UpdateSchema"],
            indices_pb2.UpdateIndexSchemaRequest(name=INDEX, expected_version=-1),
            "expected_version",
        ),
    ],
    ids=["update", "delete", "update-schema"],
)
def test_regression_negative_expected_revision(
    client: Client, method: MethodDescriptor, request_: object, field: str
) -> None:
    # Was ABORTED (retriable) for a revision no record can ever have.
    invalid(client.call(method, request_), field)  # type: ignore[arg-type]


def test_regression_deeply_nested_yaml_in_connector_file() -> None:
    # Was RecursionError out of PyYAML, past every caller's InvalidArgument handling.
    with pytest.raises(InvalidArgument) as raised:
        parse_specs("[" * 5000)
    assert [v.field for v in raised.value.violations] == ["file"]


def test_regression_huge_integer_in_connector_file() -> None:
    # Was OverflowError: a Struct holds doubles, and 10**400 is past every double.
    with pytest.raises(InvalidArgument) as raised:
        parse_specs("name: x\nconfig: {docs: 1" + "0" * 400 + "}")
    assert [v.field for v in raised.value.violations] == ["connectors[0]"]


def test_regression_surrogates_in_connector_file() -> None:
    # A JSON escape of an emoji was read as two surrogates and refused; as a key it was
    # SystemError from protobuf. Pairs are now joined, lone surrogates named.
    [entry] = parse_specs(json.dumps({"name": "x", "config": {"\U0001f600": "\U0001f600"}}))
    assert entry.spec.config["\U0001f600"] == "\U0001f600"
    with pytest.raises(InvalidArgument) as raised:
        parse_specs('{"name": "x", "agent_selector": {"\\ud800": "a"}}')
    assert [v.field for v in raised.value.violations] == ["connectors[0].agent_selector"]
