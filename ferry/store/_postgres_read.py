"""The PostgreSQL store's reads: indices, documents, searches, shard stats, history and
snapshots."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from ferry.errors import InvalidArgument, NotFound, Unavailable
from ferry.store._postgres_query import Search, cursor_value
from ferry.store._postgres_schema import (
    CURRENT,
    UNAVAILABLE,
    WALK_THE_KEY,
    Borrow,
    IndexRow,
    index_from_row,
    load_index,
)
from ferry.store.common import Limits, check_id, check_query, decode_cursor, encode_cursor
from ferry.store.model import (
    Document,
    IndexInfo,
    Operation,
    OpKind,
    Query,
    Schema,
    SearchPage,
    ShardSeqNos,
    ShardStats,
    SnapshotDoc,
    Sort,
    shard_for,
)
from ferry.store.store import HistoryTrimmed, Snapshot


def _document(row: Any) -> Document:
    return Document(row["doc_id"], json.loads(row["source"]), row["shard"], row["seq_no"])


def _operation(shard: int, row: Any) -> Operation:
    return Operation(
        shard, row["seq_no"], OpKind(row["kind"]), row["doc_id"], row["source"], row["write_time"]
    )


def _shard_of(idx: IndexRow, doc_id: str) -> int:
    return shard_for(doc_id, idx.spec.shards)


async def get_index(borrow: Borrow, name: str) -> IndexInfo:
    async with borrow() as conn:
        return (await load_index(conn, name)).info


async def list_indices(borrow: Borrow) -> list[IndexInfo]:
    async with borrow() as conn:
        rows = await conn.fetch('SELECT * FROM ferry_indices ORDER BY name COLLATE "C"')
    return [index_from_row(row).info for row in rows]


async def get(borrow: Borrow, index: str, doc_id: str, limits: Limits) -> Document | None:
    check_id(doc_id, "id", limits)
    async with borrow() as conn:
        idx = await load_index(conn, index)
        row = await conn.fetchrow(
            f"SELECT d.doc_id, d.shard, d.seq_no, o.source FROM {CURRENT}"
            " WHERE d.index_id = $1 AND d.shard = $2 AND d.doc_id = $3",
            idx.id,
            _shard_of(idx, doc_id),
            doc_id,
        )
    return None if row is None else _document(row)


async def multi_get(
    borrow: Borrow, index: str, doc_ids: Sequence[str], limits: Limits
) -> list[Document | None]:
    for i, doc_id in enumerate(doc_ids):
        check_id(doc_id, f"ids[{i}]", limits)
    async with borrow() as conn:
        idx = await load_index(conn, index)
        if not doc_ids:
            return []
        unique = list(dict.fromkeys(doc_ids))
        rows = await conn.fetch(
            f"SELECT d.doc_id, d.shard, d.seq_no, o.source FROM {CURRENT}"
            " WHERE d.index_id = $1 AND d.shard = ANY($2::int[])"
            " AND d.doc_id = ANY($3::text[])",
            idx.id,
            list({_shard_of(idx, doc_id) for doc_id in unique}),
            unique,
        )
    found = {row["doc_id"]: _document(row) for row in rows}
    return [found.get(doc_id) for doc_id in doc_ids]


async def count(borrow: Borrow, index: str, query: Query, limits: Limits) -> int:
    check_query(query, limits=limits)
    async with borrow() as conn:
        idx = await load_index(conn, index)
        search = Search(idx, query, ())
        value = await conn.fetchval(
            f"SELECT count(*) FROM {search.rows()} WHERE {search.where()}", *search.params
        )
    return int(value)


async def search(
    borrow: Borrow,
    index: str,
    query: Query,
    sort: Sequence[Sort],
    size: int,
    cursor: str,
    limits: Limits,
) -> SearchPage:
    check_query(query, sort, size, limits)
    async with borrow() as conn:
        idx = await load_index(conn, index)
        search = Search(idx, query, sort)
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
        values = [cursor_value(last[f"k{i}"]) for i in range(len(search.keys))]
        next_cursor = encode_cursor([*values, last["doc_id"]])
    return SearchPage(hits, next_cursor)


async def shard_stats(borrow: Borrow, index: str) -> list[ShardStats]:
    async with borrow() as conn:
        idx = await load_index(conn, index)
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


async def shard_seq_nos(borrow: Borrow, index: str, shard: int) -> ShardSeqNos:
    # One round trip, index row and shard row together: replication reads this for
    # every message it sends.
    async with borrow() as conn:
        row = await conn.fetchrow(
            "SELECT i.*, s.max_seq_no, s.checkpoint, s.min_retained_seq_no FROM ferry_indices i"
            " LEFT JOIN ferry_shards s ON s.index_id = i.id AND s.shard = $2 WHERE i.name = $1",
            index,
            shard,
        )
    if row is None:
        raise NotFound("index", index)
    index_from_row(row).check_shard(shard)
    return ShardSeqNos(row["max_seq_no"], row["checkpoint"], row["min_retained_seq_no"])


async def read_operations(
    borrow: Borrow, index: str, shard: int, from_seq_no: int, max_ops: int, max_bytes: int
) -> list[Operation]:
    if max_ops < 1:
        raise InvalidArgument.field("max_ops", "must be at least 1")
    if from_seq_no < 0:
        raise InvalidArgument.field("from_seq_no", "must not be negative")
    async with borrow() as conn:
        idx = await load_index(conn, index)
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
                "SELECT min_retained_seq_no FROM ferry_shards WHERE index_id = $1 AND shard = $2",
                idx.id,
                shard,
            )
            if min_retained is None:
                raise NotFound("index", index)
            if from_seq_no < min_retained:
                raise HistoryTrimmed(index, shard, from_seq_no, min_retained)
            return []
    return [_operation(shard, row) for row in rows if row["seq_no"] is not None]


async def open_snapshot(conn: Any, index: str, shard: int) -> tuple[IndexRow, int, int]:
    """open_snapshot starts a shard's snapshot in conn's REPEATABLE READ transaction; returns
    the index, the shard's checkpoint (the snapshot's seq_no) and its document count."""
    await conn.execute(WALK_THE_KEY)
    idx = await load_index(conn, index)
    idx.check_shard(shard)
    row = await conn.fetchrow(
        "SELECT s.checkpoint, (SELECT count(*) FROM ferry_docs d"
        "  WHERE d.index_id = s.index_id AND d.shard = s.shard) AS docs"
        " FROM ferry_shards s WHERE s.index_id = $1 AND s.shard = $2",
        idx.id,
        shard,
    )
    return idx, row["checkpoint"], row["docs"]


# Snapshots -------------------------------------------------------------------


class PostgresSnapshot(Snapshot):
    """PostgresSnapshot reads one shard inside a REPEATABLE READ transaction."""

    def __init__(
        self,
        conn: Any,
        where: str,
        index_id: int,
        shard: int,
        seq_no: int,
        schema: Schema,
        docs: int,
    ) -> None:
        self._conn = conn
        self._where = where
        self._index_id = index_id
        self._shard = shard
        self.seq_no = seq_no
        self.schema = schema
        self.docs = docs

    async def batches(self, size: int = 1000) -> AsyncIterator[list[SnapshotDoc]]:
        if size < 1:
            raise InvalidArgument.field("size", "must be at least 1")
        after = ""
        while True:
            try:
                rows = await self._conn.fetch(
                    f"SELECT d.doc_id, o.source, d.seq_no, o.write_time FROM {CURRENT}"
                    " WHERE d.index_id = $1 AND d.shard = $2 AND d.doc_id > $3"
                    " ORDER BY d.doc_id LIMIT $4",
                    self._index_id,
                    self._shard,
                    after,
                    size,
                )
            except UNAVAILABLE as exc:
                raise Unavailable(f"PostgreSQL at {self._where}: {exc}") from exc
            if not rows:
                return
            yield [
                SnapshotDoc(r["doc_id"], r["source"], r["seq_no"], r["write_time"]) for r in rows
            ]
            if len(rows) < size:
                return
            after = rows[-1]["doc_id"]
