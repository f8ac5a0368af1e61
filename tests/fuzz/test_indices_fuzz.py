"""ferry.v1.Indices with nearly-valid requests against a real index holding documents.

Beyond "deliberate answers only": an accepted Bulk stores exactly its
documents (and a refused one stores none of them), accepted names are clean,
result pages follow their tokens, forged page tokens are INVALID_ARGUMENT, and
an oversized document is refused naming its operation and id.
"""

from __future__ import annotations

import itertools
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from hypothesis import given
from hypothesis import strategies as st

from ferry.names import INDEX_NAME
from ferry.store import DEFAULT_LIMITS
from ferry.store.common import FIELD_PATH, encode_cursor
from ferry.v1 import indices_pb2 as pb
from tests.fuzz.conftest import Services, fuzz_settings
from tests.fuzz.messages import as_json, dns_labels, hostile_text, nearly_valid
from tests.fuzz.outcome import Client

INDICES = pb.DESCRIPTOR.services_by_name["Indices"]
M = INDICES.methods_by_name
DOCS = "fz-docs"
SCHEMA_TARGET = "fz-schema"
SCHEMA = pb.IndexSchema(
    fields=[
        pb.IndexField(path="title", type=pb.INDEX_FIELD_TYPE_TEXT),
        pb.IndexField(path="tag", type=pb.INDEX_FIELD_TYPE_KEYWORD),
        pb.IndexField(path="n", type=pb.INDEX_FIELD_TYPE_LONG),
        pb.IndexField(path="price", type=pb.INDEX_FIELD_TYPE_DOUBLE),
        pb.IndexField(path="ok", type=pb.INDEX_FIELD_TYPE_BOOLEAN),
        pb.IndexField(path="at", type=pb.INDEX_FIELD_TYPE_TIMESTAMP),
        pb.IndexField(path="meta", type=pb.INDEX_FIELD_TYPE_OBJECT),
    ]
)
TAGS = ["red", "green", "blue"]
WORDS = ["quick", "brown", "fox", "lazy", "dog", "\u00e9t\u00e9", "\u65e5\u672c"]

NEARLY_VALID_EXAMPLES = 150
OVERSIZED_EXAMPLES = 3


def _struct(source: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(source)
    return struct


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53).map(float),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10).filter(lambda t: "\x00" not in t),
)
sources = st.fixed_dictionaries(
    {},
    optional={
        "title": st.lists(st.sampled_from(WORDS), max_size=5).map(" ".join),
        "tag": st.sampled_from(TAGS),
        "n": st.integers(-(2**53), 2**53).map(float),
        "price": st.floats(-1e6, 1e6),
        "ok": st.booleans(),
        "at": st.dates().map(lambda d: d.isoformat()),
        "meta": st.dictionaries(st.sampled_from(["a", "b", "c"]), json_scalars, max_size=3),
        "extra": json_scalars,
    },
).map(_struct)


doc_ids = st.one_of(dns_labels, st.sampled_from([f"seed-{i}" for i in range(10)]))
index_ops = st.builds(
    lambda i, s: pb.BulkOperation(type=pb.BULK_OPERATION_TYPE_INDEX, id=i, source=s),
    doc_ids,
    sources,
)
delete_ops = doc_ids.map(lambda i: pb.BulkOperation(type=pb.BULK_OPERATION_TYPE_DELETE, id=i))
bulks = st.lists(st.one_of(index_ops, delete_ops), min_size=1, max_size=6).map(
    lambda ops: pb.BulkRequest(index=DOCS, operations=ops)
)
filters = st.one_of(
    st.sampled_from(TAGS).map(
        lambda t: pb.Filter(field="tag", term=struct_pb2.Value(string_value=t))
    ),
    st.floats(-100, 100).map(
        lambda x: pb.Filter(
            field="n", range=pb.RangeCondition(gte=struct_pb2.Value(number_value=x))
        )
    ),
    st.just(pb.Filter(field="meta.a", exists=True)),
    st.just(pb.Filter(field="title", prefix="qu")),
)
sorts = st.lists(
    st.builds(
        pb.SortField,
        field=st.sampled_from(["n", "price", "tag", "at", "meta.a"]),
        order=st.sampled_from([pb.SORT_ORDER_ASCENDING, pb.SORT_ORDER_DESCENDING]),
    ),
    max_size=2,
)
searches = st.builds(
    pb.SearchRequest,
    index=st.just(DOCS),
    filters=st.lists(filters, max_size=2),
    match=st.sampled_from(["", "quick", "brown fox"]).map(
        lambda q: pb.MatchQuery(query=q, operator=pb.MATCH_OPERATOR_AND)
    ),
    sort=sorts,
    page_size=st.integers(1, 4),
)
json_values = st.recursive(
    st.one_of(json_scalars, st.integers(), st.floats()),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def docs(services: Services) -> Client:
    """docs is a client whose server holds DOCS (with seed documents) and SCHEMA_TARGET."""
    client = services.coordinator_client
    for name in (DOCS, SCHEMA_TARGET):
        assert client.call(
            M["Create"], pb.CreateIndexRequest(name=name, shard_count=2, schema=SCHEMA)
        ).ok
    seeds = [
        pb.BulkOperation(
            type=pb.BULK_OPERATION_TYPE_INDEX,
            id=f"seed-{i}",
            source=_struct(
                {"title": " ".join(WORDS[i % 3 : i % 3 + 3]), "tag": TAGS[i % 3], "n": i,
                 "price": i / 4, "ok": i % 2 == 0, "at": f"2024-01-{i + 1:02d}", "meta": {"a": i}}
            ),
        )
        for i in range(10)
    ]  # fmt: skip
    assert client.call(M["Bulk"], pb.BulkRequest(index=DOCS, operations=seeds)).ok
    return client


def _expected(request: pb.BulkRequest) -> dict[str, struct_pb2.Struct | None]:
    """_expected is what each id of the bulk holds after it: its last op wins."""
    final: dict[str, struct_pb2.Struct | None] = {}
    for op in request.operations:
        final[op.id] = op.source if op.type == pb.BULK_OPERATION_TYPE_INDEX else None
    return final


@fuzz_settings(NEARLY_VALID_EXAMPLES)
@given(request=nearly_valid(bulks))
def test_accepted_bulk_stores_exactly_its_documents(docs: Client, request: pb.BulkRequest) -> None:
    before = {}
    ids = list(_expected(request))
    readable = request.index == DOCS and all(
        i and len(i.encode()) <= 512 and "\x00" not in i for i in ids
    )
    if readable:
        got = docs.call(M["MultiGet"], pb.MultiGetRequest(index=DOCS, ids=ids))
        before = {item.id: item for item in got.response.items}
    written = docs.call(M["Bulk"], request)
    if not readable:
        return
    after = docs.call(M["MultiGet"], pb.MultiGetRequest(index=DOCS, ids=ids)).response.items
    for item in after:
        if written.ok:
            source = _expected(request)[item.id]
            assert item.found == (source is not None), item
            if source is not None:
                assert as_json(item.document.source) == as_json(source)
        else:  # refused: nothing of the batch was written
            assert item == before[item.id]


@fuzz_settings(NEARLY_VALID_EXAMPLES)
@given(request=nearly_valid(searches))
def test_search_pages_follow_their_tokens(docs: Client, request: pb.SearchRequest) -> None:
    page = docs.call(M["Search"], request)
    count = docs.call(
        M["Count"],
        pb.CountRequest(index=request.index, filters=request.filters, match=request.match),
    )
    if page.ok and page.response.next_page_token:
        follow = pb.SearchRequest()
        follow.CopyFrom(request)
        follow.page_token = page.response.next_page_token
        after = docs.call(M["Search"], follow)
        assert after.ok, after
        seen = {h.document.id for h in page.response.hits}
        assert seen.isdisjoint(h.document.id for h in after.response.hits)
    if page.ok and count.ok and not page.response.next_page_token and not request.page_token:
        assert len(page.response.hits) == count.response.count


@fuzz_settings(NEARLY_VALID_EXAMPLES)
@given(
    request=searches.filter(lambda r: r.sort),
    cursor=st.one_of(
        st.lists(json_values, min_size=1, max_size=4).map(encode_cursor),
        st.builds(lambda v: encode_cursor(v)[:-1] + "!", st.lists(json_values, max_size=3)),
        hostile_text,
    ),
)
def test_forged_page_tokens_are_invalid_argument(
    docs: Client, request: pb.SearchRequest, cursor: str
) -> None:
    first = pb.SearchRequest()
    first.CopyFrom(request)
    first.page_size = 1
    fingerprint = docs.call(M["Search"], first).response.next_page_token.partition(".")[0]
    forged = pb.SearchRequest()
    forged.CopyFrom(request)
    forged.page_token = f"{fingerprint or 'x'}.{cursor}"
    outcome = docs.call(M["Search"], forged)
    if not outcome.ok:
        assert outcome.fields() == ["page_token"], outcome


@fuzz_settings(NEARLY_VALID_EXAMPLES // 2)
@given(
    request=nearly_valid(
        st.builds(
            lambda n, paths: pb.CreateIndexRequest(
                name=f"fz-new-{n}",
                shard_count=2,
                schema=pb.IndexSchema(
                    fields=[pb.IndexField(path=p, type=pb.INDEX_FIELD_TYPE_KEYWORD) for p in paths]
                ),
            ),
            dns_labels,
            st.lists(dns_labels, max_size=3, unique=True),
        )
    )
)
def test_created_indices_have_clean_names(docs: Client, request: pb.CreateIndexRequest) -> None:
    created = docs.call(M["Create"], request)
    if created.ok:
        index = created.response
        assert INDEX_NAME.fullmatch(index.name), index.name
        assert all(FIELD_PATH.fullmatch(f.path) for f in index.schema.fields), index.schema
        assert docs.call(M["Get"], pb.GetIndexRequest(name=index.name)).response == index
        assert docs.call(M["Delete"], pb.DeleteIndexRequest(name=index.name)).ok


@fuzz_settings(NEARLY_VALID_EXAMPLES // 2)
@given(
    request=nearly_valid(
        st.builds(
            lambda paths: pb.UpdateIndexSchemaRequest(
                name=SCHEMA_TARGET,
                fields=[pb.IndexField(path=p, type=pb.INDEX_FIELD_TYPE_DOUBLE) for p in paths],
            ),
            st.lists(dns_labels.map(lambda p: f"f{p}"), min_size=1, max_size=3, unique=True),
        )
    )
)
def test_schema_updates_keep_what_they_accept(
    docs: Client, request: pb.UpdateIndexSchemaRequest
) -> None:
    updated = docs.call(M["UpdateSchema"], request)
    if updated.ok:
        fields = {f.path: f.type for f in updated.response.schema.fields}
        assert all(fields[f.path] == f.type for f in request.fields), fields
        assert all(FIELD_PATH.fullmatch(p) for p in fields), fields


@fuzz_settings(NEARLY_VALID_EXAMPLES // 2)
@given(
    request=st.one_of(
        nearly_valid(doc_ids.map(lambda i: pb.GetDocumentRequest(index=DOCS, id=i))),
        nearly_valid(
            st.lists(doc_ids, max_size=4).map(lambda ids: pb.MultiGetRequest(index=DOCS, ids=ids))
        ),
        nearly_valid(st.just(pb.ListIndicesRequest(pattern="fz-*", page_size=1))),
    )
)
def test_reads_answer_deliberately(docs: Client, request: Any) -> None:
    method = {
        pb.GetDocumentRequest: M["GetDocument"],
        pb.MultiGetRequest: M["MultiGet"],
        pb.ListIndicesRequest: M["List"],
    }[type(request)]
    outcome = docs.call(method, request)
    if (
        isinstance(request, pb.ListIndicesRequest)
        and outcome.ok
        and outcome.response.next_page_token
    ):
        request.page_token = outcome.response.next_page_token
        assert docs.call(method, request).ok


_batch = itertools.count()


@fuzz_settings(OVERSIZED_EXAMPLES)
@given(
    before=st.integers(0, 3),
    after=st.integers(0, 2),
    extra=st.integers(1, 512 * 1024),
    doc_id=dns_labels,
)
def test_oversized_document_is_refused_naming_operation_and_id(
    docs: Client, before: int, after: int, extra: int, doc_id: str
) -> None:
    batch = next(_batch)
    ids = [f"big{batch}-{i}" for i in range(before + 1 + after)]
    big = f"big{batch}-{doc_id}"
    ids[before] = big
    body = "x" * (DEFAULT_LIMITS.max_document_bytes + extra)
    ops = [
        pb.BulkOperation(
            type=pb.BULK_OPERATION_TYPE_INDEX,
            id=i,
            source=_struct({"title": body if i == big else "small"}),
        )
        for i in ids
    ]
    refused = docs.call(M["Bulk"], pb.BulkRequest(index=DOCS, operations=ops))
    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT, refused
    [(field, description)] = refused.violations
    assert field == f"operations[{before}].source"
    assert big in description and "bytes" in description
    got = docs.call(M["MultiGet"], pb.MultiGetRequest(index=DOCS, ids=ids)).response
    assert not any(item.found for item in got.items), "a refused batch wrote documents"


@fuzz_settings(OVERSIZED_EXAMPLES)
@given(
    position=st.integers(0, 3),
    extra=st.integers(1, 100),
    piece=st.sampled_from(["x", "\u00e9", "\U0001f600"]),
)
def test_oversized_id_is_refused_naming_the_operation(
    docs: Client, position: int, extra: int, piece: str
) -> None:
    ids = [f"ok-{i}" for i in range(4)]
    ids[position] = piece * ((DEFAULT_LIMITS.max_id_bytes + extra) // len(piece.encode()) + 1)
    ops = [pb.BulkOperation(type=pb.BULK_OPERATION_TYPE_DELETE, id=i) for i in ids]
    refused = docs.call(M["Bulk"], pb.BulkRequest(index=DOCS, operations=ops))
    assert refused.fields() == [f"operations[{position}].id"], refused
    assert f"at most {DEFAULT_LIMITS.max_id_bytes}" in refused.violations[0][1], refused
