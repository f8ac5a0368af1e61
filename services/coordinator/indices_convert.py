"""Translation between ``ferry.v1.Indices`` messages and the index store's types.

Nothing here does I/O. A bad request raises InvalidArgument naming the proto
field path (``operations[3].source.qty``, ``filters[1].range.gte``); what the
contract allows but the store cannot do raises Unimplemented naming the field.

Numbers: protobuf's Struct and Value hold every number as a double, so a
client's ``5`` arrives as ``5.0``. Documents are JSON, and a LONG schema field
refuses ``5.0``. So every whole double whose magnitude is at most 2**53 (the
integers a double holds exactly) becomes an ``int``, in document sources and in
filter values alike, whatever the schema says: JSON and every comparison treat
``2`` and ``2.0`` as equal, so a DOUBLE field loses nothing. Larger whole
doubles stay floats: their exact integer value was already lost on the wire.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from google.protobuf import struct_pb2

from ferry.errors import FieldViolation, InvalidArgument, Unimplemented
from ferry.store import (
    BulkResult,
    DeleteOp,
    Document,
    Fence,
    Filter,
    FilterOp,
    IndexOp,
    IndexSpec,
    Query,
    RetentionLease,
    Schema,
    ShardStats,
    Sort,
    WriteOp,
)
from ferry.store import proto as store_proto
from ferry.store.common import FIELD_PATH
from ferry.store.proto import timestamp
from ferry.v1 import indices_pb2 as pb

MAX_EXACT_INTEGER = 2**53
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000

# Indices and schemas convert in ferry.store.proto, shared with the replicator;
# the Indices servicer still finds them here.
KIND_OF_TYPE = store_proto.KIND_OF_TYPE
TYPE_OF_KIND = store_proto.TYPE_OF_KIND
index_name = store_proto.index_name
index_to_proto = store_proto.index_to_proto
schema_fields = store_proto.schema_fields
schema_to_proto = store_proto.schema_to_proto


# Field paths -----------------------------------------------------------------


@contextmanager
def request_paths(renames: Mapping[str, str]) -> Iterator[None]:
    """request_paths rewrites the store's field paths in an InvalidArgument to the request's.

    The store names what it was given (``ops[2].id``, ``size``); the client
    knows its request (``operations[2].id``, ``page_size``).
    """
    try:
        yield
    except InvalidArgument as exc:
        if not exc.violations:
            raise
        renamed = [FieldViolation(_rename(v.field, renames), v.description) for v in exc.violations]
        if len(renamed) == 1:
            raise InvalidArgument.field(renamed[0].field, renamed[0].description) from None
        raise InvalidArgument.fields(renamed) from None


def _rename(path: str, renames: Mapping[str, str]) -> str:
    for old, new in renames.items():
        if path == old or path.startswith((f"{old}.", f"{old}[")):
            return new + path[len(old) :]
    return path


# JSON values -----------------------------------------------------------------


def value_to_python(value: struct_pb2.Value, where: str) -> Any:
    """value_to_python is a Value as plain JSON data (whole numbers as int, see above)."""
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        return _number(value.number_value, where)
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return struct_to_dict(value.struct_value, where)
    if kind == "list_value":
        return [value_to_python(v, f"{where}[{i}]") for i, v in enumerate(value.list_value.values)]
    return None  # null_value, or a Value with nothing set


def _number(number: float, where: str) -> int | float:
    if not math.isfinite(number):
        raise InvalidArgument.field(where, f"must be a finite number, got {number}")
    if number.is_integer() and abs(number) <= MAX_EXACT_INTEGER:
        return int(number)
    return number


def struct_to_dict(struct: struct_pb2.Struct, where: str) -> dict[str, Any]:
    """struct_to_dict is a Struct as a JSON object; ``where`` prefixes error paths."""
    return {key: value_to_python(value, f"{where}.{key}") for key, value in struct.fields.items()}


def dict_to_struct(source: Mapping[str, Any]) -> struct_pb2.Struct:
    """dict_to_struct is a JSON object as a Struct (numbers become doubles)."""
    struct = struct_pb2.Struct()
    struct.update(source)
    return struct


# Indices and schemas -----------------------------------------------------------


def index_spec(request: pb.CreateIndexRequest) -> IndexSpec:
    """index_spec is what CreateIndex asks for; the schema starts at version 1."""
    if request.shard_count < 0:
        raise InvalidArgument.field("shard_count", "must not be negative (0 means 1)")
    fields = schema_fields(request.schema.fields, "schema.fields")
    return IndexSpec(
        name=request.name,
        shards=request.shard_count or 1,
        schema=Schema(fields=fields, version=1),
    )


def index_stats(
    name: str, shards: Sequence[ShardStats], leases: Sequence[RetentionLease]
) -> pb.IndexStats:
    """index_stats is every shard's counters with the leases held on it."""
    stats = pb.IndexStats(name=name, doc_count=sum(s.docs for s in shards))
    for s in shards:
        shard = stats.shards.add(
            shard=s.shard,
            doc_count=s.docs,
            max_seq_no=s.max_seq_no,
            global_checkpoint=s.global_checkpoint,
            min_retained_seq_no=s.min_retained_seq_no,
        )
        for lease in sorted(leases, key=lambda le: le.lease_id):
            if lease.shard == s.shard:
                shard.retention_leases.add(
                    id=lease.lease_id,
                    retaining_seq_no=lease.retaining_seq_no,
                    source=lease.source,
                    expire_time=timestamp(lease.expires_at),
                )
    return stats


# Documents and writes ---------------------------------------------------------


def document_to_proto(doc: Document) -> pb.Document:
    return pb.Document(
        id=doc.id, source=dict_to_struct(doc.source), shard=doc.shard, seq_no=doc.seq_no
    )


def write_ops(operations: Sequence[pb.BulkOperation]) -> list[WriteOp]:
    """write_ops are the store's ops for a Bulk; ids and limits are the store's to check."""
    ops: list[WriteOp] = []
    for i, op in enumerate(operations):
        where = f"operations[{i}]"
        if op.type == pb.BULK_OPERATION_TYPE_INDEX:
            if not op.HasField("source"):
                raise InvalidArgument.field(f"{where}.source", f"is required to index {op.id!r}")
            ops.append(IndexOp(op.id, struct_to_dict(op.source, f"{where}.source")))
        elif op.type == pb.BULK_OPERATION_TYPE_DELETE:
            ops.append(DeleteOp(op.id))
        else:
            raise InvalidArgument.field(
                f"{where}.type", "must be BULK_OPERATION_TYPE_INDEX or BULK_OPERATION_TYPE_DELETE"
            )
    return ops


def fence(request: pb.BulkRequest) -> Fence | None:
    """fence is the Bulk's fencing token as a store Fence, or None when it carries none."""
    if not request.HasField("fencing_token"):
        return None
    token = request.fencing_token
    if not token.scope:
        raise InvalidArgument.field("fencing_token.scope", "is required with a fencing token")
    if token.token <= 0:
        raise InvalidArgument.field("fencing_token.token", "must be positive")
    return Fence(token.scope, token.token)


# Bulk ops are "ops[i]..." in the store and "operations[i]..." in the request.
BULK_PATHS = {"ops": "operations"}


def bulk_response(result: BulkResult) -> pb.BulkResponse:
    # The store keeps no per-document version, so BulkItemResult.version stays 0.
    items = [pb.BulkItemResult(id=i.id, shard=i.shard, seq_no=i.seq_no) for i in result.items]
    return pb.BulkResponse(items=items)


# Queries -------------------------------------------------------------------------


def query(filters: Sequence[pb.Filter], match: pb.MatchQuery) -> Query:
    """query is the store's query for the filters and match of a Search or Count."""
    return Query(
        filters=tuple(_filter(f, f"filters[{i}]") for i, f in enumerate(filters)),
        match=_match_text(match),
        match_any=match.operator == pb.MATCH_OPERATOR_OR,
    )


def _filter(f: pb.Filter, where: str) -> Filter:
    if not f.field:
        raise InvalidArgument.field(f"{where}.field", "is required")
    if not FIELD_PATH.match(f.field):
        raise InvalidArgument.field(f"{where}.field", f"{f.field!r} is not a dotted field path")
    if f.field == "_id":
        raise Unimplemented(f"filters on the document id ({where}.field); use MultiGet")
    if f.negate:
        raise Unimplemented(f"negated filters ({where}.negate)")
    condition = f.WhichOneof("condition")
    if condition == "term":
        value = value_to_python(f.term, f"{where}.term")
        if not isinstance(value, (str, int, float, bool)):
            raise InvalidArgument.field(f"{where}.term", "must be a string, number or boolean")
        return Filter(f.field, FilterOp.TERM, value=value)
    if condition == "prefix":
        return Filter(f.field, FilterOp.PREFIX, value=f.prefix)
    if condition == "range":
        return _range(f.field, f.range, f"{where}.range")
    if condition == "exists":
        if not f.exists:
            raise Unimplemented(f"filters on absent fields ({where}.exists: false)")
        return Filter(f.field, FilterOp.EXISTS)
    raise InvalidArgument.field(where, "needs one of term, prefix, range or exists")


def _range(field: str, condition: pb.RangeCondition, where: str) -> Filter:
    bounds: dict[str, Any] = {}
    for name in ("gt", "gte", "lt", "lte"):
        if condition.HasField(name):
            bound = value_to_python(getattr(condition, name), f"{where}.{name}")
            if isinstance(bound, bool) or not isinstance(bound, (str, int, float)):
                raise InvalidArgument.field(f"{where}.{name}", "must be a number or a string")
            bounds[name] = bound
    if not bounds:
        raise InvalidArgument.field(where, "needs at least one of gt, gte, lt, lte")
    if len({isinstance(b, str) for b in bounds.values()}) > 1:
        raise InvalidArgument.field(where, "bounds must be all numbers or all strings")
    return Filter(field, FilterOp.RANGE, **bounds)


def _match_text(match: pb.MatchQuery) -> str:
    text = match.query.strip()
    if not text:
        if match.fields:
            raise InvalidArgument.field("match.query", "is required with match.fields")
        return ""
    if match.operator not in (
        pb.MATCH_OPERATOR_UNSPECIFIED,
        pb.MATCH_OPERATOR_OR,
        pb.MATCH_OPERATOR_AND,
    ):
        raise InvalidArgument.field("match.operator", f"unknown operator {match.operator}")
    return text


def check_match_fields(match: pb.MatchQuery, schema: Schema) -> None:
    """check_match_fields allows match.fields only as the schema's TEXT fields, all of them.

    The store searches every TEXT field at once; it cannot narrow to some.
    """
    text_fields = schema.text_fields()
    for i, name in enumerate(match.fields):
        if name not in text_fields:
            raise InvalidArgument.field(
                f"match.fields[{i}]", f"{name!r} is not a TEXT field of the schema"
            )
    if match.fields and set(match.fields) != set(text_fields):
        raise Unimplemented("match on some TEXT fields only (match.fields); leave it empty")


def sort(fields: Sequence[pb.SortField]) -> list[Sort]:
    """sort is the store's sort; "_id" ascending ends it (the store's own tie-breaker)."""
    result: list[Sort] = []
    for i, s in enumerate(fields):
        where = f"sort[{i}]"
        if s.order not in (
            pb.SORT_ORDER_UNSPECIFIED,
            pb.SORT_ORDER_ASCENDING,
            pb.SORT_ORDER_DESCENDING,
        ):
            raise InvalidArgument.field(f"{where}.order", f"unknown order {s.order}")
        descending = s.order == pb.SORT_ORDER_DESCENDING
        if not s.field:
            raise InvalidArgument.field(f"{where}.field", "is required")
        if s.field == "_id" and not descending:
            break  # ids are unique: nothing after it changes the order
        if s.field in ("_id", "_seq_no", "_score"):
            order = "descending" if descending else "ascending"
            raise Unimplemented(f"sorting by {s.field} {order} ({where}.field)")
        if not FIELD_PATH.match(s.field):
            raise InvalidArgument.field(f"{where}.field", f"{s.field!r} is not a dotted field path")
        result.append(Sort(s.field, descending))
    return result


def page_size(size: int) -> int:
    if not 0 <= size <= MAX_PAGE_SIZE:
        raise InvalidArgument.field(
            "page_size", f"must be between 0 and {MAX_PAGE_SIZE} (0 means {DEFAULT_PAGE_SIZE})"
        )
    return size or DEFAULT_PAGE_SIZE


# Search paths the store names differently from the request.
SEARCH_PATHS = {
    "query.filters": "filters",
    "query.match": "match.query",
    "size": "page_size",
    "cursor": "page_token",
}


# A page token is "<search fingerprint>.<store cursor>": the store's cursor
# holds only the last hit's sort values, and the fingerprint makes a token
# from another search (index, filters, match or sort) INVALID_ARGUMENT.


def _fingerprint(request: pb.SearchRequest) -> str:
    search = pb.SearchRequest()
    search.CopyFrom(request)
    search.ClearField("page_token")
    search.ClearField("page_size")
    return hashlib.blake2b(search.SerializeToString(deterministic=True), digest_size=8).hexdigest()


def store_cursor(request: pb.SearchRequest) -> str:
    """store_cursor is the store's cursor inside request.page_token ("" for the first page)."""
    if not request.page_token:
        return ""
    fingerprint, _, cursor = request.page_token.partition(".")
    if not cursor or fingerprint != _fingerprint(request):
        raise InvalidArgument.field(
            "page_token",
            "is not a token of this search: index, filters, match and sort must stay the same",
        )
    return cursor


def page_token(request: pb.SearchRequest, cursor: str) -> str:
    """page_token wraps the store's next cursor; empty on the last page."""
    return f"{_fingerprint(request)}.{cursor}" if cursor else ""
