"""Checks and encodings every backend shares: limits, schema rules, cursors, paths."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ferry.errors import FieldViolation, InvalidArgument
from ferry.names import index_name_error
from ferry.store.model import (
    DeleteOp,
    FieldKind,
    Filter,
    FilterOp,
    IndexOp,
    IndexSpec,
    OpKind,
    Query,
    Schema,
    Sort,
    WriteOp,
    encode_source,
    shard_for,
)
from ferry.store.store import SchemaConflict

MAX_SHARDS = 1024
# \Z, not $: "$" also matches before a final newline.
FIELD_PATH = re.compile(r"^[A-Za-z0-9_@$-]+(\.[A-Za-z0-9_@$-]+)*\Z")
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
"""_NUL_ESCAPE finds a JSON \\u0000 escape (not an escaped backslash followed by u0000)."""


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Limits bound what one write may carry; every violation names the op and id."""

    max_id_bytes: int = 512
    max_document_bytes: int = 10 * 1024 * 1024
    max_batch_ops: int = 10_000
    max_batch_bytes: int = 64 * 1024 * 1024
    max_page_size: int = 10_000
    max_filters: int = 100
    """Filters per query: each is a condition of one SQL statement, whose depth is bounded."""
    max_sort_fields: int = 32
    max_match_words: int = 1024
    max_match_chars: int = 8192
    """Full-text match size: PostgreSQL's tsquery parser runs out of stack near 40k words,
    and punctuation splits words, so the text's length is bounded too."""


DEFAULT_LIMITS = Limits()


class PreparedOp(NamedTuple):
    """PreparedOp is a checked write: its shard and canonical source bytes (None for deletes).

    A named tuple, not a dataclass: one is made per document of every bulk.
    """

    id: str
    shard: int
    kind: OpKind
    source: bytes | None


def check_spec(spec: IndexSpec) -> None:
    """check_spec validates an index spec before it is created."""
    problems: list[FieldViolation] = []
    if (error := index_name_error(spec.name)) is not None:
        problems.append(FieldViolation("name", error))
    if not 1 <= spec.shards <= MAX_SHARDS:
        problems.append(FieldViolation("shards", f"must be between 1 and {MAX_SHARDS}"))
    problems.extend(_schema_problems(spec.schema))
    if problems:
        raise InvalidArgument.fields(problems)


def _schema_problems(schema: Schema) -> list[FieldViolation]:
    problems = []
    if schema.version < 0:
        problems.append(FieldViolation("schema.version", "must not be negative"))
    for path, kind in schema.fields.items():
        if not FIELD_PATH.match(path):
            problems.append(FieldViolation(f"schema.fields.{path}", "is not a dotted field path"))
        if not isinstance(kind, FieldKind):
            problems.append(FieldViolation(f"schema.fields.{path}", f"unknown kind {kind!r}"))
    return problems


def check_schema_change(index: str, old: Schema, new: Schema) -> None:
    """check_schema_change allows only additions under a higher version."""
    problems = _schema_problems(new)
    if problems:
        raise InvalidArgument.fields(problems)
    if new.version <= old.version:
        raise SchemaConflict(index, f"version {new.version} is not above {old.version}")
    for path, kind in old.fields.items():
        if path not in new.fields:
            raise SchemaConflict(index, f"field {path!r} would be dropped")
        if new.fields[path] != kind:
            raise SchemaConflict(
                index, f"field {path!r} would change from {kind} to {new.fields[path]}"
            )


def check_id(doc_id: Any, where: str, limits: Limits = DEFAULT_LIMITS) -> str:
    """check_id returns a valid document id or raises naming ``where``."""
    if not isinstance(doc_id, str) or not doc_id:
        raise InvalidArgument.field(where, "document id must be a non-empty string")
    try:
        size = len(doc_id.encode())
    except UnicodeEncodeError:  # a lone surrogate: no backend can store it
        raise InvalidArgument.field(where, "document id must be valid Unicode text") from None
    if size > limits.max_id_bytes:
        raise InvalidArgument.field(
            where,
            f"document id is {size} bytes; at most {limits.max_id_bytes} (id {doc_id[:40]!r}...)",
        )
    if "\x00" in doc_id:
        raise InvalidArgument.field(where, "document id must not contain NUL")
    return doc_id


_KIND_CHECKS = {
    FieldKind.KEYWORD: lambda v: isinstance(v, str),
    FieldKind.TEXT: lambda v: isinstance(v, str),
    FieldKind.DATE: lambda v: isinstance(v, str),
    FieldKind.LONG: lambda v: isinstance(v, int) and not isinstance(v, bool),
    FieldKind.DOUBLE: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    FieldKind.BOOLEAN: lambda v: isinstance(v, bool),
    FieldKind.OBJECT: lambda v: isinstance(v, dict),
}


def field_value(source: dict[str, Any], path: str) -> Any:
    """field_value follows a dotted path into source; None when any step is missing."""
    value: Any = source
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def check_document(schema: Schema, doc_id: str, source: Any, where: str) -> None:
    """check_document checks a source is a JSON object whose typed fields fit the schema."""
    if not isinstance(source, dict):
        raise InvalidArgument.field(f"{where}.source", f"document {doc_id!r} must be a JSON object")
    for path, kind in schema.fields.items():
        value = field_value(source, path)
        if value is not None and not _KIND_CHECKS[kind](value):
            raise InvalidArgument.field(
                f"{where}.source.{path}",
                f"document {doc_id!r}: field {path!r} must be {kind}, got {type(value).__name__}",
            )


def prepare_bulk(
    spec: IndexSpec, ops: Sequence[WriteOp], limits: Limits = DEFAULT_LIMITS
) -> list[PreparedOp]:
    """prepare_bulk checks every op against the limits and schema before anything is written.

    The hot path of every write: an op whose id is plain ASCII, within the
    limit and free of NUL passes without :func:`check_id`'s encoding, and a
    one-shard index skips the hash. Anything else takes the full checks, so
    the errors (naming ``ops[i]``) are the same either way.
    """
    if len(ops) > limits.max_batch_ops:
        raise InvalidArgument.field(
            "ops", f"{len(ops)} ops; at most {limits.max_batch_ops} per bulk"
        )
    prepared: list[PreparedOp] = []
    append = prepared.append
    shards = spec.shards
    schema = spec.schema
    typed = bool(schema.fields)
    max_id_bytes = limits.max_id_bytes
    max_document_bytes = limits.max_document_bytes
    max_batch_bytes = limits.max_batch_bytes
    index_kind, delete_kind = OpKind.INDEX, OpKind.DELETE
    total = 0
    for i, op in enumerate(ops):
        doc_id = op.id
        if not (
            type(doc_id) is str
            and doc_id
            and doc_id.isascii()  # then its UTF-8 size is its length
            and len(doc_id) <= max_id_bytes
            and "\x00" not in doc_id
        ):
            doc_id = check_id(doc_id, f"ops[{i}].id", limits)
        shard = 0 if shards == 1 else shard_for(doc_id, shards)
        if type(op) is not IndexOp:
            if isinstance(op, DeleteOp):
                append(PreparedOp(doc_id, shard, delete_kind, None))
                continue
            if not isinstance(op, IndexOp):
                raise InvalidArgument.field(f"ops[{i}]", f"unknown op {type(op).__name__}")
        document = op.source
        if typed or type(document) is not dict:
            check_document(schema, doc_id, document, f"ops[{i}]")
        try:
            source = encode_source(document)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument.field(f"ops[{i}].source", f"document {doc_id!r}: {exc}") from exc
        if b"\\u0000" in source and _NUL_ESCAPE.search(source):
            # PostgreSQL's jsonb cannot hold NUL; refuse it on every backend alike.
            raise InvalidArgument.field(
                f"ops[{i}].source",
                f"document {doc_id!r}: strings must not contain NUL (\\u0000)",
            )
        size = len(source)
        if size > max_document_bytes:
            raise InvalidArgument.field(
                f"ops[{i}].source",
                f"document {doc_id!r} is {size} bytes; at most {max_document_bytes}",
            )
        total += size
        if total > max_batch_bytes:
            raise InvalidArgument.field("ops", f"batch exceeds {max_batch_bytes} bytes at ops[{i}]")
        append(PreparedOp(doc_id, shard, index_kind, source))
    return prepared


def check_query(
    query: Query, sort: Sequence[Sort] = (), size: int = 10, limits: Limits = DEFAULT_LIMITS
) -> None:
    """check_query validates paths, operators, the number of filters and sort fields and
    the page size."""
    if len(query.filters) > limits.max_filters:
        raise InvalidArgument.field(
            "query.filters", f"{len(query.filters)} filters; at most {limits.max_filters}"
        )
    if len(sort) > limits.max_sort_fields:
        raise InvalidArgument.field(
            "sort", f"{len(sort)} sort fields; at most {limits.max_sort_fields}"
        )
    if len(query.match) > limits.max_match_chars:
        raise InvalidArgument.field(
            "query.match", f"{len(query.match)} characters; at most {limits.max_match_chars}"
        )
    words = len(query.match.split())
    if words > limits.max_match_words:
        raise InvalidArgument.field(
            "query.match", f"{words} words; at most {limits.max_match_words}"
        )
    for i, f in enumerate(query.filters):
        where = f"query.filters[{i}]"
        _check_filter(f, where)
    for i, s in enumerate(sort):
        if not FIELD_PATH.match(s.field):
            raise InvalidArgument.field(
                f"sort[{i}].field", f"{s.field!r} is not a dotted field path"
            )
    if not 1 <= size <= limits.max_page_size:
        raise InvalidArgument.field("size", f"must be between 1 and {limits.max_page_size}")


def _check_filter(f: Filter, where: str) -> None:
    if not FIELD_PATH.match(f.field):
        raise InvalidArgument.field(f"{where}.field", f"{f.field!r} is not a dotted field path")
    if f.op is FilterOp.TERM and not _scalar(f.value):
        raise InvalidArgument.field(f"{where}.value", "term needs a string, number or boolean")
    if f.op is FilterOp.PREFIX and not isinstance(f.value, str):
        raise InvalidArgument.field(f"{where}.value", "prefix needs a string")
    if f.op is FilterOp.RANGE:
        bounds = [b for b in (f.gt, f.gte, f.lt, f.lte) if b is not None]
        if not bounds:
            raise InvalidArgument.field(where, "range needs at least one of gt, gte, lt, lte")
        kinds = {isinstance(b, str) for b in bounds}
        if len(kinds) > 1 or not all(_scalar(b) and not isinstance(b, bool) for b in bounds):
            raise InvalidArgument.field(where, "range bounds must be all numbers or all strings")


def _scalar(value: Any) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, (str, int, float, bool))


def encode_cursor(values: list[Any]) -> str:
    """encode_cursor makes an opaque cursor from the last hit's sort values (id last)."""
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str, expected: int) -> list[Any]:
    """decode_cursor reads a cursor back; InvalidArgument if it is not one of ours."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument.field("cursor", "is not a cursor this store issued") from exc
    if not isinstance(values, list) or len(values) != expected:
        raise InvalidArgument.field("cursor", "does not match this query's sort")
    if not all(_cursor_value(v) for v in values):
        # Only a forged cursor holds these: a sort key is a JSON scalar a backend can bind.
        raise InvalidArgument.field("cursor", "is not a cursor this store issued")
    return values


def _cursor_value(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return -(2**63) <= value < 2**63
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (str, bool))
