"""The index store's vocabulary: indices, documents, operations, shards, leases.

Shared by every backend. Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any, NamedTuple

NO_OPS = -1
"""seq_no value of a shard with no operations yet (as in CCR)."""


class FieldKind(StrEnum):
    """FieldKind is the type a schema gives a JSON field."""

    KEYWORD = "keyword"
    """A string matched exactly (term, prefix, range on strings)."""
    TEXT = "text"
    """A string searched by full-text match."""
    LONG = "long"
    DOUBLE = "double"
    BOOLEAN = "boolean"
    DATE = "date"
    """An ISO-8601 string; ranges compare lexically, which orders ISO dates."""
    OBJECT = "object"


@dataclass(frozen=True)
class Schema:
    """Schema gives field paths ("a.b") their kinds; version grows with every change.

    Fields may be added by a newer version, never retyped or removed.
    """

    fields: dict[str, FieldKind] = field(default_factory=dict)
    version: int = 0

    def text_fields(self) -> list[str]:
        return sorted(f for f, kind in self.fields.items() if kind is FieldKind.TEXT)


@dataclass(frozen=True)
class LeaderInfo:
    """LeaderInfo marks a follower index: where its operations come from."""

    remote_cluster: str
    leader_index: str


@dataclass(frozen=True)
class IndexSpec:
    """IndexSpec is what creating an index fixes: name, shard count, schema, follower role."""

    name: str
    shards: int = 1
    schema: Schema = field(default_factory=Schema)
    leader: LeaderInfo | None = None
    """Set for a follower index, which refuses ordinary writes."""

    @property
    def follower(self) -> bool:
        return self.leader is not None


@dataclass(frozen=True)
class IndexInfo:
    """IndexInfo is a stored index: its spec and when it was created (epoch seconds)."""

    spec: IndexSpec
    created_at: float


def shard_for(doc_id: str, shards: int) -> int:
    """shard_for is the shard a document id lives in: a stable hash of the id mod shards.

    The same on every backend, machine and Python version (not ``hash()``).
    """
    digest = hashlib.blake2b(doc_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def encode_source(source: dict[str, Any]) -> bytes:
    """encode_source is the canonical JSON bytes stored for a document.

    Compact separators, UTF-8 rather than ``\\u`` escapes, keys in the
    source's order: ``json.dumps(source, separators=(",", ":"),
    ensure_ascii=False, allow_nan=False)``, byte for byte. ValueError for NaN
    and infinities (they are not JSON, and no backend's JSON functions read
    them) and for a source nested too deeply or holding itself; TypeError for
    a value JSON has no type for.
    """
    try:
        return "".join(_encode(source, 0)).encode()
    except RecursionError:
        # No circular-reference check: a cycle recurses until Python's limit.
        raise ValueError("the document is nested too deeply, or contains itself") from None


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


def _encoder() -> Callable[[Any, int], list[str]]:
    """_encoder is the json module's C encoder, built once, with json.dumps' options as above.

    ``json.dumps`` (and ``JSONEncoder.encode``) builds a new one for every
    call, with a new dict for its circular-reference check; this one has no
    such check (see :func:`encode_source`). Without the C module (not
    CPython), the Python encoder.
    """
    if c_make_encoder is None:  # pragma: no cover - CPython always has it
        encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return lambda value, _: [encoder.encode(value)]
    # markers, default, encoder, indent, key and item separators, sort_keys, skipkeys, allow_nan
    make: Any = c_make_encoder
    encode: Callable[[Any, int], list[str]] = make(
        None, _not_json, encode_basestring, None, ":", ",", False, False, False
    )
    return encode


_encode = _encoder()


# Writes ------------------------------------------------------------------


@dataclass(frozen=True)
class IndexOp:
    """IndexOp creates or replaces a document."""

    id: str
    source: dict[str, Any]


@dataclass(frozen=True)
class DeleteOp:
    """DeleteOp removes a document; deleting a missing id is a no-op."""

    id: str


WriteOp = IndexOp | DeleteOp


@dataclass(frozen=True)
class Fence:
    """Fence is a writer's ownership proof: the store refuses a token lower than
    the highest it has seen for the scope. A higher token registers itself."""

    scope: str
    token: int


@dataclass(frozen=True)
class Stamp:
    """Stamp marks written documents with the sync that wrote them.

    A full sync writes every document with a new generation, then
    :meth:`Store.sweep` deletes the scope's documents of older generations:
    those the source no longer has.
    """

    scope: str
    generation: int


class ItemResult(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    NOT_FOUND = "not_found"


class BulkItem(NamedTuple):
    """BulkItem is the outcome of one op: its shard and seq_no (NO_OPS for a no-op).

    A named tuple, not a dataclass: a bulk makes one per op, and a tuple is made in
    half the time.
    """

    id: str
    shard: int
    seq_no: int
    result: ItemResult


@dataclass(frozen=True)
class BulkResult:
    items: list[BulkItem]
    source_bytes: int = 0
    """source_bytes is the size of the canonical JSON the call wrote (index ops)."""


# Reads -------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """Document is a stored document: its current source and the seq_no that wrote it."""

    id: str
    source: dict[str, Any]
    shard: int
    seq_no: int


class FilterOp(StrEnum):
    TERM = "term"
    PREFIX = "prefix"
    RANGE = "range"
    EXISTS = "exists"


@dataclass(frozen=True)
class Filter:
    """Filter restricts a search to documents whose JSON field matches.

    ``field`` is a dotted path ("customer.id"). TERM compares ``value`` for
    equality (strings, numbers, booleans), PREFIX matches string starts,
    RANGE takes any of gt/gte/lt/lte (numbers compare as numbers, strings
    lexically), EXISTS needs the field present and not null.
    """

    field: str
    op: FilterOp
    value: Any = None
    gt: Any = None
    gte: Any = None
    lt: Any = None
    lte: Any = None


@dataclass(frozen=True)
class Sort:
    """Sort orders hits by a field; ties (and the default) break on id."""

    field: str
    descending: bool = False


@dataclass(frozen=True)
class Query:
    """Query is every filter (AND) plus an optional full-text match on text fields."""

    filters: tuple[Filter, ...] = ()
    match: str = ""
    """Words searched for in the schema's text fields (any of them); see ``match_any``.

    Words are separated by white space and taken literally: quotes, parentheses,
    ``*``, ``OR`` and the like are plain text, never query syntax. Blank means no
    full-text condition; a word with no letter or digit is ignored, and a match
    with no word left matches nothing.
    """
    match_any: bool = False
    """False: every word of ``match`` must appear. True: any one of them is enough."""


@dataclass(frozen=True)
class SearchPage:
    hits: list[Document]
    next_cursor: str
    """Opaque; pass it back to get the next page. Empty on the last page."""


# History and shards ------------------------------------------------------


class OpKind(StrEnum):
    INDEX = "index"
    DELETE = "delete"


@dataclass(frozen=True)
class Operation:
    """Operation is one entry of a shard's history.

    ``source`` is the document's canonical JSON bytes for INDEX, None for DELETE.
    ``write_time`` is epoch seconds on the leader, used for lag in time.
    """

    shard: int
    seq_no: int
    kind: OpKind
    id: str
    source: bytes | None
    write_time: float

    def size(self) -> int:
        """size is the byte cost used against replication byte credit."""
        return replication_cost(self.id, self.source)


@dataclass(frozen=True)
class ShardStats:
    """ShardStats is a shard's counters.

    Every operation at or below ``global_checkpoint`` is durable. On a leader it
    equals ``max_seq_no``; on a follower it is the highest seq_no below which
    every replicated operation has been applied. ``min_retained_seq_no`` is the
    lowest seq_no whose history is still complete: history below it may be
    trimmed.
    """

    shard: int
    docs: int
    max_seq_no: int
    global_checkpoint: int
    min_retained_seq_no: int


@dataclass(frozen=True)
class ShardSeqNos:
    """ShardSeqNos is where one shard's history stands, as in :class:`ShardStats`, without
    its document count: what replication reads for every message it sends."""

    max_seq_no: int
    global_checkpoint: int
    min_retained_seq_no: int


@dataclass(frozen=True)
class RetentionLease:
    """RetentionLease keeps a shard's history at and above ``retaining_seq_no``."""

    lease_id: str
    shard: int
    retaining_seq_no: int
    expires_at: float
    source: str = ""


@dataclass(frozen=True)
class SnapshotDoc:
    """SnapshotDoc is one document of a shard snapshot, with the seq_no that wrote it."""

    id: str
    source: bytes
    seq_no: int
    write_time: float

    def size(self) -> int:
        """size is the byte cost of the document in a bootstrap: its INDEX operation's."""
        return replication_cost(self.id, self.source)


def replication_cost(doc_id: str, source: bytes | None) -> int:
    """replication_cost is what one operation or document counts against byte credit
    and chunk bounds: its id and source, plus a fixed overhead."""
    return len(doc_id) + (len(source) if source else 0) + 32


DEFAULT_RETENTION = timedelta(hours=12)
