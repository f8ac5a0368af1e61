"""The Indices API on a real coordinator process with a SQLite store, via grpcurl and gRPC."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, struct_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ferry.etcd import EmbeddedEtcd
from ferry.v1 import common_pb2, indices_pb2_grpc
from ferry.v1 import indices_pb2 as pb
from tests.helpers import ServiceProcess

SCHEMA = pb.IndexSchema(
    fields=[
        pb.IndexField(path="title", type=pb.INDEX_FIELD_TYPE_TEXT),
        pb.IndexField(path="status", type=pb.INDEX_FIELD_TYPE_KEYWORD),
        pb.IndexField(path="qty", type=pb.INDEX_FIELD_TYPE_LONG),
        pb.IndexField(path="price", type=pb.INDEX_FIELD_TYPE_DOUBLE),
        pb.IndexField(path="paid", type=pb.INDEX_FIELD_TYPE_BOOLEAN),
        pb.IndexField(path="at", type=pb.INDEX_FIELD_TYPE_TIMESTAMP),
    ]
)
WORDS = ["red", "blue", "green"]


def order(i: int) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "title": f"{WORDS[i % 3]} lamp number {i}",
        "status": ["paid", "open", "void"][i % 3],
        "qty": i,
        "price": i * 2.5,
        "paid": i % 2 == 0,
        "at": f"2026-{1 + i % 12:02d}-01T00:00:00Z",
        "sku": f"SKU-{i % 4}-{i:02d}",
    }
    if i % 5 == 0:
        doc["gift"] = {"note": f"for {i}"}
    return doc


ORDERS = {f"o-{i:02d}": order(i) for i in range(20)}


def prefix() -> str:
    return f"/e2e-idx-{uuid.uuid4().hex[:8]}"


def store_args(path: Path) -> list[str]:
    return ["--etcd-prefix", prefix(), "--store-url", f"sqlite:///{path}"]


@pytest.fixture
def coordinator(
    etcd_server: EmbeddedEtcd, services: Callable[..., ServiceProcess], tmp_path: Path
) -> ServiceProcess:
    return services(
        "coordinator", etcd_server.endpoint, args=store_args(tmp_path / "s.db")
    ).wait_serving()


@pytest.fixture
def stub(coordinator: ServiceProcess) -> Iterator[indices_pb2_grpc.IndicesStub]:
    with grpc.insecure_channel(coordinator.address) as channel:
        yield indices_pb2_grpc.IndicesStub(channel)


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(value)
    return s


def value(v: Any) -> struct_pb2.Value:
    return json_format.ParseDict(v, struct_pb2.Value())


def index_op(doc_id: str, source: dict[str, Any]) -> pb.BulkOperation:
    return pb.BulkOperation(type=pb.BULK_OPERATION_TYPE_INDEX, id=doc_id, source=struct(source))


def delete_op(doc_id: str) -> pb.BulkOperation:
    return pb.BulkOperation(type=pb.BULK_OPERATION_TYPE_DELETE, id=doc_id)


def source_of(doc: pb.Document) -> dict[str, Any]:
    return json_format.MessageToDict(doc.source)


def failure(call: Callable[[], object]) -> tuple[grpc.StatusCode, str, list[str]]:
    """failure runs a call that must fail; returns its code, message and BadRequest fields."""
    with pytest.raises(grpc.RpcError) as raised:
        call()
    err = raised.value
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    fields: list[str] = []
    for detail in status.details if status is not None else ():
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            fields.extend(v.field for v in bad.field_violations)
    return err.code(), err.details(), fields  # type: ignore[attr-defined]


def create_orders(stub: indices_pb2_grpc.IndicesStub, shards: int = 3) -> pb.Index:
    index = stub.Create(
        pb.CreateIndexRequest(name="orders", shard_count=shards, schema=SCHEMA), timeout=10
    )
    ops = [index_op(k, v) for k, v in ORDERS.items()]
    stub.Bulk(pb.BulkRequest(index="orders", operations=ops), timeout=10)
    return index


def search_ids(stub: indices_pb2_grpc.IndicesStub, *filters: pb.Filter, **kw: Any) -> list[str]:
    response = stub.Search(pb.SearchRequest(index="orders", filters=filters, **kw), timeout=10)
    return [h.document.id for h in response.hits]


def matching(predicate: Callable[[dict[str, Any]], bool]) -> list[str]:
    return sorted(k for k, v in ORDERS.items() if predicate(v))


def run_grpcurl(grpcurl: str, address: str, method: str, data: Any) -> Any:
    result = subprocess.run(
        [grpcurl, "-plaintext", "-d", json.dumps(data), address, method],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# The happy path ----------------------------------------------------------------------


def test_grpcurl_creates_loads_and_reads_an_index(
    grpcurl: str, coordinator: ServiceProcess
) -> None:
    address = coordinator.address
    created = run_grpcurl(grpcurl, address, "ferry.v1.Indices/Create", {
        "name": "books", "shard_count": 2,
        "schema": {"fields": [{"path": "pages", "type": "INDEX_FIELD_TYPE_LONG"},
                              {"path": "title", "type": "INDEX_FIELD_TYPE_TEXT"}]},
    })  # fmt: skip
    assert created["name"] == "books" and created["shard_count"] == 2
    assert created["schema"]["version"] == "1"

    bulk = run_grpcurl(grpcurl, address, "ferry.v1.Indices/Bulk", {
        "index": "books",
        "operations": [
            {"type": "BULK_OPERATION_TYPE_INDEX", "id": "b1",
             "source": {"title": "the quiet river", "pages": 320, "tags": ["novel"]}},
            {"type": "BULK_OPERATION_TYPE_INDEX", "id": "b2",
             "source": {"title": "river maps", "pages": 80}},
        ],
    })  # fmt: skip
    assert [item["id"] for item in bulk["items"]] == ["b1", "b2"]

    doc = run_grpcurl(
        grpcurl, address, "ferry.v1.Indices/GetDocument", {"index": "books", "id": "b1"}
    )
    assert doc["source"] == {"title": "the quiet river", "pages": 320, "tags": ["novel"]}

    found = run_grpcurl(grpcurl, address, "ferry.v1.Indices/Search", {
        "index": "books", "filters": [{"field": "pages", "range": {"gte": 100}}],
        "match": {"query": "river"},
    })  # fmt: skip
    assert [h["document"]["id"] for h in found["hits"]] == ["b1"]
    count = run_grpcurl(grpcurl, address, "ferry.v1.Indices/Count", {"index": "books"})
    assert count["count"] == "2"


def test_documents_filters_cursor_and_stats(stub: indices_pb2_grpc.IndicesStub) -> None:
    created = create_orders(stub)
    assert (created.shard_count, created.schema.version) == (3, 1)
    assert [f.path for f in created.schema.fields] == sorted(f.path for f in SCHEMA.fields)

    # Get and multi-get: whole numbers come back whole, doubles stay doubles.
    doc = stub.GetDocument(pb.GetDocumentRequest(index="orders", id="o-05"), timeout=10)
    assert source_of(doc) == json.loads(json.dumps(ORDERS["o-05"]))
    assert doc.seq_no >= 0 and 0 <= doc.shard < 3
    got = stub.MultiGet(
        pb.MultiGetRequest(index="orders", ids=["o-01", "nope", "o-02"]), timeout=10
    )
    assert [(i.id, i.found) for i in got.items] == [("o-01", True), ("nope", False), ("o-02", True)]
    assert source_of(got.items[2].document)["qty"] == 2

    # Every filter kind, each against the same predicate in Python.
    term = pb.Filter(field="status", term=value("paid"))
    assert search_ids(stub, term, page_size=100) == matching(lambda v: v["status"] == "paid")
    number = pb.Filter(field="qty", term=value(7))
    assert search_ids(stub, number) == ["o-07"]
    boolean = pb.Filter(field="paid", term=value(False))
    assert search_ids(stub, boolean, page_size=100) == matching(lambda v: not v["paid"])
    starts = pb.Filter(field="sku", prefix="SKU-2-")
    assert search_ids(stub, starts) == matching(lambda v: v["sku"].startswith("SKU-2-"))
    numeric = pb.Filter(field="price", range=pb.RangeCondition(gt=value(10), lte=value(25)))
    assert search_ids(stub, numeric) == matching(lambda v: 10 < v["price"] <= 25)
    dates = pb.Filter(
        field="at", range=pb.RangeCondition(gte=value("2026-03-01"), lt=value("2026-05-01"))
    )
    assert search_ids(stub, dates) == matching(lambda v: "2026-03-01" <= v["at"] < "2026-05-01")
    nested = pb.Filter(field="gift.note", exists=True)
    assert search_ids(stub, nested) == matching(lambda v: "gift" in v)
    match = pb.MatchQuery(query="blue")
    assert search_ids(stub, match=match) == matching(lambda v: "blue" in v["title"])
    both = pb.MatchQuery(query="blue lamp", operator=pb.MATCH_OPERATOR_AND)
    assert search_ids(stub, term, match=both) == matching(
        lambda v: "blue" in v["title"] and v["status"] == "paid"
    )
    # No operator means AND: every word must appear.
    default = pb.MatchQuery(query="blue lamp")
    assert search_ids(stub, term, match=default) == search_ids(stub, term, match=both)
    # OR: any word; the union of each word's hits. No title holds both red and green.
    red_green = matching(lambda v: v["title"].split()[0] in ("red", "green"))
    every = pb.MatchQuery(query="red green unicorn", operator=pb.MATCH_OPERATOR_AND)
    assert search_ids(stub, match=every, page_size=100) == []
    either = pb.MatchQuery(query="red green unicorn", operator=pb.MATCH_OPERATOR_OR)
    assert search_ids(stub, match=either, page_size=100) == red_green
    assert 0 < len(red_green) < len(ORDERS)
    # Query syntax is plain words: "OR" is a word no title has, not an operator.
    literal = pb.MatchQuery(query="red OR green", operator=pb.MATCH_OPERATOR_AND)
    assert search_ids(stub, match=literal, page_size=100) == []
    counted = stub.Count(pb.CountRequest(index="orders", match=either), timeout=10)
    assert counted.count == len(red_green)

    # A cursor walk in price order, descending, visits every order once.
    sort = [pb.SortField(field="price", order=pb.SORT_ORDER_DESCENDING)]
    walked: list[str] = []
    token = ""
    while True:
        request = pb.SearchRequest(index="orders", sort=sort, page_size=3, page_token=token)
        page = stub.Search(request, timeout=10)
        walked.extend(h.document.id for h in page.hits)
        token = page.next_page_token
        if not token:
            break
    assert walked == sorted(ORDERS, key=lambda k: ORDERS[k]["price"], reverse=True)
    # A token belongs to its search: another sort (or filter) is refused.
    first = stub.Search(pb.SearchRequest(index="orders", sort=sort, page_size=3), timeout=10)
    other = pb.SearchRequest(index="orders", page_size=3, page_token=first.next_page_token)
    code, _, fields = failure(lambda: stub.Search(other, timeout=10))
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["page_token"])

    count = stub.Count(pb.CountRequest(index="orders", filters=[term], match=match), timeout=10)
    assert count.count == len(matching(lambda v: v["status"] == "paid" and "blue" in v["title"]))

    # Stats: 20 index ops then one delete, spread over 3 shards.
    stub.Bulk(pb.BulkRequest(index="orders", operations=[delete_op("o-00")]), timeout=10)
    stats = stub.Stats(pb.IndexStatsRequest(name="orders"), timeout=10)
    assert [s.shard for s in stats.shards] == [0, 1, 2]
    assert stats.doc_count == sum(s.doc_count for s in stats.shards) == 19
    assert sum(s.max_seq_no + 1 for s in stats.shards) == 21  # seq_nos are dense from 0
    for s in stats.shards:
        assert s.global_checkpoint == s.max_seq_no
    assert stub.Get(pb.GetIndexRequest(name="orders"), timeout=10).doc_count == 19

    listed = stub.List(pb.ListIndicesRequest(pattern="ord*"), timeout=10)
    assert [i.name for i in listed.indices] == ["orders"]
    assert stub.List(pb.ListIndicesRequest(pattern="x*"), timeout=10).indices == []

    stub.Delete(pb.DeleteIndexRequest(name="orders"), timeout=10)
    code, _, _ = failure(lambda: stub.Get(pb.GetIndexRequest(name="orders"), timeout=10))
    assert code == grpc.StatusCode.NOT_FOUND


def test_schema_updates_add_fields_only(stub: indices_pb2_grpc.IndicesStub) -> None:
    create_orders(stub, shards=1)
    added = pb.IndexField(path="weight", type=pb.INDEX_FIELD_TYPE_DOUBLE)
    updated = stub.UpdateSchema(
        pb.UpdateIndexSchemaRequest(name="orders", fields=[added], expected_version=1), timeout=10
    )
    assert updated.schema.version == 2
    assert "weight" in [f.path for f in updated.schema.fields]

    stale = pb.UpdateIndexSchemaRequest(name="orders", fields=[added], expected_version=1)
    assert failure(lambda: stub.UpdateSchema(stale, timeout=10))[0] == grpc.StatusCode.ABORTED
    retype = pb.IndexField(path="qty", type=pb.INDEX_FIELD_TYPE_KEYWORD)
    code, message, _ = failure(
        lambda: stub.UpdateSchema(
            pb.UpdateIndexSchemaRequest(name="orders", fields=[retype]), timeout=10
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "qty" in message
    # Declaring a field again with its type changes nothing.
    same = stub.UpdateSchema(pb.UpdateIndexSchemaRequest(name="orders", fields=[added]), timeout=10)
    assert same.schema.version == 2


# Errors -------------------------------------------------------------------------------


def test_bad_requests_name_the_field(stub: indices_pb2_grpc.IndicesStub) -> None:
    code, _, fields = failure(
        lambda: stub.Create(pb.CreateIndexRequest(name="Bad Name!"), timeout=10)
    )
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["name"])
    code, _, fields = failure(lambda: stub.Search(pb.SearchRequest(index="Nope/x"), timeout=10))
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["index"])
    bad_schema = pb.IndexSchema(fields=[pb.IndexField(path="qty")])
    code, _, fields = failure(
        lambda: stub.Create(pb.CreateIndexRequest(name="x", schema=bad_schema), timeout=10)
    )
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["schema.fields[0].type"])

    create_orders(stub)
    before = stub.Stats(pb.IndexStatsRequest(name="orders"), timeout=10)

    # A schema violation names the document and the field; nothing of the batch lands.
    ops = [index_op("n-1", {"qty": 1}), index_op("n-2", {"qty": "many"})]
    code, message, fields = failure(
        lambda: stub.Bulk(pb.BulkRequest(index="orders", operations=ops), timeout=10)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert fields == ["operations[1].source.qty"]
    assert "'n-2'" in message and "qty" in message
    code, _, fields = failure(
        lambda: stub.Bulk(
            pb.BulkRequest(index="orders", operations=[index_op("x" * 600, {})]), timeout=10
        )
    )
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["operations[0].id"])
    nan = [index_op("n-3", {"price": float("nan")})]
    code, _, fields = failure(
        lambda: stub.Bulk(pb.BulkRequest(index="orders", operations=nan), timeout=10)
    )
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["operations[0].source.price"])
    no_type = [pb.BulkOperation(id="n-4")]
    code, _, fields = failure(
        lambda: stub.Bulk(pb.BulkRequest(index="orders", operations=no_type), timeout=10)
    )
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["operations[0].type"])
    after = stub.Stats(pb.IndexStatsRequest(name="orders"), timeout=10)
    assert [s.max_seq_no for s in after.shards] == [s.max_seq_no for s in before.shards]

    # Query mistakes.
    no_bounds = pb.Filter(field="qty", range=pb.RangeCondition())
    code, _, fields = failure(lambda: search_ids(stub, no_bounds))
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["filters[0].range"])
    mixed = pb.Filter(field="qty", range=pb.RangeCondition(gt=value(1), lt=value("z")))
    code, _, fields = failure(lambda: search_ids(stub, mixed))
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["filters[0].range"])
    code, _, fields = failure(lambda: search_ids(stub, pb.Filter(field="qty")))
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["filters[0]"])
    code, _, fields = failure(lambda: search_ids(stub, page_size=5000))
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["page_size"])
    code, _, fields = failure(lambda: search_ids(stub, page_token="garbage"))
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["page_token"])
    # What the contract allows but the store cannot do says so.
    negated = pb.Filter(field="qty", term=value(1), negate=True)
    code, message, _ = failure(lambda: search_ids(stub, negated))
    assert code == grpc.StatusCode.UNIMPLEMENTED and "filters[0].negate" in message


def test_unknown_index_is_not_found(stub: indices_pb2_grpc.IndicesStub) -> None:
    calls: list[Callable[[], object]] = [
        lambda: stub.Get(pb.GetIndexRequest(name="ghost"), timeout=10),
        lambda: stub.Stats(pb.IndexStatsRequest(name="ghost"), timeout=10),
        lambda: stub.Search(pb.SearchRequest(index="ghost"), timeout=10),
        lambda: stub.Count(pb.CountRequest(index="ghost"), timeout=10),
        lambda: stub.Bulk(pb.BulkRequest(index="ghost", operations=[delete_op("a")]), timeout=10),
        lambda: stub.Delete(pb.DeleteIndexRequest(name="ghost"), timeout=10),
    ]
    for call in calls:
        code, message, _ = failure(call)
        assert code == grpc.StatusCode.NOT_FOUND and "ghost" in message
    stub.Create(pb.CreateIndexRequest(name="real"), timeout=10)
    code, message, _ = failure(
        lambda: stub.GetDocument(pb.GetDocumentRequest(index="real", id="d1"), timeout=10)
    )
    assert code == grpc.StatusCode.NOT_FOUND and "real/d1" in message
    code, _, _ = failure(lambda: stub.Create(pb.CreateIndexRequest(name="real"), timeout=10))
    assert code == grpc.StatusCode.ALREADY_EXISTS


def test_a_lower_fencing_token_is_refused(stub: indices_pb2_grpc.IndicesStub) -> None:
    stub.Create(pb.CreateIndexRequest(name="fenced"), timeout=10)

    def bulk(token: int, doc_id: str) -> pb.BulkResponse:
        fence = common_pb2.FencingToken(scope="task/orders-0", token=token)
        request = pb.BulkRequest(
            index="fenced", operations=[index_op(doc_id, {"n": token})], fencing_token=fence
        )
        response: pb.BulkResponse = stub.Bulk(request, timeout=10)
        return response

    bulk(5, "a")
    bulk(7, "b")
    code, message, _ = failure(lambda: bulk(5, "c"))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "fenced" in message
    got = stub.MultiGet(pb.MultiGetRequest(index="fenced", ids=["a", "b", "c"]), timeout=10)
    assert [i.found for i in got.items] == [True, True, False]


def test_without_a_store_the_api_says_how_to_configure_one(
    etcd_server: EmbeddedEtcd, services: Callable[..., ServiceProcess]
) -> None:
    proc = services("coordinator", etcd_server.endpoint, args=["--etcd-prefix", prefix()])
    with grpc.insecure_channel(proc.wait_serving().address) as channel:
        stub = indices_pb2_grpc.IndicesStub(channel)
        code, message, _ = failure(lambda: stub.List(pb.ListIndicesRequest(), timeout=10))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert message == "no index store configured (--store-url)"


def test_read_only_refuses_writes_but_serves_reads(
    etcd_server: EmbeddedEtcd, services: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    path = tmp_path / "shared.db"
    writer = services("coordinator", etcd_server.endpoint, args=store_args(path)).wait_serving()
    with grpc.insecure_channel(writer.address) as channel:
        create_orders(indices_pb2_grpc.IndicesStub(channel))
    reader = services(
        "coordinator", etcd_server.endpoint, args=[*store_args(path), "--read-only"]
    ).wait_serving()
    with grpc.insecure_channel(reader.address) as channel:
        stub = indices_pb2_grpc.IndicesStub(channel)
        writes: list[Callable[[], object]] = [
            lambda: stub.Create(pb.CreateIndexRequest(name="more"), timeout=10),
            lambda: stub.Bulk(
                pb.BulkRequest(index="orders", operations=[delete_op("o-01")]), timeout=10
            ),
            lambda: stub.Delete(pb.DeleteIndexRequest(name="orders"), timeout=10),
        ]
        for write in writes:
            code, message, _ = failure(write)
            assert code == grpc.StatusCode.PERMISSION_DENIED and "read-only" in message
        assert len(search_ids(stub, page_size=100)) == len(ORDERS)
        assert stub.Count(pb.CountRequest(index="orders"), timeout=10).count == len(ORDERS)


def test_a_store_that_cannot_be_opened_fails_start_naming_the_setting(
    etcd_server: EmbeddedEtcd, services: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    proc = services(
        "coordinator", etcd_server.endpoint, args=store_args(blocker / "store" / "s.db")
    )
    assert proc.process is not None
    assert proc.process.wait(timeout=20) == 1
    assert f"error: store_url: cannot open the index store sqlite:///{blocker}" in proc.log()
