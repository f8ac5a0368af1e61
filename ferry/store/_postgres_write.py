"""The PostgreSQL store's writes to leader indices: index definitions, bulk, fences and sweeps.

Dense seq_nos: a write locks its shard rows (in shard order, so writers never
deadlock), reads ``max_seq_no``, numbers its ops from there and writes the
new maximum, all in its transaction. The next writer of that shard waits for
the lock, so numbers are handed out in commit order; a rolled-back or killed
writer gives its numbers back with everything else. Ops and new documents go
in with COPY.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import asyncpg

from ferry.errors import AlreadyExists, Fenced, InvalidArgument, NotFound
from ferry.store._postgres_changes import (
    DOC_COLUMNS,
    DocRow,
    OpRow,
    copy_ops,
    delete_docs,
    put_docs,
    put_words,
    set_max_seq_nos,
    words_sql,
)
from ferry.store._postgres_schema import (
    CURRENT,
    DOCS_IN,
    INDEX_TABLES,
    LOCK_SHARDS,
    WALK_THE_KEY,
    Borrow,
    IndexRow,
    current_schema,
    load_index,
    schema_json,
)
from ferry.store.common import Limits, PreparedOp, check_schema_change, check_spec, prepare_bulk
from ferry.store.model import (
    NO_OPS,
    BulkItem,
    BulkResult,
    Fence,
    IndexInfo,
    IndexSpec,
    ItemResult,
    OpKind,
    Schema,
    Stamp,
    WriteOp,
)
from ferry.store.store import FollowerIndex

# Indices ----------------------------------------------------------------------


async def create_index(borrow: Borrow, spec: IndexSpec) -> IndexInfo:
    check_spec(spec)
    created_at = time.time()
    leader = spec.leader
    async with borrow() as conn, conn.transaction():
        try:
            index_id = await conn.fetchval(
                "INSERT INTO ferry_indices"
                " (name, shards, schema, remote_cluster, leader_index, created_at)"
                " VALUES ($1, $2, $3::jsonb, $4, $5, $6) RETURNING id",
                spec.name,
                spec.shards,
                schema_json(spec.schema),
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


async def delete_index(borrow: Borrow, name: str) -> None:
    async with borrow() as conn, conn.transaction():
        idx = await load_index(conn, name, lock="FOR UPDATE")
        # Writers hold shard locks until they commit; taking them all first
        # means no write of this index is half-way when its rows go.
        await conn.execute(
            "SELECT 1 FROM ferry_shards WHERE index_id = $1 ORDER BY shard FOR UPDATE", idx.id
        )
        for table in INDEX_TABLES:
            await conn.execute(f"DELETE FROM {table} WHERE index_id = $1", idx.id)
        await conn.execute("DELETE FROM ferry_shards WHERE index_id = $1", idx.id)
        await conn.execute("DELETE FROM ferry_indices WHERE id = $1", idx.id)


async def update_schema(borrow: Borrow, name: str, schema: Schema) -> IndexInfo:
    async with borrow() as conn, conn.transaction():
        idx = await load_index(conn, name, lock="FOR UPDATE")
        check_schema_change(name, idx.spec.schema, schema)
        # Writers re-read the schema under their shard locks: once these are
        # ours, every write after us checks against (and indexes) the new one.
        await conn.execute(
            "SELECT 1 FROM ferry_shards WHERE index_id = $1 ORDER BY shard FOR UPDATE", idx.id
        )
        await conn.execute(
            "UPDATE ferry_indices SET schema = $2::jsonb WHERE id = $1",
            idx.id,
            schema_json(schema),
        )
        if schema.text_fields() != idx.spec.schema.text_fields():
            # Every document's words, again, with the new text fields.
            await conn.execute(
                "INSERT INTO ferry_words (index_id, shard, doc_id, seq_no, words)"
                f" SELECT d.index_id, d.shard, d.doc_id, d.seq_no,"
                f" {words_sql(schema.text_fields(), 'x.j')} FROM {CURRENT}, LATERAL"
                " (SELECT convert_from(o.source, 'UTF8')::jsonb AS j OFFSET 0) AS x"
                " WHERE d.index_id = $1 ON CONFLICT (index_id, shard, doc_id) DO UPDATE"
                " SET seq_no = EXCLUDED.seq_no, words = EXCLUDED.words",
                idx.id,
            )
    spec = IndexSpec(idx.spec.name, idx.spec.shards, schema, idx.spec.leader)
    return IndexInfo(spec, idx.info.created_at)


# Writes -----------------------------------------------------------------------


async def bulk(
    borrow: Borrow,
    index: str,
    ops: Sequence[WriteOp],
    fence: Fence | None,
    stamp: Stamp | None,
    limits: Limits,
) -> BulkResult:
    async with borrow() as conn:
        idx = await load_index(conn, index)
        if idx.spec.follower:
            raise FollowerIndex(index)
        prepared = prepare_bulk(idx.spec, ops, limits)
        async with conn.transaction():
            if fence is not None:
                await check_fence(conn, fence)
            if not prepared:
                return BulkResult([])
            items = await _write(conn, idx, ops, prepared, stamp, limits)
        return BulkResult(items, sum(len(p.source) for p in prepared if p.source is not None))


async def fence(borrow: Borrow, fence: Fence) -> None:
    async with borrow() as conn, conn.transaction():
        await check_fence(conn, fence)


async def sweep(borrow: Borrow, index: str, stamp: Stamp, fence: Fence | None, batch: int) -> int:
    if batch < 1:
        raise InvalidArgument.field("batch", "must be at least 1")
    deleted = 0
    async with borrow() as conn:
        idx = await load_index(conn, index)
        if idx.spec.follower:
            raise FollowerIndex(index)
        for shard in range(idx.spec.shards):
            after: str | None = ""
            while after is not None:
                async with conn.transaction():
                    if fence is not None:
                        await check_fence(conn, fence)
                    after, gone = await _sweep_batch(conn, idx, shard, stamp, after, batch)
                deleted += gone
    return deleted


# Writes, inside the caller's transaction -------------------------------------


async def check_fence(conn: Any, fence: Fence) -> None:
    """check_fence registers fence.token for its scope or raises Fenced if a higher one is there.

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


async def _lock_shards(conn: Any, idx: IndexRow, shards: list[int]) -> dict[int, int]:
    """_lock_shards locks the shards' rows in shard order; returns each one's max_seq_no."""
    rows = await conn.fetch(LOCK_SHARDS, idx.id, shards)
    if len(rows) != len(shards):
        raise NotFound("index", idx.spec.name)  # Deleted since we read it.
    return {r["shard"]: r["max_seq_no"] for r in rows}


async def _write(
    conn: Any,
    idx: IndexRow,
    ops: Sequence[WriteOp],
    prepared: list[PreparedOp],
    stamp: Stamp | None,
    limits: Limits,
) -> list[BulkItem]:
    shards = sorted({p.shard for p in prepared})
    max_seq_nos = await _lock_shards(conn, idx, shards)
    schema = await current_schema(conn, idx.id)
    if schema != idx.spec.schema:
        # A newer schema landed since the ops were checked: check them again.
        spec = IndexSpec(idx.spec.name, idx.spec.shards, schema, idx.spec.leader)
        prepared = prepare_bulk(spec, ops, limits)
    rows = await conn.fetch(
        f"SELECT doc_id FROM ferry_docs WHERE {DOCS_IN}",
        idx.id,
        shards,
        list({p.id: None for p in prepared}),
    )
    existed = {r["doc_id"] for r in rows}
    present = set(existed)
    items: list[BulkItem] = []
    now = time.time()
    history: list[OpRow] = []
    final: dict[str, DocRow | None] = {}  # None once deleted
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
    await copy_ops(conn, history)
    await set_max_seq_nos(conn, idx.id, max_seq_nos)
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
        await conn.copy_records_to_table("ferry_docs", records=created, columns=DOC_COLUMNS)
    await put_docs(conn, idx.id, [doc for doc in kept if doc[1] in existed], stamp=stamp)
    await put_words(conn, idx.id, kept, schema)
    gone = [doc_id for doc_id, doc in final.items() if doc is None]
    if gone:
        await delete_docs(conn, idx.id, shards, gone)
    return items


async def _sweep_batch(
    conn: Any, idx: IndexRow, shard: int, stamp: Stamp, after: str, batch: int
) -> tuple[str | None, int]:
    """_sweep_batch deletes up to ``batch`` of the scope's older documents in one shard.

    It walks the shard's ids upwards from ``after`` (the key order, so a
    whole sweep reads each document once) and returns the last id it looked
    at (None at the end) and how many it deleted. A candidate rewritten by a
    newer sync between the look-up and the shard lock stays.
    """
    await conn.execute(WALK_THE_KEY)
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
        await copy_ops(
            conn,
            [
                (idx.id, shard, first + i, OpKind.DELETE.value, doc_id, now, None)
                for i, doc_id in enumerate(gone)
            ],
        )
        await set_max_seq_nos(conn, idx.id, {shard: first + len(gone) - 1})
        if idx.spec.schema.text_fields():
            await conn.execute(f"DELETE FROM ferry_words WHERE {DOCS_IN}", idx.id, [shard], gone)
    return ids[-1], len(deleted)
