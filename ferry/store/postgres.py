"""PostgresStore: the index store on PostgreSQL, shared by many machines.

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

Dense seq_nos: a write locks its shard rows (in shard order, so writers never
deadlock), reads ``max_seq_no``, numbers its ops from there and writes the
new maximum, all in its transaction. The next writer of that shard waits for
the lock, so numbers are handed out in commit order; a rolled-back or killed
writer gives its numbers back with everything else. Ops and new documents go
in with COPY.

Queries: filters and sorts read JSON fields with ``jsonb`` operators on the
sources (cast once per row; paths and values are bound parameters), so they
cost a parse of every document of the index they look at; ids, counts of
everything, full-text match, snapshots and history reads go by index.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from ferry.errors import (
    AlreadyExists,
    FailedPrecondition,
    Fenced,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from ferry.store.common import (
    DEFAULT_LIMITS,
    Limits,
    PreparedOp,
    check_id,
    check_query,
    check_schema_change,
    check_spec,
    decode_cursor,
    encode_cursor,
    prepare_bulk,
)
from ferry.store.model import (
    DEFAULT_RETENTION,
    NO_OPS,
    BulkItem,
    BulkResult,
    Document,
    Fence,
    FieldKind,
    FilterOp,
    IndexInfo,
    IndexSpec,
    ItemResult,
    LeaderInfo,
    Operation,
    OpKind,
    Query,
    RetentionLease,
    Schema,
    SearchPage,
    ShardStats,
    SnapshotDoc,
    Sort,
    Stamp,
    WriteOp,
    shard_for,
)
from ferry.store.store import MATCH_ALL, FollowerIndex, HistoryTrimmed, Snapshot, Store

_DDL_LOCK = 0x66657272_79737472
"""Advisory lock key held while creating tables, so concurrent starts do not race."""

_LEASE_LOCK = 0x6C656173
"""First key of the per-index advisory lock that orders lease puts against trims."""

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


_WALK_THE_KEY = "SET LOCAL enable_sort = off"
"""_WALK_THE_KEY makes keyset pages (ids above x, in order, n at a time) walk the
primary key. Statistics lag behind bulk loads; a planner that thinks the range
holds a few rows would rather sort all of it, once per page."""

# The current op of a document: its source and write time.
_CURRENT = "ferry_docs d JOIN ferry_ops o USING (index_id, shard, seq_no)"
_LOCK_SHARDS = """
SELECT shard, max_seq_no, checkpoint FROM ferry_shards
WHERE index_id = $1 AND shard = ANY($2::int[]) ORDER BY shard FOR NO KEY UPDATE
"""
_SET_SHARD_MAX = """
UPDATE ferry_shards s SET max_seq_no = v.max_seq_no, checkpoint = v.max_seq_no
FROM unnest($2::int[], $3::bigint[]) AS v(shard, max_seq_no)
WHERE s.index_id = $1 AND s.shard = v.shard
"""
_INSERT_OPS = """
INSERT INTO ferry_ops (index_id, shard, seq_no, kind, doc_id, write_time, source)
SELECT $1, * FROM unnest($2::int[], $3::bigint[], $4::text[], $5::text[],
                         $6::float8[], $7::bytea[])
"""
# A shard is a function of the id, so "shard in ... and id in ..." picks exactly
# the given documents, and does it with one index scan (a join with unnest()
# lets the planner hash the whole index's documents instead).
_DOCS_IN = "index_id = $1 AND shard = ANY($2::int[]) AND doc_id = ANY($3::text[])"

_SHARD_TABLES = ("ferry_docs", "ferry_words", "ferry_ops", "ferry_tombstones")
"""_SHARD_TABLES hold a shard's documents and history (emptied by begin_bootstrap)."""
_INDEX_TABLES = (*_SHARD_TABLES, "ferry_leases")

# Errors that mean "the database is not reachable right now" rather than a bug.
_UNAVAILABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.TransactionRollbackError,
)


def _redact(url: str) -> str:
    """_redact hides a password in a URL, for messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


@dataclass(frozen=True)
class _Index:
    """_Index is an index row: its internal id and what callers see."""

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


def _index_from_row(row: Any) -> _Index:
    leader = None
    if row["leader_index"] is not None:
        leader = LeaderInfo(row["remote_cluster"], row["leader_index"])
    spec = IndexSpec(
        name=row["name"],
        shards=row["shards"],
        schema=_schema_from_json(row["schema"]),
        leader=leader,
    )
    return _Index(row["id"], IndexInfo(spec, row["created_at"]))


def _schema_json(schema: Schema) -> str:
    return json.dumps(
        {"fields": {p: str(k) for p, k in schema.fields.items()}, "version": schema.version}
    )


def _document(row: Any) -> Document:
    return Document(row["doc_id"], json.loads(row["source"]), row["shard"], row["seq_no"])


def _operation(shard: int, row: Any) -> Operation:
    return Operation(
        shard, row["seq_no"], OpKind(row["kind"]), row["doc_id"], row["source"], row["write_time"]
    )


def _shard_of(idx: _Index, doc_id: str) -> int:
    return shard_for(doc_id, idx.spec.shards)


class PostgresStore(Store):
    """PostgresStore keeps indices in a PostgreSQL database, through a connection pool.

    Any number of instances, on any number of machines, may share one
    database. ``url`` is ``postgresql://user:password@host:port/db`` (or
    ``?host=/socket/dir``). ``max_connections`` bounds this instance's pool; a
    snapshot holds one connection for its whole life.
    """

    def __init__(
        self, url: str, *, limits: Limits = DEFAULT_LIMITS, max_connections: int = 10
    ) -> None:
        self._url = url
        self._limits = limits
        self._max_connections = max_connections
        self._pool: asyncpg.Pool | None = None
        self._starting = asyncio.Lock()

    # Lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        async with self._starting:
            if self._pool is not None:
                return
            try:
                pool = await asyncpg.create_pool(
                    self._url,
                    min_size=1,
                    max_size=self._max_connections,
                    # Short queries: JIT compilation would cost more than it saves.
                    server_settings={"application_name": "ferry", "jit": "off"},
                )
            except _UNAVAILABLE as exc:
                raise Unavailable(f"PostgreSQL at {_redact(self._url)}: {exc}") from exc
            try:
                async with pool.acquire() as conn, conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", _DDL_LOCK)
                    await conn.execute(_DDL)
            except BaseException:
                await pool.close()
                raise
            self._pool = pool

    async def stop(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), timeout=10)
        except TimeoutError:
            pool.terminate()

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[Any]:
        """_conn lends a pooled connection; database outages become Unavailable."""
        if self._pool is None:
            raise RuntimeError("PostgresStore is not started")
        try:
            async with self._pool.acquire() as conn:
                yield conn
        except _UNAVAILABLE as exc:
            raise Unavailable(f"PostgreSQL at {_redact(self._url)}: {exc}") from exc

    async def _index(self, conn: Any, name: str, *, lock: str = "") -> _Index:
        row = await conn.fetchrow(f"SELECT * FROM ferry_indices WHERE name = $1 {lock}", name)
        if row is None:
            raise NotFound("index", name)
        return _index_from_row(row)

    # Indices ---------------------------------------------------------------

    async def create_index(self, spec: IndexSpec) -> IndexInfo:
        check_spec(spec)
        created_at = time.time()
        leader = spec.leader
        async with self._conn() as conn, conn.transaction():
            try:
                index_id = await conn.fetchval(
                    "INSERT INTO ferry_indices"
                    " (name, shards, schema, remote_cluster, leader_index, created_at)"
                    " VALUES ($1, $2, $3::jsonb, $4, $5, $6) RETURNING id",
                    spec.name,
                    spec.shards,
                    _schema_json(spec.schema),
                    leader.remote_cluster if leader else None,
                    leader.leader_index if leader else None,
                    created_at,
                )
            except asyncpg.UniqueViolationError as exc:
                raise AlreadyExists("index", spec.name) from exc
            await conn.execute(
                "INSERT INTO ferry_shards"
                " (index_id, shard, max_seq_no, checkpoint, min_retained_seq_no)"
                " SELECT $1, s, $3, $3, 0 FROM generate_series(0, $2 - 1) AS s",
                index_id,
                spec.shards,
                NO_OPS,
            )
        return IndexInfo(spec, created_at)

    async def get_index(self, name: str) -> IndexInfo:
        async with self._conn() as conn:
            return (await self._index(conn, name)).info

    async def list_indices(self) -> list[IndexInfo]:
        async with self._conn() as conn:
            rows = await conn.fetch('SELECT * FROM ferry_indices ORDER BY name COLLATE "C"')
        return [_index_from_row(row).info for row in rows]

    async def delete_index(self, name: str) -> None:
        async with self._conn() as conn, conn.transaction():
            idx = await self._index(conn, name, lock="FOR UPDATE")
            # Writers hold shard locks until they commit; taking them all first
            # means no write of this index is half-way when its rows go.
            await conn.execute(
                "SELECT 1 FROM ferry_shards WHERE index_id = $1 ORDER BY shard FOR UPDATE", idx.id
            )
            for table in _INDEX_TABLES:
                await conn.execute(f"DELETE FROM {table} WHERE index_id = $1", idx.id)
            await conn.execute("DELETE FROM ferry_shards WHERE index_id = $1", idx.id)
            await conn.execute("DELETE FROM ferry_indices WHERE id = $1", idx.id)

    async def update_schema(self, name: str, schema: Schema) -> IndexInfo:
        async with self._conn() as conn, conn.transaction():
            idx = await self._index(conn, name, lock="FOR UPDATE")
            check_schema_change(name, idx.spec.schema, schema)
            # Writers re-read the schema under their shard locks: once these are
            # ours, every write after us checks against (and indexes) the new one.
            await conn.execute(
                "SELECT 1 FROM ferry_shards WHERE index_id = $1 ORDER BY shard FOR UPDATE", idx.id
            )
            await conn.execute(
                "UPDATE ferry_indices SET schema = $2::jsonb WHERE id = $1",
                idx.id,
                _schema_json(schema),
            )
            if schema.text_fields() != idx.spec.schema.text_fields():
                # Every document's words, again, with the new text fields.
                await conn.execute(
                    "INSERT INTO ferry_words (index_id, shard, doc_id, seq_no, words)"
                    f" SELECT d.index_id, d.shard, d.doc_id, d.seq_no,"
                    f" {_words(schema.text_fields(), 'x.j')} FROM {_CURRENT}, LATERAL"
                    " (SELECT convert_from(o.source, 'UTF8')::jsonb AS j OFFSET 0) AS x"
                    " WHERE d.index_id = $1 ON CONFLICT (index_id, shard, doc_id) DO UPDATE"
                    " SET seq_no = EXCLUDED.seq_no, words = EXCLUDED.words",
                    idx.id,
                )
        spec = IndexSpec(idx.spec.name, idx.spec.shards, schema, idx.spec.leader)
        return IndexInfo(spec, idx.info.created_at)

    async def promote(self, name: str) -> IndexInfo:
        async with self._conn() as conn, conn.transaction():
            idx = await self._index(conn, name, lock="FOR UPDATE")
            if idx.spec.follower:
                await conn.execute(
                    "UPDATE ferry_indices SET remote_cluster = NULL, leader_index = NULL"
                    " WHERE id = $1",
                    idx.id,
                )
                # As a leader, everything written so far counts as durable: a gap
                # left by an op that never arrived will never be filled now.
                await conn.execute(
                    "SELECT 1 FROM ferry_shards WHERE index_id = $1 ORDER BY shard FOR UPDATE",
                    idx.id,
                )
                await conn.execute(
                    "UPDATE ferry_shards SET checkpoint = max_seq_no WHERE index_id = $1", idx.id
                )
                await conn.execute("DELETE FROM ferry_tombstones WHERE index_id = $1", idx.id)
        spec = IndexSpec(idx.spec.name, idx.spec.shards, idx.spec.schema)
        return IndexInfo(spec, idx.info.created_at)

    # Writes ----------------------------------------------------------------

    async def bulk(
        self,
        index: str,
        ops: Sequence[WriteOp],
        *,
        fence: Fence | None = None,
        stamp: Stamp | None = None,
    ) -> BulkResult:
        async with self._conn() as conn:
            idx = await self._index(conn, index)
            if idx.spec.follower:
                raise FollowerIndex(index)
            prepared = prepare_bulk(idx.spec, ops, self._limits)
            async with conn.transaction():
                if fence is not None:
                    await _check_fence(conn, fence)
                if not prepared:
                    return BulkResult([])
                return BulkResult(await _write(conn, idx, ops, prepared, stamp, self._limits))

    async def fence(self, fence: Fence) -> None:
        async with self._conn() as conn, conn.transaction():
            await _check_fence(conn, fence)

    async def sweep(
        self, index: str, stamp: Stamp, *, fence: Fence | None = None, batch: int = 1000
    ) -> int:
        if batch < 1:
            raise InvalidArgument.field("batch", "must be at least 1")
        deleted = 0
        async with self._conn() as conn:
            idx = await self._index(conn, index)
            if idx.spec.follower:
                raise FollowerIndex(index)
            for shard in range(idx.spec.shards):
                after: str | None = ""
                while after is not None:
                    async with conn.transaction():
                        if fence is not None:
                            await _check_fence(conn, fence)
                        after, gone = await _sweep_batch(conn, idx, shard, stamp, after, batch)
                    deleted += gone
        return deleted

    # Reads -----------------------------------------------------------------

    async def get(self, index: str, doc_id: str) -> Document | None:
        check_id(doc_id, "id", self._limits)
        async with self._conn() as conn:
            idx = await self._index(conn, index)
            row = await conn.fetchrow(
                f"SELECT d.doc_id, d.shard, d.seq_no, o.source FROM {_CURRENT}"
                " WHERE d.index_id = $1 AND d.shard = $2 AND d.doc_id = $3",
                idx.id,
                _shard_of(idx, doc_id),
                doc_id,
            )
        return None if row is None else _document(row)

    async def multi_get(self, index: str, doc_ids: Sequence[str]) -> list[Document | None]:
        for i, doc_id in enumerate(doc_ids):
            check_id(doc_id, f"ids[{i}]", self._limits)
        async with self._conn() as conn:
            idx = await self._index(conn, index)
            if not doc_ids:
                return []
            unique = list(dict.fromkeys(doc_ids))
            rows = await conn.fetch(
                f"SELECT d.doc_id, d.shard, d.seq_no, o.source FROM {_CURRENT}"
                " WHERE d.index_id = $1 AND d.shard = ANY($2::int[])"
                " AND d.doc_id = ANY($3::text[])",
                idx.id,
                list({_shard_of(idx, doc_id) for doc_id in unique}),
                unique,
            )
        found = {row["doc_id"]: _document(row) for row in rows}
        return [found.get(doc_id) for doc_id in doc_ids]

    async def count(self, index: str, query: Query = MATCH_ALL) -> int:
        check_query(query, limits=self._limits)
        async with self._conn() as conn:
            idx = await self._index(conn, index)
            search = _Search(idx, query, ())
            value = await conn.fetchval(
                f"SELECT count(*) FROM {search.rows()} WHERE {search.where()}", *search.params
            )
        return int(value)

    async def search(
        self,
        index: str,
        query: Query = MATCH_ALL,
        *,
        sort: Sequence[Sort] = (),
        size: int = 10,
        cursor: str = "",
    ) -> SearchPage:
        check_query(query, sort, size, self._limits)
        async with self._conn() as conn:
            idx = await self._index(conn, index)
            search = _Search(idx, query, sort)
            if cursor:
                search.after(decode_cursor(cursor, len(search.keys) + 1))
            keys = "".join(f", {expr} AS k{i}" for i, (expr, _, _) in enumerate(search.keys))
            # The page is chosen from the documents alone; only its hits fetch a source.
            rows = await conn.fetch(
                f"SELECT y.*, o.source FROM (SELECT x.doc_id, x.shard, x.seq_no{keys}"
                f" FROM {search.rows()} WHERE {search.where()} ORDER BY {search.order('x')}"
                f" LIMIT {search.bind(size + 1)}) AS y"
                " JOIN ferry_ops o ON o.index_id = $1 AND o.shard = y.shard AND o.seq_no = y.seq_no"
                f" ORDER BY {search.order('y')}",
                *search.params,
            )
        hits = [_document(row) for row in rows[:size]]
        next_cursor = ""
        if len(rows) > size:
            last = rows[size - 1]
            values = [_cursor_value(last[f"k{i}"]) for i in range(len(search.keys))]
            next_cursor = encode_cursor([*values, last["doc_id"]])
        return SearchPage(hits, next_cursor)

    # History, shards and replication -----------------------------------------

    async def shard_stats(self, index: str) -> list[ShardStats]:
        async with self._conn() as conn:
            idx = await self._index(conn, index)
            rows = await conn.fetch(
                "SELECT s.shard, s.max_seq_no, s.checkpoint, s.min_retained_seq_no,"
                " (SELECT count(*) FROM ferry_docs d"
                "  WHERE d.index_id = s.index_id AND d.shard = s.shard) AS docs"
                " FROM ferry_shards s WHERE s.index_id = $1 ORDER BY s.shard",
                idx.id,
            )
        return [
            ShardStats(r["shard"], r["docs"], r["max_seq_no"], r["checkpoint"],
                       r["min_retained_seq_no"])
            for r in rows
        ]  # fmt: skip

    async def read_operations(
        self,
        index: str,
        shard: int,
        from_seq_no: int,
        *,
        max_ops: int = 5120,
        max_bytes: int = 32 * 1024 * 1024,
    ) -> list[Operation]:
        if max_ops < 1:
            raise InvalidArgument.field("max_ops", "must be at least 1")
        if from_seq_no < 0:
            raise InvalidArgument.field("from_seq_no", "must not be negative")
        async with self._conn() as conn:
            idx = await self._index(conn, index)
            idx.check_shard(shard)
            # One statement, one snapshot: a trim cannot slip between reading
            # min_retained_seq_no and reading the ops. Only ops up to the
            # checkpoint are served; history is dense from min_retained_seq_no,
            # so the page's range is known, whatever plan the statistics
            # suggest; a running byte total cuts the page in the database.
            rows = await conn.fetch(
                """
                SELECT s.min_retained_seq_no, o.* FROM ferry_shards s
                LEFT JOIN LATERAL (
                    SELECT p.*, sum(length(p.doc_id) + coalesce(octet_length(p.source), 0) + 32)
                                OVER (ORDER BY p.seq_no) AS total
                    FROM (SELECT * FROM ferry_ops
                          WHERE index_id = s.index_id AND shard = s.shard
                            AND seq_no >= $3 AND seq_no < $3 + $4 AND seq_no <= s.checkpoint
                          ORDER BY seq_no LIMIT $4) AS p
                ) AS o ON true
                WHERE s.index_id = $1 AND s.shard = $2 AND $3 >= s.min_retained_seq_no
                  AND (o.seq_no IS NULL OR o.seq_no = $3 OR o.total <= $5)
                ORDER BY o.seq_no
                """,
                idx.id,
                shard,
                from_seq_no,
                max_ops,
                max_bytes,
            )
            if not rows:
                min_retained = await conn.fetchval(
                    "SELECT min_retained_seq_no FROM ferry_shards"
                    " WHERE index_id = $1 AND shard = $2",
                    idx.id,
                    shard,
                )
                if min_retained is None:
                    raise NotFound("index", index)
                if from_seq_no < min_retained:
                    raise HistoryTrimmed(index, shard, from_seq_no, min_retained)
                return []
        return [_operation(shard, row) for row in rows if row["seq_no"] is not None]

    def snapshot(self, index: str, shard: int) -> AbstractAsyncContextManager[Snapshot]:
        return self._snapshot(index, shard)

    @asynccontextmanager
    async def _snapshot(self, index: str, shard: int) -> AsyncIterator[Snapshot]:
        if self._pool is None:
            raise RuntimeError("PostgresStore is not started")
        async with self._pool.acquire() as conn:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                try:
                    await conn.execute(_WALK_THE_KEY)
                    idx = await self._index(conn, index)
                    idx.check_shard(shard)
                    seq_no = await conn.fetchval(
                        "SELECT checkpoint FROM ferry_shards WHERE index_id = $1 AND shard = $2",
                        idx.id,
                        shard,
                    )
                except _UNAVAILABLE as exc:
                    raise Unavailable(f"PostgreSQL at {_redact(self._url)}: {exc}") from exc
                where = _redact(self._url)
                yield _PostgresSnapshot(conn, where, idx.id, shard, seq_no, idx.spec.schema)

    async def put_retention_lease(
        self,
        index: str,
        shard: int,
        lease_id: str,
        retaining_seq_no: int,
        *,
        ttl: timedelta = DEFAULT_RETENTION,
        source: str = "",
    ) -> RetentionLease:
        if not lease_id:
            raise InvalidArgument.field("lease_id", "must not be empty")
        expires_at = time.time() + ttl.total_seconds()
        async with self._conn() as conn, conn.transaction():
            idx = await self._index(conn, index)
            idx.check_shard(shard)
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", _LEASE_LOCK, idx.id)
            min_retained = await conn.fetchval(
                "SELECT min_retained_seq_no FROM ferry_shards WHERE index_id = $1 AND shard = $2",
                idx.id,
                shard,
            )
            if retaining_seq_no < min_retained:
                raise HistoryTrimmed(index, shard, retaining_seq_no, min_retained)
            await conn.execute(
                "INSERT INTO ferry_leases"
                " (index_id, shard, lease_id, retaining_seq_no, expires_at, source)"
                " VALUES ($1, $2, $3, $4, $5, $6)"
                " ON CONFLICT (index_id, shard, lease_id) DO UPDATE SET"
                " retaining_seq_no = EXCLUDED.retaining_seq_no,"
                " expires_at = EXCLUDED.expires_at, source = EXCLUDED.source",
                idx.id,
                shard,
                lease_id,
                retaining_seq_no,
                expires_at,
                source,
            )
        return RetentionLease(lease_id, shard, retaining_seq_no, expires_at, source)

    async def remove_retention_lease(self, index: str, shard: int, lease_id: str) -> None:
        async with self._conn() as conn:
            idx = await self._index(conn, index)
            idx.check_shard(shard)
            await conn.execute(
                "DELETE FROM ferry_leases WHERE index_id = $1 AND shard = $2 AND lease_id = $3",
                idx.id,
                shard,
                lease_id,
            )

    async def retention_leases(self, index: str) -> list[RetentionLease]:
        async with self._conn() as conn:
            idx = await self._index(conn, index)
            rows = await conn.fetch(
                "SELECT * FROM ferry_leases WHERE index_id = $1 ORDER BY shard, lease_id", idx.id
            )
        return [
            RetentionLease(r["lease_id"], r["shard"], r["retaining_seq_no"], r["expires_at"],
                           r["source"])
            for r in rows
        ]  # fmt: skip

    async def trim_history(self, index: str, *, now: float | None = None) -> int:
        now = time.time() if now is None else now
        async with self._conn() as conn, conn.transaction():
            idx = await self._index(conn, index)
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", _LEASE_LOCK, idx.id)
            await conn.execute(
                "DELETE FROM ferry_leases WHERE index_id = $1 AND expires_at <= $2", idx.id, now
            )
            # Per shard: drop superseded ops below the lowest live lease (or
            # below the checkpoint + 1 when there is none); the history is then
            # complete from just above the highest op dropped.
            rows = await conn.fetch(
                """
                WITH bound AS (
                    SELECT s.shard, LEAST(s.checkpoint + 1, coalesce(
                        (SELECT min(l.retaining_seq_no) FROM ferry_leases l
                         WHERE l.index_id = s.index_id AND l.shard = s.shard),
                        s.checkpoint + 1)) AS below
                    FROM ferry_shards s WHERE s.index_id = $1
                ), gone AS (
                    DELETE FROM ferry_ops o USING bound b
                    WHERE o.index_id = $1 AND o.shard = b.shard AND o.seq_no < b.below
                      AND NOT EXISTS (
                        SELECT 1 FROM ferry_docs d
                        WHERE d.index_id = o.index_id AND d.shard = o.shard
                          AND d.doc_id = o.doc_id AND d.seq_no = o.seq_no)
                    RETURNING o.shard, o.seq_no
                )
                SELECT shard, count(*) AS removed, max(seq_no) AS highest FROM gone GROUP BY shard
                ORDER BY shard
                """,
                idx.id,
            )
            if rows:
                await conn.execute(_LOCK_SHARDS, idx.id, [r["shard"] for r in rows])
                await conn.execute(
                    "UPDATE ferry_shards s"
                    " SET min_retained_seq_no = GREATEST(s.min_retained_seq_no, v.highest + 1)"
                    " FROM unnest($2::int[], $3::bigint[]) AS v(shard, highest)"
                    " WHERE s.index_id = $1 AND s.shard = v.shard",
                    idx.id,
                    [r["shard"] for r in rows],
                    [r["highest"] for r in rows],
                )
        return sum(r["removed"] for r in rows)

    # Follower side -----------------------------------------------------------

    async def apply_operations(self, index: str, shard: int, ops: Sequence[Operation]) -> int:
        for i, op in enumerate(ops):
            if op.shard != shard:
                raise InvalidArgument.field(f"ops[{i}].shard", f"is {op.shard}, not {shard}")
            if op.kind is OpKind.INDEX and op.source is None:
                raise InvalidArgument.field(f"ops[{i}].source", "an index op needs a source")
        async with self._conn() as conn, conn.transaction():
            idx = await self._index(conn, index)
            idx.check_shard(shard)
            idx.require_follower()
            return await _apply(conn, idx.id, shard, ops)

    async def begin_bootstrap(self, index: str, shard: int) -> None:
        async with self._conn() as conn, conn.transaction():
            idx = await self._index(conn, index)
            idx.check_shard(shard)
            idx.require_follower()
            await conn.execute(_LOCK_SHARDS, idx.id, [shard])
            for table in _SHARD_TABLES:
                await conn.execute(
                    f"DELETE FROM {table} WHERE index_id = $1 AND shard = $2", idx.id, shard
                )
            await conn.execute(
                "UPDATE ferry_shards SET max_seq_no = $3, checkpoint = $3, min_retained_seq_no = 0"
                " WHERE index_id = $1 AND shard = $2",
                idx.id,
                shard,
                NO_OPS,
            )

    async def apply_snapshot(self, index: str, shard: int, docs: Sequence[SnapshotDoc]) -> None:
        async with self._conn() as conn, conn.transaction():
            idx = await self._index(conn, index)
            idx.check_shard(shard)
            idx.require_follower()
            if not docs:
                return
            await conn.execute(_LOCK_SHARDS, idx.id, [shard])
            await conn.execute(
                _INSERT_OPS.rstrip() + " ON CONFLICT DO NOTHING",
                idx.id,
                [shard] * len(docs),
                [d.seq_no for d in docs],
                [OpKind.INDEX.value] * len(docs),
                [d.id for d in docs],
                [d.write_time for d in docs],
                [d.source for d in docs],
            )
            rows: list[_DocRow] = [(shard, d.id, d.seq_no, d.source) for d in docs]
            await _put_docs(conn, idx.id, rows, only_newer=True)
            await _put_words(conn, idx.id, rows, await _current_schema(conn, idx.id))

    async def finish_bootstrap(self, index: str, shard: int, seq_no: int) -> None:
        async with self._conn() as conn, conn.transaction():
            idx = await self._index(conn, index)
            idx.check_shard(shard)
            idx.require_follower()
            await conn.execute(_LOCK_SHARDS, idx.id, [shard])
            # Below the snapshot only current documents' ops were copied: the
            # history is complete from just above it.
            await conn.execute(
                "UPDATE ferry_shards SET checkpoint = $3, max_seq_no = GREATEST(max_seq_no, $3),"
                " min_retained_seq_no = $3 + 1 WHERE index_id = $1 AND shard = $2",
                idx.id,
                shard,
                seq_no,
            )


# Writes, inside the caller's transaction -------------------------------------


async def _check_fence(conn: Any, fence: Fence) -> None:
    """_check_fence registers fence.token for its scope or raises Fenced if a higher one is there.

    The upsert locks the scope's row until the transaction ends, so a new
    owner's fence waits for an old owner's write in flight, then wins.
    """
    stored = await conn.fetchval(
        "INSERT INTO ferry_fences (scope, token) VALUES ($1, $2)"
        " ON CONFLICT (scope) DO UPDATE SET token = GREATEST(ferry_fences.token, EXCLUDED.token)"
        " RETURNING token",
        fence.scope,
        fence.token,
    )
    if stored > fence.token:
        raise Fenced(f"scope/{fence.scope}", f"token {fence.token} is below {stored}")


async def _lock_shards(conn: Any, idx: _Index, shards: list[int]) -> dict[int, int]:
    """_lock_shards locks the shards' rows in shard order; returns each one's max_seq_no."""
    rows = await conn.fetch(_LOCK_SHARDS, idx.id, shards)
    if len(rows) != len(shards):
        raise NotFound("index", idx.spec.name)  # Deleted since we read it.
    return {r["shard"]: r["max_seq_no"] for r in rows}


async def _write(
    conn: Any,
    idx: _Index,
    ops: Sequence[WriteOp],
    prepared: list[PreparedOp],
    stamp: Stamp | None,
    limits: Limits,
) -> list[BulkItem]:
    shards = sorted({p.shard for p in prepared})
    max_seq_nos = await _lock_shards(conn, idx, shards)
    schema = await _current_schema(conn, idx.id)
    if schema != idx.spec.schema:
        # A newer schema landed since the ops were checked: check them again.
        spec = IndexSpec(idx.spec.name, idx.spec.shards, schema, idx.spec.leader)
        prepared = prepare_bulk(spec, ops, limits)
    rows = await conn.fetch(
        f"SELECT doc_id FROM ferry_docs WHERE {_DOCS_IN}",
        idx.id,
        shards,
        list({p.id: None for p in prepared}),
    )
    existed = {r["doc_id"] for r in rows}
    present = set(existed)
    items: list[BulkItem] = []
    now = time.time()
    history: list[_OpRow] = []
    final: dict[str, _DocRow | None] = {}  # None once deleted
    for p in prepared:
        if p.kind is OpKind.DELETE:
            if p.id not in present:
                items.append(BulkItem(p.id, p.shard, NO_OPS, ItemResult.NOT_FOUND))
                continue
            result = ItemResult.DELETED
            present.discard(p.id)
        else:
            result = ItemResult.UPDATED if p.id in present else ItemResult.CREATED
            present.add(p.id)
        seq_no = max_seq_nos[p.shard] = max_seq_nos[p.shard] + 1
        items.append(BulkItem(p.id, p.shard, seq_no, result))
        history.append((idx.id, p.shard, seq_no, p.kind.value, p.id, now, p.source))
        final[p.id] = (p.shard, p.id, seq_no, p.source) if p.kind is OpKind.INDEX else None
    if not history:
        return items
    await _copy_ops(conn, history)
    await _set_max_seq_nos(conn, idx.id, max_seq_nos)
    kept = [doc for doc in final.values() if doc is not None]
    # New ids go in with COPY (the shard locks keep anyone else from adding
    # them meanwhile); ids that were there are upserted.
    scope, generation = (stamp.scope, stamp.generation) if stamp else (None, None)
    created = [
        (idx.id, shard, doc_id, seq_no, scope, generation)
        for shard, doc_id, seq_no, _ in kept
        if doc_id not in existed
    ]
    if created:
        await conn.copy_records_to_table("ferry_docs", records=created, columns=_DOC_COLUMNS)
    await _put_docs(conn, idx.id, [doc for doc in kept if doc[1] in existed], stamp=stamp)
    await _put_words(conn, idx.id, kept, schema)
    gone = [doc_id for doc_id, doc in final.items() if doc is None]
    if gone:
        await _delete_docs(conn, idx.id, shards, gone)
    return items


_OpRow = tuple[int, int, int, str, str, float, bytes | None]
"""_OpRow is a ferry_ops row: index_id, shard, seq_no, kind, doc_id, write_time, source."""
_OP_COLUMNS = ["index_id", "shard", "seq_no", "kind", "doc_id", "write_time", "source"]
_DOC_COLUMNS = ["index_id", "shard", "doc_id", "seq_no", "scope", "generation"]


async def _copy_ops(conn: Any, rows: list[_OpRow]) -> None:
    """_copy_ops appends history rows with COPY: ~2.5 times the rate of an INSERT of arrays."""
    await conn.copy_records_to_table("ferry_ops", records=rows, columns=_OP_COLUMNS)


async def _set_max_seq_nos(conn: Any, index_id: int, max_seq_nos: dict[int, int]) -> None:
    await conn.execute(_SET_SHARD_MAX, index_id, list(max_seq_nos), list(max_seq_nos.values()))


def _words(text_fields: list[str], j: str) -> str:
    """_words is the tsvector of a document's text fields, from its jsonb ``j``.

    Without positions: a match needs all its words, in any order. The paths
    are inlined: FIELD_PATH admits no quote, comma or brace.
    """
    values = ", ".join(f"{j} #>> '{{{','.join(f.split('.'))}}}'" for f in text_fields)
    return f"strip(to_tsvector('simple', concat_ws(' ', {values})))"


def _upsert_docs(*, only_newer: bool = False) -> str:
    """_upsert_docs writes documents' current ops and stamps: $1 index, $2 shards, $3 ids,
    $4 seq_nos, $5 scope, $6 generation."""
    return (
        "INSERT INTO ferry_docs (index_id, shard, doc_id, seq_no, scope, generation)"
        " SELECT $1, u.shard, u.doc_id, u.seq_no, $5, $6"
        " FROM unnest($2::int[], $3::text[], $4::bigint[]) AS u(shard, doc_id, seq_no)"
        " ON CONFLICT (index_id, shard, doc_id) DO UPDATE SET seq_no = EXCLUDED.seq_no,"
        " scope = EXCLUDED.scope, generation = EXCLUDED.generation"
        + (" WHERE ferry_docs.seq_no < EXCLUDED.seq_no" if only_newer else "")
    )


_DocRow = tuple[int, str, int, bytes | None]
"""_DocRow is a document to write: shard, id, seq_no of its current op, and that op's source."""


async def _put_docs(
    conn: Any,
    index_id: int,
    docs: list[_DocRow],
    *,
    stamp: Stamp | None = None,
    only_newer: bool = False,
) -> None:
    """_put_docs inserts or updates documents (only to a newer op, with ``only_newer``)."""
    if docs:
        await conn.execute(
            _upsert_docs(only_newer=only_newer),
            index_id,
            [d[0] for d in docs],
            [d[1] for d in docs],
            [d[2] for d in docs],
            stamp.scope if stamp else None,
            stamp.generation if stamp else None,
        )


async def _put_words(conn: Any, index_id: int, docs: list[_DocRow], schema: Schema) -> None:
    """_put_words keeps the full-text words of documents, for an index with text fields.

    A newer op's words replace an older one's, never the other way round.
    """
    text_fields = schema.text_fields()
    if not docs or not text_fields:
        return
    # OFFSET 0 keeps the subquery whole, so each source is parsed once.
    await conn.execute(
        "INSERT INTO ferry_words (index_id, shard, doc_id, seq_no, words)"
        f" SELECT $1, u.shard, u.doc_id, u.seq_no, {_words(text_fields, 'x.j')}"
        " FROM unnest($2::int[], $3::text[], $4::bigint[], $5::bytea[])"
        " AS u(shard, doc_id, seq_no, source) CROSS JOIN LATERAL"
        " (SELECT convert_from(u.source, 'UTF8')::jsonb AS j OFFSET 0) AS x"
        " ON CONFLICT (index_id, shard, doc_id) DO UPDATE"
        " SET seq_no = EXCLUDED.seq_no, words = EXCLUDED.words"
        " WHERE ferry_words.seq_no < EXCLUDED.seq_no",
        index_id,
        [d[0] for d in docs],
        [d[1] for d in docs],
        [d[2] for d in docs],
        [d[3] for d in docs],
    )


async def _delete_docs(conn: Any, index_id: int, shards: list[int], doc_ids: list[str]) -> None:
    """_delete_docs removes documents and their words."""
    if doc_ids:
        await conn.execute(f"DELETE FROM ferry_docs WHERE {_DOCS_IN}", index_id, shards, doc_ids)
        await conn.execute(f"DELETE FROM ferry_words WHERE {_DOCS_IN}", index_id, shards, doc_ids)


async def _current_schema(conn: Any, index_id: int) -> Schema:
    """_current_schema re-reads the schema: under shard locks it is the one writes must use,
    since update_schema takes those locks too."""
    raw = await conn.fetchval("SELECT schema FROM ferry_indices WHERE id = $1", index_id)
    return _schema_from_json(raw)


async def _sweep_batch(
    conn: Any, idx: _Index, shard: int, stamp: Stamp, after: str, batch: int
) -> tuple[str | None, int]:
    """_sweep_batch deletes up to ``batch`` of the scope's older documents in one shard.

    It walks the shard's ids upwards from ``after`` (the key order, so a
    whole sweep reads each document once) and returns the last id it looked
    at (None at the end) and how many it deleted. A candidate rewritten by a
    newer sync between the look-up and the shard lock stays.
    """
    await conn.execute(_WALK_THE_KEY)
    candidates = await conn.fetch(
        "SELECT doc_id FROM ferry_docs WHERE index_id = $1 AND shard = $2 AND doc_id > $3"
        " AND scope = $4 AND generation < $5 ORDER BY doc_id LIMIT $6",
        idx.id,
        shard,
        after,
        stamp.scope,
        stamp.generation,
        batch,
    )
    if not candidates:
        return None, 0
    ids = [r["doc_id"] for r in candidates]
    max_seq_nos = await _lock_shards(conn, idx, [shard])
    deleted = await conn.fetch(
        "DELETE FROM ferry_docs WHERE index_id = $1 AND shard = $2 AND doc_id = ANY($3::text[])"
        " AND scope = $4 AND generation < $5 RETURNING doc_id",
        idx.id,
        shard,
        ids,
        stamp.scope,
        stamp.generation,
    )
    if deleted:
        now = time.time()
        first = max_seq_nos[shard] + 1
        gone = sorted(r["doc_id"] for r in deleted)
        await _copy_ops(
            conn,
            [
                (idx.id, shard, first + i, OpKind.DELETE.value, doc_id, now, None)
                for i, doc_id in enumerate(gone)
            ],
        )
        await _set_max_seq_nos(conn, idx.id, {shard: first + len(gone) - 1})
        if idx.spec.schema.text_fields():
            await conn.execute(f"DELETE FROM ferry_words WHERE {_DOCS_IN}", idx.id, [shard], gone)
    return ids[-1], len(deleted)


# Follower side, inside the caller's transaction -----------------------------


async def _apply(conn: Any, index_id: int, shard: int, ops: Sequence[Operation]) -> int:
    """_apply applies replicated ops to a follower shard; returns the new checkpoint."""
    [row] = await conn.fetch(_LOCK_SHARDS, index_id, [shard])
    checkpoint, max_seq_no = row["checkpoint"], row["max_seq_no"]
    # At or below the checkpoint everything is applied already.
    fresh = {op.seq_no: op for op in ops if op.seq_no > checkpoint}
    if fresh:
        seen = await conn.fetch(
            "SELECT seq_no FROM ferry_ops"
            " WHERE index_id = $1 AND shard = $2 AND seq_no = ANY($3::bigint[])",
            index_id,
            shard,
            list(fresh),
        )
        for r in seen:
            del fresh[r["seq_no"]]
    if not fresh:
        return int(checkpoint)
    new = [fresh[s] for s in sorted(fresh)]
    ids = list({op.id for op in new})
    # The newest seq_no that touched each id: its current doc, or a deletion
    # above the checkpoint. Only an op newer than that changes the document.
    latest: dict[str, int] = {}
    for table in ("ferry_docs", "ferry_tombstones"):
        rows = await conn.fetch(
            f"SELECT doc_id, seq_no FROM {table}"
            " WHERE index_id = $1 AND shard = $2 AND doc_id = ANY($3::text[])",
            index_id,
            shard,
            ids,
        )
        for r in rows:
            latest[r["doc_id"]] = max(latest.get(r["doc_id"], NO_OPS), r["seq_no"])
    winners: dict[str, Operation] = {}
    for op in new:
        if op.seq_no > latest.get(op.id, NO_OPS):
            latest[op.id] = op.seq_no
            winners[op.id] = op
    await _copy_ops(
        conn,
        [
            (
                index_id,
                shard,
                op.seq_no,
                op.kind.value,
                op.id,
                op.write_time,
                op.source if op.kind is OpKind.INDEX else None,
            )
            for op in new
        ],
    )
    kept = [op for op in winners.values() if op.kind is OpKind.INDEX]
    if kept:
        docs = [(shard, op.id, op.seq_no, op.source) for op in kept]
        await _put_docs(conn, index_id, docs)
        await _put_words(conn, index_id, docs, await _current_schema(conn, index_id))
    deletes = [op for op in winners.values() if op.kind is OpKind.DELETE]
    if deletes:
        await _delete_docs(conn, index_id, [shard], [op.id for op in deletes])
    new_checkpoint = checkpoint
    if checkpoint + 1 in fresh:
        # The end of the contiguous run that starts just above the checkpoint.
        new_checkpoint = await conn.fetchval(
            """
            SELECT o.seq_no FROM ferry_ops o
            WHERE o.index_id = $1 AND o.shard = $2 AND o.seq_no > $3
              AND NOT EXISTS (SELECT 1 FROM ferry_ops n WHERE n.index_id = $1
                              AND n.shard = $2 AND n.seq_no = o.seq_no + 1)
            ORDER BY o.seq_no LIMIT 1
            """,
            index_id,
            shard,
            checkpoint,
        )
    tombstones = [op for op in deletes if op.seq_no > new_checkpoint]
    if tombstones:
        await conn.execute(
            "INSERT INTO ferry_tombstones (index_id, shard, doc_id, seq_no)"
            " SELECT $1, $2, * FROM unnest($3::text[], $4::bigint[])"
            " ON CONFLICT (index_id, shard, doc_id) DO UPDATE SET seq_no = EXCLUDED.seq_no",
            index_id,
            shard,
            [op.id for op in tombstones],
            [op.seq_no for op in tombstones],
        )
    if new_checkpoint > checkpoint:
        # Nothing at or below the checkpoint can arrive any more.
        await conn.execute(
            "DELETE FROM ferry_tombstones WHERE index_id = $1 AND shard = $2 AND seq_no <= $3",
            index_id,
            shard,
            new_checkpoint,
        )
    await conn.execute(
        "UPDATE ferry_shards SET max_seq_no = $3, checkpoint = $4"
        " WHERE index_id = $1 AND shard = $2",
        index_id,
        shard,
        max(max_seq_no, new[-1].seq_no),
        new_checkpoint,
    )
    return int(new_checkpoint)


# Search ---------------------------------------------------------------------

_TYPE_RANK = (
    "(CASE jsonb_typeof({v}) WHEN 'number' THEN 1 WHEN 'boolean' THEN 1 WHEN 'string' THEN 2"
    " WHEN 'object' THEN 3 WHEN 'array' THEN 3 ELSE 0 END)"
)
_NUMBER = (
    "(CASE jsonb_typeof({v}) WHEN 'number' THEN ({t})::numeric"
    " WHEN 'boolean' THEN CASE WHEN {t} = 'true' THEN 1 ELSE 0 END ELSE 0 END)"
)
_TEXT = "(CASE WHEN jsonb_typeof({v}) IN ('string', 'object', 'array') THEN {t} ELSE '' END)"


class _Search:
    """_Search builds one search or count: its rows, conditions, order and parameters.

    ``x`` is the index's documents (doc_id, shard, seq_no and, when filters or
    sorts need fields, ``j``, the source as jsonb). Sort keys are, per sorted
    field, (type rank, number, text): numbers compare as numbers, strings by
    code point, missing and null first (ascending); ties break on id. A
    cursor holds the last hit's keys.
    """

    def __init__(self, idx: _Index, query: Query, sort: Sequence[Sort]) -> None:
        self.params: list[Any] = [idx.id]
        self._paths: dict[str, str] = {}
        self._inner = ["d.index_id = $1"]  # on ferry_docs d
        self._outer: list[str] = []  # on x
        self.keys: list[tuple[str, bool, str]] = []  # (expression, descending, cast)
        self._json = bool(query.filters or sort)
        for f in query.filters:
            self._filter(f.field, f.op, f.value, {">": f.gt, ">=": f.gte, "<": f.lt, "<=": f.lte})
        if query.match.strip():
            self._match(idx, query.match.replace("\x00", " "))
        for s in sort:
            v, t = self._value(s.field), self._text(s.field)
            self.keys.append((_TYPE_RANK.format(v=v), s.descending, "int"))
            self.keys.append((_NUMBER.format(v=v, t=t), s.descending, "numeric"))
            self.keys.append((_TEXT.format(v=v, t=t) + ' COLLATE "C"', s.descending, "text"))

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def _path(self, field: str) -> str:
        if field not in self._paths:
            self._paths[field] = self.bind(field.split(".")) + "::text[]"
        return self._paths[field]

    def _value(self, field: str) -> str:
        return f"(x.j #> {self._path(field)})"

    def _text(self, field: str) -> str:
        return f"(x.j #>> {self._path(field)})"

    def _filter(self, field: str, op: FilterOp, value: Any, bounds: dict[str, Any]) -> None:
        v, t = self._value(field), self._text(field)
        if any(isinstance(x, str) and "\x00" in x for x in (value, *bounds.values())):
            # No stored document holds NUL (see prepare_bulk); PostgreSQL
            # cannot even take it as a parameter.
            self._outer.append("false")
        elif op is FilterOp.TERM:
            self._outer.append(f"{v} = {self.bind(json.dumps(value))}::jsonb")
        elif op is FilterOp.PREFIX:
            self._outer.append(
                f"(jsonb_typeof({v}) = 'string' AND starts_with({t}, {self.bind(value)}::text))"
            )
        elif op is FilterOp.EXISTS:
            self._outer.append(f"coalesce(jsonb_typeof({v}), 'null') <> 'null'")
        elif op is FilterOp.RANGE:
            given = {sym: b for sym, b in bounds.items() if b is not None}
            if all(isinstance(b, str) for b in given.values()):
                expr = f"(CASE WHEN jsonb_typeof({v}) = 'string' THEN {t} END) COLLATE \"C\""
                for sym, b in given.items():
                    self._outer.append(f"{expr} {sym} {self.bind(b)}::text")
            else:
                # CASE, not AND: PostgreSQL does not promise to test the type first.
                expr = f"(CASE WHEN jsonb_typeof({v}) = 'number' THEN ({t})::numeric END)"
                for sym, b in given.items():
                    self._outer.append(f"{expr} {sym} {self.bind(Decimal(repr(b)))}::numeric")

    def _match(self, idx: _Index, words: str) -> None:
        if not idx.spec.schema.text_fields():
            raise InvalidArgument.field(
                "query.match", f"index {idx.spec.name!r} has no text fields to match"
            )
        self._inner.append(
            "(d.shard, d.doc_id) IN (SELECT w.shard, w.doc_id FROM ferry_words w"
            f" WHERE w.index_id = $1 AND w.words @@ plainto_tsquery('simple', {self.bind(words)}))"
        )

    def after(self, values: list[Any]) -> None:
        """after continues from a cursor: rows strictly past its keys."""
        *keys, last_id = values
        if not isinstance(last_id, str) or "\x00" in last_id:
            raise InvalidArgument.field("cursor", "is not a cursor this store issued")
        condition = f"x.doc_id > {self.bind(last_id)}"
        for (expr, descending, cast), value in reversed(list(zip(self.keys, keys, strict=True))):
            p = f"{self.bind(_cursor_param(value, cast))}::{cast}"
            condition = (
                f"({expr} {'<' if descending else '>'} {p} OR ({expr} = {p} AND {condition}))"
            )
        self._outer.append(condition)

    def rows(self) -> str:
        inner = " AND ".join(self._inner)
        if not self._json:
            return f"(SELECT d.doc_id, d.shard, d.seq_no FROM ferry_docs d WHERE {inner}) AS x"
        # OFFSET 0 keeps the subquery whole, so each source is parsed once.
        return (
            "(SELECT d.doc_id, d.shard, d.seq_no, convert_from(o.source, 'UTF8')::jsonb AS j"
            f" FROM {_CURRENT} WHERE {inner} OFFSET 0) AS x"
        )

    def where(self) -> str:
        return " AND ".join(self._outer) or "true"

    def order(self, alias: str) -> str:
        """order is the ORDER BY list: over x's expressions, or an outer query's k columns."""
        keys = [
            f"{expr if alias == 'x' else f'{alias}.k{i}'} {'DESC' if desc else 'ASC'}"
            for i, (expr, desc, _) in enumerate(self.keys)
        ]
        return ", ".join([*keys, f"{alias}.doc_id ASC"])


def _cursor_value(value: Any) -> Any:
    """_cursor_value makes a sort key JSON-safe: numerics travel as exact strings."""
    return str(value) if isinstance(value, Decimal) else value


def _cursor_param(value: Any, cast: str) -> Any:
    try:
        if cast == "int" and isinstance(value, int) and not isinstance(value, bool):
            return value
        if cast == "numeric" and isinstance(value, str):
            return Decimal(value)
        if cast == "text" and isinstance(value, str) and "\x00" not in value:
            return value
    except InvalidOperation:
        pass
    raise InvalidArgument.field("cursor", "is not a cursor this store issued")


# Snapshots -------------------------------------------------------------------


class _PostgresSnapshot(Snapshot):
    """_PostgresSnapshot reads one shard inside a REPEATABLE READ transaction."""

    def __init__(
        self, conn: Any, where: str, index_id: int, shard: int, seq_no: int, schema: Schema
    ) -> None:
        self._conn = conn
        self._where = where
        self._index_id = index_id
        self._shard = shard
        self.seq_no = seq_no
        self.schema = schema

    async def batches(self, size: int = 1000) -> AsyncIterator[list[SnapshotDoc]]:
        if size < 1:
            raise InvalidArgument.field("size", "must be at least 1")
        after = ""
        while True:
            try:
                rows = await self._conn.fetch(
                    f"SELECT d.doc_id, o.source, d.seq_no, o.write_time FROM {_CURRENT}"
                    " WHERE d.index_id = $1 AND d.shard = $2 AND d.doc_id > $3"
                    " ORDER BY d.doc_id LIMIT $4",
                    self._index_id,
                    self._shard,
                    after,
                    size,
                )
            except _UNAVAILABLE as exc:
                raise Unavailable(f"PostgreSQL at {self._where}: {exc}") from exc
            if not rows:
                return
            yield [
                SnapshotDoc(r["doc_id"], r["source"], r["seq_no"], r["write_time"]) for r in rows
            ]
            if len(rows) < size:
                return
            after = rows[-1]["doc_id"]
