"""The PostgreSQL store's tables, connections, error translation and index rows.

Tables (prefixed ``ferry_`` so a shared database stays tidy; integer index
ids keep the big tables' keys short):

- ``ferry_indices``: one row per index; the schema as JSON.
- ``ferry_shards``: per shard ``max_seq_no``, ``checkpoint`` and
  ``min_retained_seq_no``. Its row lock is what serialises writers of a shard.
- ``ferry_ops``: the history, keyed (index, shard, seq_no). ``source`` is the
  canonical JSON as ``bytea``, byte for byte what was written. A document's
  current source lives only here, in its current op: a write stores ~1 KB
  once, not twice, and a superseded op is only ever deleted, never rewritten.
- ``ferry_docs``: id → current op (shard, seq_no), plus the stamp (scope,
  generation) of the last write, keyed (index, shard, id): a lookup computes
  the shard from the id; a shard's snapshot and a sweep walk the key in id
  order. Narrow rows, so walking it is cheap.
- ``ferry_words``: for indices with text fields only, each document's words
  (a tsvector) under a GIN index, for full-text match.
- ``ferry_tombstones``: follower only, deletions above the follower
  checkpoint, so an older op arriving late cannot bring a document back.
- ``ferry_fences``, ``ferry_leases``: fencing tokens and retention leases.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from ferry.errors import FailedPrecondition, InvalidArgument, NotFound
from ferry.store.model import FieldKind, IndexInfo, IndexSpec, LeaderInfo, Schema

_DDL_LOCK = 0x66657272_79737472
"""Advisory lock key held while creating tables, so concurrent starts do not race."""

_DDL = """
CREATE TABLE IF NOT EXISTS ferry_indices (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE,
    shards integer NOT NULL,
    schema jsonb NOT NULL,
    remote_cluster text,
    leader_index text,
    created_at double precision NOT NULL
);
CREATE TABLE IF NOT EXISTS ferry_shards (
    index_id integer NOT NULL,
    shard integer NOT NULL,
    max_seq_no bigint NOT NULL,
    checkpoint bigint NOT NULL,
    min_retained_seq_no bigint NOT NULL,
    PRIMARY KEY (index_id, shard)
);
CREATE TABLE IF NOT EXISTS ferry_ops (
    index_id integer NOT NULL,
    shard integer NOT NULL,
    seq_no bigint NOT NULL,
    kind text NOT NULL,
    doc_id text COLLATE "C" NOT NULL,
    write_time double precision NOT NULL,
    source bytea,
    PRIMARY KEY (index_id, shard, seq_no)
);
CREATE TABLE IF NOT EXISTS ferry_docs (
    index_id integer NOT NULL,
    shard integer NOT NULL,
    doc_id text COLLATE "C" NOT NULL,
    seq_no bigint NOT NULL,
    scope text,
    generation bigint,
    PRIMARY KEY (index_id, shard, doc_id)
);
CREATE TABLE IF NOT EXISTS ferry_words (
    index_id integer NOT NULL,
    shard integer NOT NULL,
    doc_id text COLLATE "C" NOT NULL,
    seq_no bigint NOT NULL,
    words tsvector NOT NULL,
    PRIMARY KEY (index_id, shard, doc_id)
);
CREATE INDEX IF NOT EXISTS ferry_words_match ON ferry_words USING gin (words);
CREATE TABLE IF NOT EXISTS ferry_tombstones (
    index_id integer NOT NULL,
    shard integer NOT NULL,
    doc_id text COLLATE "C" NOT NULL,
    seq_no bigint NOT NULL,
    PRIMARY KEY (index_id, shard, doc_id)
);
CREATE TABLE IF NOT EXISTS ferry_fences (
    scope text PRIMARY KEY,
    token bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS ferry_leases (
    index_id integer NOT NULL,
    shard integer NOT NULL,
    lease_id text NOT NULL,
    retaining_seq_no bigint NOT NULL,
    expires_at double precision NOT NULL,
    source text NOT NULL,
    PRIMARY KEY (index_id, shard, lease_id)
);
"""


async def create_tables(conn: Any) -> None:
    """create_tables creates the tables that are missing, in the caller's transaction
    (which holds the DDL lock until it ends)."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _DDL_LOCK)
    await conn.execute(_DDL)


WALK_THE_KEY = "SET LOCAL enable_sort = off"
"""WALK_THE_KEY makes keyset pages (ids above x, in order, n at a time) walk the
primary key. Statistics lag behind bulk loads; a planner that thinks the range
holds a few rows would rather sort all of it, once per page."""

# The current op of a document: its source and write time.
CURRENT = "ferry_docs d JOIN ferry_ops o USING (index_id, shard, seq_no)"
LOCK_SHARDS = """
SELECT shard, max_seq_no, checkpoint FROM ferry_shards
WHERE index_id = $1 AND shard = ANY($2::int[]) ORDER BY shard FOR NO KEY UPDATE
"""
# A shard is a function of the id, so "shard in ... and id in ..." picks exactly
# the given documents, and does it with one index scan (a join with unnest()
# lets the planner hash the whole index's documents instead).
DOCS_IN = "index_id = $1 AND shard = ANY($2::int[]) AND doc_id = ANY($3::text[])"

SHARD_TABLES = ("ferry_docs", "ferry_words", "ferry_ops", "ferry_tombstones")
"""SHARD_TABLES hold a shard's documents and history (emptied by begin_bootstrap)."""
INDEX_TABLES = (*SHARD_TABLES, "ferry_leases")

# Errors that mean "the database is not reachable right now" rather than a bug.
UNAVAILABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.TransactionRollbackError,
)


Borrow = Callable[[], AbstractAsyncContextManager[Any]]
"""Borrow lends a pooled connection for one ``async with`` block (``PostgresStore._conn``);
database outages inside it become Unavailable. Store functions take it, not a connection,
so that each opens its own transactions."""


def redact(url: str) -> str:
    """redact hides a password in a URL, for messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


@dataclass(frozen=True)
class IndexRow:
    """IndexRow is an index row: its internal id and what callers see."""

    id: int
    info: IndexInfo

    @property
    def spec(self) -> IndexSpec:
        return self.info.spec

    def check_shard(self, shard: int) -> None:
        if not isinstance(shard, int) or not 0 <= shard < self.spec.shards:
            raise InvalidArgument.field(
                "shard", f"index {self.spec.name!r} has shards 0 to {self.spec.shards - 1}"
            )

    def require_follower(self) -> None:
        if not self.spec.follower:
            raise FailedPrecondition(
                f"index {self.spec.name!r} is not a follower: it takes no replicated operations",
                type="NOT_FOLLOWER",
                subject=f"index/{self.spec.name}",
            )


def _schema_from_json(raw: str) -> Schema:
    schema = json.loads(raw)
    fields = {path: FieldKind(kind) for path, kind in schema["fields"].items()}
    return Schema(fields, schema["version"])


def index_from_row(row: Any) -> IndexRow:
    leader = None
    if row["leader_index"] is not None:
        leader = LeaderInfo(row["remote_cluster"], row["leader_index"])
    spec = IndexSpec(
        name=row["name"],
        shards=row["shards"],
        schema=_schema_from_json(row["schema"]),
        leader=leader,
    )
    return IndexRow(row["id"], IndexInfo(spec, row["created_at"]))


def schema_json(schema: Schema) -> str:
    return json.dumps(
        {"fields": {p: str(k) for p, k in schema.fields.items()}, "version": schema.version}
    )


async def load_index(conn: Any, name: str, *, lock: str = "") -> IndexRow:
    """load_index reads an index's row; ``lock`` is a locking clause such as ``FOR UPDATE``."""
    row = await conn.fetchrow(f"SELECT * FROM ferry_indices WHERE name = $1 {lock}", name)
    if row is None:
        raise NotFound("index", name)
    return index_from_row(row)


async def current_schema(conn: Any, index_id: int) -> Schema:
    """current_schema re-reads the schema: under shard locks it is the one writes must use,
    since update_schema takes those locks too."""
    raw = await conn.fetchval("SELECT schema FROM ferry_indices WHERE id = $1", index_id)
    return _schema_from_json(raw)
