"""``ferry index ...`` against a fake Indices servicer on a real in-process gRPC server.

The fake records requests and returns canned answers: these tests cover
argument parsing, rendering and error reporting. The real servicer and store
are exercised by tests/e2e/test_indices_api.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, struct_pb2, timestamp_pb2

from ferry.errors import InvalidArgument, NotFound
from ferry.v1 import indices_pb2 as pb
from ferry.v1 import indices_pb2_grpc
from tests.unit.fake_servers import abort, rows, run_cli, serving

Ctx = grpc.ServicerContext


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


def _index(name: str, docs: int = 0) -> pb.Index:
    created = timestamp_pb2.Timestamp()
    created.FromJsonString("2026-11-21T11:00:00Z")
    schema = pb.IndexSchema(
        version=2,
        fields=[
            pb.IndexField(path="qty", type=pb.INDEX_FIELD_TYPE_LONG),
            pb.IndexField(path="title", type=pb.INDEX_FIELD_TYPE_TEXT),
        ],
    )
    return pb.Index(name=name, shard_count=2, schema=schema, doc_count=docs, create_time=created)


DOC = pb.Document(id="o-1", source=_struct({"qty": 5, "status": "paid"}), shard=1, seq_no=7)


@dataclass
class FakeIndices(indices_pb2_grpc.IndicesServicer):
    """FakeIndices answers from canned data; List serves one index per page."""

    names: list[str] = field(default_factory=lambda: ["orders", "users"])
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def Create(self, request: pb.CreateIndexRequest, context: Ctx) -> pb.Index:
        self.calls.append(("Create", request))
        schema = pb.IndexSchema(version=1, fields=request.schema.fields)
        return pb.Index(name=request.name, shard_count=request.shard_count, schema=schema)

    def Get(self, request: pb.GetIndexRequest, context: Ctx) -> pb.Index:
        if request.name not in self.names:
            abort(context, NotFound("index", request.name))
        return _index(request.name, docs=12)

    def List(self, request: pb.ListIndicesRequest, context: Ctx) -> pb.ListIndicesResponse:
        self.calls.append(("List", request))
        start = int(request.page_token or 0)
        more = start + 1 < len(self.names)
        return pb.ListIndicesResponse(
            indices=[_index(n, docs=3) for n in self.names[start : start + 1]],
            next_page_token=str(start + 1) if more else "",
        )

    def Delete(self, request: pb.DeleteIndexRequest, context: Ctx) -> pb.DeleteIndexResponse:
        self.calls.append(("Delete", request))
        return pb.DeleteIndexResponse()

    def Stats(self, request: pb.IndexStatsRequest, context: Ctx) -> pb.IndexStats:
        expires = timestamp_pb2.Timestamp()
        expires.FromJsonString("2026-11-21T23:00:00Z")
        lease = pb.RetentionLease(
            id="follower-a", retaining_seq_no=4, source="dr/orders", expire_time=expires
        )
        return pb.IndexStats(
            name=request.name,
            doc_count=9,
            shards=[
                pb.ShardStats(shard=0, doc_count=4, max_seq_no=5, global_checkpoint=5),
                pb.ShardStats(
                    shard=1,
                    doc_count=5,
                    max_seq_no=8,
                    global_checkpoint=8,
                    min_retained_seq_no=3,
                    retention_leases=[lease],
                ),
            ],
        )

    def GetDocument(self, request: pb.GetDocumentRequest, context: Ctx) -> pb.Document:
        if request.id != DOC.id:
            abort(context, NotFound("document", f"{request.index}/{request.id}"))
        return DOC

    def Bulk(self, request: pb.BulkRequest, context: Ctx) -> pb.BulkResponse:
        self.calls.append(("Bulk", request))
        for i, op in enumerate(request.operations):
            if op.id == "bad":
                abort(
                    context,
                    InvalidArgument.field(
                        f"operations[{i}].source.qty", "document 'bad': field 'qty' must be long"
                    ),
                )
        done = len([c for c in self.calls if c[0] == "Bulk"])
        return pb.BulkResponse(
            items=[
                pb.BulkItemResult(id=op.id, shard=0, seq_no=done * 100 + i)
                for i, op in enumerate(request.operations)
            ]
        )

    def Search(self, request: pb.SearchRequest, context: Ctx) -> pb.SearchResponse:
        self.calls.append(("Search", request))
        next_token = "" if request.page_token else "tok-2"
        return pb.SearchResponse(hits=[pb.SearchHit(document=DOC)], next_page_token=next_token)

    def Count(self, request: pb.CountRequest, context: Ctx) -> pb.CountResponse:
        self.calls.append(("Count", request))
        return pb.CountResponse(count=42)


@dataclass
class Fake:
    address: str
    indices: FakeIndices

    def requests(self, method: str) -> list[Any]:
        return [r for name, r in self.indices.calls if name == method]


@pytest.fixture(autouse=True)
def _no_coordinator_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FERRY_COORDINATOR", raising=False)


@pytest.fixture
def fake() -> Iterator[Fake]:
    indices = FakeIndices()
    with serving((indices_pb2_grpc.add_IndicesServicer_to_server, indices)) as address:
        yield Fake(address, indices)


def run(capsys: pytest.CaptureFixture[str], fake: Fake, *argv: str) -> tuple[int, str, str]:
    return run_cli(capsys, "index", *argv, "--coordinator", fake.address)


# create, list, get, delete, stats, doc


def test_create_sends_shards_and_schema(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, err = run(
        capsys, fake, "create", "orders", "--shards", "3",
        "--schema", "qty=long", "--schema", "title=TEXT", "--schema", "at=timestamp",
    )  # fmt: skip

    assert (code, err) == (0, "")
    (request,) = fake.requests("Create")
    assert (request.name, request.shard_count) == ("orders", 3)
    assert [(f.path, f.type) for f in request.schema.fields] == [
        ("qty", pb.INDEX_FIELD_TYPE_LONG),
        ("title", pb.INDEX_FIELD_TYPE_TEXT),
        ("at", pb.INDEX_FIELD_TYPE_TIMESTAMP),
    ]
    assert out == "orders created (3 shards, schema version 1)\n"


def test_create_json_is_the_index(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, _ = run(capsys, fake, "create", "logs", "-o", "json")

    assert code == 0
    assert json.loads(out) == {"name": "logs", "shard_count": 1, "schema": {"version": "1"}}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "x", "--schema", "qty=integer"], "'integer' is not a field kind"),
        (["create", "x", "--schema", "qty"], "'qty' is not FIELD=KIND"),
        (["create", "x", "--shards", "0"], "must be at least 1"),
        (["search", "x", "--range", "qty:above=3"], "'above' is not a range bound"),
        (["search", "x", "--range", "qty"], "is not FIELD:BOUND=VALUE"),
        (["search", "x", "--sort", "qty:down"], "'qty:down' is not FIELD, FIELD:asc"),
        (["count", "x", "--term", "=5"], "'=5' is not FIELD=VALUE"),
    ],
)
def test_bad_arguments_are_usage_errors_before_any_call(
    capsys: pytest.CaptureFixture[str], fake: Fake, args: list[str], message: str
) -> None:
    code, out, err = run(capsys, fake, *args)

    assert code == 2
    assert out == ""
    assert message in err
    assert fake.indices.calls == []


def test_list_follows_pages_and_renders_a_table(
    capsys: pytest.CaptureFixture[str], fake: Fake
) -> None:
    code, out, _ = run(capsys, fake, "list", "--pattern", "o*")

    assert code == 0
    assert [r.pattern for r in fake.requests("List")] == ["o*", "o*"]
    assert rows(out) == [
        ["NAME", "SHARDS", "DOCS", "SCHEMA_VERSION", "ROLE", "CREATED"],
        ["orders", "2", "3", "2", "leader", "2026-11-21T11:00:00Z"],
        ["users", "2", "3", "2", "leader", "2026-11-21T11:00:00Z"],
    ]


def test_list_json_is_an_array_of_indices(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, _ = run(capsys, fake, "list", "-o", "json")

    assert code == 0
    listed = json.loads(out)
    assert [i["name"] for i in listed] == ["orders", "users"]
    assert listed[0]["doc_count"] == "3"  # int64 follows the proto3 JSON mapping
    assert listed[0]["schema"]["fields"][0] == {"path": "qty", "type": "INDEX_FIELD_TYPE_LONG"}


def test_get_shows_a_key_value_block(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, _ = run(capsys, fake, "get", "orders")

    assert code == 0
    assert out.splitlines() == [
        "name:            orders",
        "shards:          2",
        "docs:            12",
        "schema_version:  2",
        "schema:          qty:long, title:text",
        "role:            leader",
        "created:         2026-11-21T11:00:00Z",
    ]


def test_get_missing_index_reports_not_found(
    capsys: pytest.CaptureFixture[str], fake: Fake
) -> None:
    code, out, err = run(capsys, fake, "get", "nope")

    assert (code, out) == (1, "")
    assert err.strip() == "error: NOT_FOUND: index 'nope' not found"


def test_delete(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, _ = run(capsys, fake, "delete", "orders")

    assert code == 0
    assert [r.name for r in fake.requests("Delete")] == ["orders"]
    assert out == "orders deleted\n"


def test_stats_shows_shards_and_leases(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, _ = run(capsys, fake, "stats", "orders")

    assert code == 0
    blocks = out.split("\n\n")
    assert blocks[0] == "orders: 9 docs in 2 shard(s)"
    assert rows(blocks[1]) == [
        ["SHARD", "DOCS", "MAX_SEQ_NO", "GLOBAL_CHECKPOINT", "MIN_RETAINED_SEQ_NO", "LEASES"],
        ["0", "4", "5", "5", "0", "0"],
        ["1", "5", "8", "8", "3", "1"],
    ]
    assert rows(blocks[2]) == [
        ["LEASE", "SHARD", "RETAINING_SEQ_NO", "SOURCE", "EXPIRES"],
        ["follower-a", "1", "4", "dr/orders", "2026-11-21T23:00:00Z"],
    ]


def test_stats_json(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, _ = run(capsys, fake, "stats", "orders", "-o", "json")

    assert code == 0
    stats = json.loads(out)
    assert stats["shards"][1]["retention_leases"][0]["id"] == "follower-a"
    assert stats["shards"][1]["global_checkpoint"] == "8"


def test_doc_shows_the_source_with_whole_numbers(
    capsys: pytest.CaptureFixture[str], fake: Fake
) -> None:
    code, out, _ = run(capsys, fake, "doc", "orders", "o-1")

    assert code == 0
    assert out.splitlines() == [
        "id:      o-1",
        "shard:   1",
        "seq_no:  7",
        'source:  {"qty": 5, "status": "paid"}',
    ]
    code, out, _ = run(capsys, fake, "doc", "orders", "o-1", "-o", "json")
    assert json.loads(out) == {
        "id": "o-1",
        "source": {"qty": 5, "status": "paid"},
        "shard": 1,
        "seq_no": "7",
    }


def test_doc_missing_is_not_found(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, _, err = run(capsys, fake, "doc", "orders", "o-9")

    assert code == 1
    assert "NOT_FOUND: document 'orders/o-9' not found" in err


# search and count


def _python(value: struct_pb2.Value) -> Any:
    return json_format.MessageToDict(value)


def test_search_parses_every_filter_kind(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, _, _ = run(
        capsys, fake, "search", "orders",
        "--term", "qty=5", "--term", "status=paid", "--term", "paid=true", "--term", 'code="7"',
        "--prefix", "sku=AB-", "--range", "at:gte=2026-01-01T00:00:00Z,lt=2027-01-01",
        "--range", "qty:gt=1.5", "--exists", "customer.id", "--match", "blue shoes",
        "--sort", "qty:desc", "--sort", "title", "--size", "25", "--cursor", "abc",
    )  # fmt: skip

    assert code == 0
    (request,) = fake.requests("Search")
    assert request.index == "orders"
    assert [(f.field, f.WhichOneof("condition")) for f in request.filters] == [
        ("qty", "term"), ("status", "term"), ("paid", "term"), ("code", "term"),
        ("sku", "prefix"), ("at", "range"), ("qty", "range"), ("customer.id", "exists"),
    ]  # fmt: skip
    terms = [_python(f.term) for f in request.filters[:4]]
    assert terms == [5, "paid", True, "7"]
    assert request.filters[4].prefix == "AB-"
    at = request.filters[5].range
    assert (_python(at.gte), _python(at.lt)) == ("2026-01-01T00:00:00Z", "2027-01-01")
    assert not at.HasField("gt") and not at.HasField("lte")
    assert _python(request.filters[6].range.gt) == 1.5
    assert request.filters[7].exists
    assert (request.match.query, request.match.operator) == ("blue shoes", pb.MATCH_OPERATOR_AND)
    assert [(s.field, s.order) for s in request.sort] == [
        ("qty", pb.SORT_ORDER_DESCENDING),
        ("title", pb.SORT_ORDER_ASCENDING),
    ]
    assert (request.page_size, request.page_token) == (25, "abc")


def test_search_table_prints_the_next_cursor_on_stderr(
    capsys: pytest.CaptureFixture[str], fake: Fake
) -> None:
    code, out, err = run(capsys, fake, "search", "orders")

    assert code == 0
    (request,) = fake.requests("Search")
    assert not request.HasField("match") and request.page_size == 10
    assert out.splitlines() == [
        "ID    SHARD   SEQ_NO   SOURCE",
        'o-1   1       7        {"qty": 5, "status": "paid"}',
    ]
    assert err == "next page: --cursor tok-2\n"


def test_search_json_is_the_response(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, err = run(capsys, fake, "search", "orders", "-o", "json", "--cursor", "tok-2")

    assert (code, err) == (0, "")
    body = json.loads(out)
    document = {"id": "o-1", "source": {"qty": 5, "status": "paid"}, "shard": 1, "seq_no": "7"}
    assert body == {"hits": [{"document": document}]}


def test_count_sends_the_same_filters(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, _ = run(capsys, fake, "count", "orders", "--prefix", "sku=AB", "--match", "blue")

    assert (code, out) == (0, "42\n")
    (request,) = fake.requests("Count")
    assert [f.prefix for f in request.filters] == ["AB"]
    assert request.match.query == "blue"
    code, out, _ = run(capsys, fake, "count", "orders", "-o", "json")
    assert json.loads(out) == {"count": "42"}


# bulk


def bulk_file(tmp_path: Path, *lines: str) -> str:
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_bulk_sends_batches_in_file_order(
    capsys: pytest.CaptureFixture[str], fake: Fake, tmp_path: Path
) -> None:
    path = bulk_file(
        tmp_path,
        '{"id": "a", "source": {"qty": 1, "tags": ["x"]}}',
        "",
        '{"id": "b", "source": {"qty": 2}}',
        '{"id": "a", "delete": true}',
    )

    code, out, err = run(capsys, fake, "bulk", "orders", "-f", path, "--batch-size", "2")

    assert (code, err) == (0, "")
    batches = fake.requests("Bulk")
    assert [[(op.type, op.id) for op in b.operations] for b in batches] == [
        [(pb.BULK_OPERATION_TYPE_INDEX, "a"), (pb.BULK_OPERATION_TYPE_INDEX, "b")],
        [(pb.BULK_OPERATION_TYPE_DELETE, "a")],
    ]
    assert json_format.MessageToDict(batches[0].operations[0].source) == {
        "qty": 1,
        "tags": ["x"],
    }
    assert out == "orders: 2 indexed, 1 deleted in 2 batches\n"


def test_bulk_json_is_every_item(
    capsys: pytest.CaptureFixture[str], fake: Fake, tmp_path: Path
) -> None:
    path = bulk_file(tmp_path, '{"id": "a", "source": {}}', '{"id": "b", "source": {}}')

    code, out, _ = run(
        capsys, fake, "bulk", "orders", "-f", path, "--batch-size", "1", "-o", "json"
    )

    assert code == 0
    assert json.loads(out) == [{"id": "a", "seq_no": "100"}, {"id": "b", "seq_no": "200"}]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", ":2: not JSON"),
        ('["a"]', ":2: must be a JSON object"),
        ('{"source": {}}', ':2: "id" must be a non-empty string'),
        ('{"id": "x"}', ':2: needs "source": {...} (an object) or "delete": true'),
        ('{"id": "x", "source": [1]}', ":2: needs"),
        ('{"id": "x", "delete": true, "source": {}}', ':2: "delete" must be true, and comes'),
        ('{"id": "x", "delete": false}', ':2: "delete" must be true'),
        ('{"id": "x", "source": {}, "op": 1}', ":2: unknown key 'op'"),
    ],
)
def test_bulk_refuses_a_bad_file_before_sending_anything(
    capsys: pytest.CaptureFixture[str], fake: Fake, tmp_path: Path, line: str, message: str
) -> None:
    path = bulk_file(tmp_path, '{"id": "ok", "source": {}}', line)

    code, out, err = run(capsys, fake, "bulk", "orders", "-f", path)

    assert (code, out) == (2, "")
    assert err.startswith(f"error: {path}{message}"), err
    assert fake.requests("Bulk") == []


def test_bulk_missing_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], fake: Fake, tmp_path: Path
) -> None:
    code, _, err = run(capsys, fake, "bulk", "orders", "-f", str(tmp_path / "none.jsonl"))

    assert code == 2
    assert err.startswith("error: cannot read ")


def test_bulk_rejection_names_the_file_line_and_what_was_written(
    capsys: pytest.CaptureFixture[str], fake: Fake, tmp_path: Path
) -> None:
    path = bulk_file(
        tmp_path,
        '{"id": "a", "source": {}}',
        '{"id": "b", "source": {}}',
        '{"id": "c", "source": {}}',
        '{"id": "bad", "source": {"qty": "x"}}',
    )

    code, out, err = run(capsys, fake, "bulk", "orders", "-f", path, "--batch-size", "2")

    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"error: {path} lines 3-4: INVALID_ARGUMENT: 1 invalid field:",
        "  operations[1].source.qty: document 'bad': field 'qty' must be long",
        f"  (operations[1] is {path}:4)",
        "nothing from line 3 on was written; 2 operation(s) before it were",
    ]
