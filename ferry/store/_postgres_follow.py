"""The PostgreSQL store's follower side: replicated operations, bootstrap and promotion.

A follower applies leader operations by their leader seq_nos, in any order:
for each document the op with the highest seq_no seen wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ferry.errors import InvalidArgument
from ferry.store._postgres_changes import DocRow, copy_ops, delete_docs, put_docs, put_words
from ferry.store._postgres_schema import (
    LOCK_SHARDS,
    SHARD_TABLES,
    Borrow,
    IndexRow,
    current_schema,
    load_index,
)
from ferry.store._postgres_write import check_fence
from ferry.store.model import (
    NO_OPS,
    Fence,
    IndexInfo,
    IndexSpec,
    Operation,
    OpKind,
    SnapshotDoc,
)

_INSERT_OPS = """
INSERT INTO ferry_ops (index_id, shard, seq_no, kind, doc_id, write_time, source)
SELECT $1, * FROM unnest($2::int[], $3::bigint[], $4::text[], $5::text[],
                         $6::float8[], $7::bytea[])
"""


async def promote(borrow: Borrow, name: str) -> IndexInfo:
    async with borrow() as conn, conn.transaction():
        idx = await load_index(conn, name, lock="FOR UPDATE")
        if idx.spec.follower:
            await conn.execute(
                "UPDATE ferry_indices SET remote_cluster = NULL, leader_index = NULL WHERE id = $1",
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


async def _follower(conn: Any, index: str, shard: int, fence: Fence | None) -> IndexRow:
    """_follower loads a follower index, checks the shard and the fence (registering a
    higher token), inside the caller's transaction."""
    idx = await load_index(conn, index)
    idx.check_shard(shard)
    idx.require_follower()
    if fence is not None:
        await check_fence(conn, fence)
    return idx


async def apply_operations(
    borrow: Borrow, index: str, shard: int, ops: Sequence[Operation], fence: Fence | None
) -> int:
    for i, op in enumerate(ops):
        if op.shard != shard:
            raise InvalidArgument.field(f"ops[{i}].shard", f"is {op.shard}, not {shard}")
        if op.kind is OpKind.INDEX and op.source is None:
            raise InvalidArgument.field(f"ops[{i}].source", "an index op needs a source")
    async with borrow() as conn, conn.transaction():
        idx = await _follower(conn, index, shard, fence)
        return await _apply(conn, idx.id, shard, ops)


async def begin_bootstrap(borrow: Borrow, index: str, shard: int, fence: Fence | None) -> None:
    async with borrow() as conn, conn.transaction():
        idx = await _follower(conn, index, shard, fence)
        await conn.execute(LOCK_SHARDS, idx.id, [shard])
        for table in SHARD_TABLES:
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


async def apply_snapshot(
    borrow: Borrow, index: str, shard: int, docs: Sequence[SnapshotDoc], fence: Fence | None
) -> None:
    async with borrow() as conn, conn.transaction():
        idx = await _follower(conn, index, shard, fence)
        if not docs:
            return
        await conn.execute(LOCK_SHARDS, idx.id, [shard])
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
        rows: list[DocRow] = [(shard, d.id, d.seq_no, d.source) for d in docs]
        await put_docs(conn, idx.id, rows, only_newer=True)
        await put_words(conn, idx.id, rows, await current_schema(conn, idx.id))


async def finish_bootstrap(
    borrow: Borrow, index: str, shard: int, seq_no: int, fence: Fence | None
) -> None:
    async with borrow() as conn, conn.transaction():
        idx = await _follower(conn, index, shard, fence)
        await conn.execute(LOCK_SHARDS, idx.id, [shard])
        # Below the snapshot only current documents' ops were copied: the
        # history is complete from just above it.
        await conn.execute(
            "UPDATE ferry_shards SET checkpoint = $3, max_seq_no = GREATEST(max_seq_no, $3),"
            " min_retained_seq_no = $3 + 1 WHERE index_id = $1 AND shard = $2",
            idx.id,
            shard,
            seq_no,
        )


# Follower side, inside the caller's transaction -----------------------------


async def _apply(conn: Any, index_id: int, shard: int, ops: Sequence[Operation]) -> int:
    """_apply applies replicated ops to a follower shard; returns the new checkpoint."""
    [row] = await conn.fetch(LOCK_SHARDS, index_id, [shard])
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
    await copy_ops(
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
        await put_docs(conn, index_id, docs)
        await put_words(conn, index_id, docs, await current_schema(conn, index_id))
    deletes = [op for op in winners.values() if op.kind is OpKind.DELETE]
    if deletes:
        await delete_docs(conn, index_id, [shard], [op.id for op in deletes])
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
