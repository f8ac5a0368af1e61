"""The PostgreSQL store's history retention: retention leases, and trimming the history
nobody holds any more. One advisory lock per index orders lease puts against trims."""

from __future__ import annotations

import time
from datetime import timedelta

from ferry.errors import InvalidArgument
from ferry.store._postgres_schema import LOCK_SHARDS, Borrow, load_index
from ferry.store.model import RetentionLease
from ferry.store.store import HistoryTrimmed

_LEASE_LOCK = 0x6C656173
"""First key of the per-index advisory lock that orders lease puts against trims."""


async def put_retention_lease(
    borrow: Borrow,
    index: str,
    shard: int,
    lease_id: str,
    retaining_seq_no: int,
    ttl: timedelta,
    source: str,
) -> RetentionLease:
    if not lease_id:
        raise InvalidArgument.field("lease_id", "must not be empty")
    expires_at = time.time() + ttl.total_seconds()
    async with borrow() as conn, conn.transaction():
        idx = await load_index(conn, index)
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


async def remove_retention_lease(borrow: Borrow, index: str, shard: int, lease_id: str) -> None:
    async with borrow() as conn:
        idx = await load_index(conn, index)
        idx.check_shard(shard)
        await conn.execute(
            "DELETE FROM ferry_leases WHERE index_id = $1 AND shard = $2 AND lease_id = $3",
            idx.id,
            shard,
            lease_id,
        )


async def retention_leases(borrow: Borrow, index: str) -> list[RetentionLease]:
    async with borrow() as conn:
        idx = await load_index(conn, index)
        rows = await conn.fetch(
            "SELECT * FROM ferry_leases WHERE index_id = $1 ORDER BY shard, lease_id", idx.id
        )
    return [
        RetentionLease(r["lease_id"], r["shard"], r["retaining_seq_no"], r["expires_at"],
                       r["source"])
        for r in rows
    ]  # fmt: skip


async def trim_history(borrow: Borrow, index: str, now: float | None) -> int:
    now = time.time() if now is None else now
    async with borrow() as conn, conn.transaction():
        idx = await load_index(conn, index)
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
            await conn.execute(LOCK_SHARDS, idx.id, [r["shard"] for r in rows])
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
