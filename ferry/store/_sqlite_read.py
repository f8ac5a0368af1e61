"""The SQLite store's reads, run on its reader threads inside one read transaction each."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from ferry.errors import InvalidArgument
from ferry.store._sqlite_query import compile_ordering, compile_query
from ferry.store._sqlite_schema import KIND_OF, IndexRow, load_index
from ferry.store.common import Limits, check_id, check_query, encode_cursor
from ferry.store.model import (
    Document,
    Operation,
    Query,
    RetentionLease,
    SearchPage,
    ShardSeqNos,
    ShardStats,
    SnapshotDoc,
    Sort,
)
from ferry.store.store import HistoryTrimmed

_DOCS = "docs d JOIN ops o ON o.op_id = d.op_id"


def get_many(
    conn: sqlite3.Connection, name: str, doc_ids: Sequence[str], where: str, limits: Limits
) -> list[Document | None]:
    """get_many returns one entry per id, in order; ``where`` names the ids in errors."""
    for i, doc_id in enumerate(doc_ids):
        check_id(doc_id, where.format(i=i), limits)
    index = load_index(conn, name)
    if not doc_ids:
        return []
    found = {
        doc_id: Document(doc_id, json.loads(source), shard, seq_no)
        for doc_id, shard, seq_no, source in conn.execute(
            f"SELECT d.doc_id, d.shard, d.seq_no, o.source FROM {_DOCS}"
            " WHERE d.index_id = ? AND d.doc_id IN (SELECT value FROM json_each(?))",
            (index.id, json.dumps(list(doc_ids))),
        )
    }
    return [found.get(doc_id) for doc_id in doc_ids]


def count(conn: sqlite3.Connection, name: str, query: Query, limits: Limits) -> int:
    check_query(query, limits=limits)
    index = load_index(conn, name)
    if not query.filters and not query.match:
        # Kept per shard by every write, so counting everything reads no documents.
        [total] = conn.execute(
            "SELECT coalesce(sum(doc_count), 0) FROM shards WHERE index_id = ?", (index.id,)
        ).fetchone()
        return int(total)
    compiled = compile_query(index, query)
    where = " AND ".join(f"({w})" for w in compiled.where)
    [total] = conn.execute(
        f"SELECT count(*) FROM {_DOCS} WHERE {where}", compiled.params
    ).fetchone()
    return int(total)


def search(
    conn: sqlite3.Connection,
    name: str,
    query: Query,
    sort: Sequence[Sort],
    size: int,
    cursor: str,
    limits: Limits,
) -> SearchPage:
    check_query(query, sort, size, limits)
    index = load_index(conn, name)
    compiled = compile_query(index, query)
    ordering = compile_ordering(compiled, sort, cursor)
    where = compiled.where + ([ordering.after] if ordering.after else [])
    columns = ", ".join(["d.doc_id", "d.shard", "d.seq_no", "o.source", *ordering.select])
    # One row more than the page tells whether another page follows.
    rows = conn.execute(
        f"SELECT {columns} FROM {_DOCS} WHERE {' AND '.join(f'({w})' for w in where)}"
        f" ORDER BY {ordering.order_by} LIMIT {compiled.bind(size + 1)}",
        compiled.params,
    ).fetchall()
    hits = [Document(doc_id, json.loads(src), shard, seq) for doc_id, shard, seq, src, *_ in rows]
    if len(rows) <= size:
        return SearchPage(hits, "")
    last = rows[size - 1]
    return SearchPage(hits[:size], encode_cursor([*last[4:], last[0]]))


def shard_stats(conn: sqlite3.Connection, name: str) -> list[ShardStats]:
    index = load_index(conn, name)
    return [
        ShardStats(*row)
        for row in conn.execute(
            "SELECT shard, doc_count, max_seq_no, checkpoint, min_retained_seq_no FROM shards"
            " WHERE index_id = ? ORDER BY shard",
            (index.id,),
        )
    ]


def shard_seq_nos(conn: sqlite3.Connection, name: str, shard: int) -> ShardSeqNos:
    index = load_index(conn, name)
    index.check_shard(shard)
    row = conn.execute(
        "SELECT max_seq_no, checkpoint, min_retained_seq_no FROM shards"
        " WHERE index_id = ? AND shard = ?",
        (index.id, shard),
    ).fetchone()
    return ShardSeqNos(*row)


def read_operations(
    conn: sqlite3.Connection,
    name: str,
    shard: int,
    from_seq_no: int,
    max_ops: int,
    max_bytes: int,
) -> list[Operation]:
    if not isinstance(from_seq_no, int) or from_seq_no < 0:
        raise InvalidArgument.field("from_seq_no", "must be a non-negative integer")
    if max_ops < 1:
        raise InvalidArgument.field("max_ops", "must be at least 1")
    index = load_index(conn, name)
    index.check_shard(shard)
    checkpoint, min_retained = conn.execute(
        "SELECT checkpoint, min_retained_seq_no FROM shards WHERE index_id = ? AND shard = ?",
        (index.id, shard),
    ).fetchone()
    if from_seq_no < min_retained:
        raise HistoryTrimmed(name, shard, from_seq_no, min_retained)
    # Only up to the checkpoint: above it a follower's history may still have gaps.
    rows = conn.execute(
        "SELECT seq_no, kind, doc_id, CAST(source AS BLOB), write_time FROM ops"
        " WHERE index_id = ? AND shard = ? AND seq_no >= ? AND seq_no <= ?"
        " ORDER BY seq_no LIMIT ?",
        (index.id, shard, from_seq_no, checkpoint, max_ops),
    )
    ops: list[Operation] = []
    size = 0
    for seq_no, kind, doc_id, source, write_time in rows:
        op = Operation(shard, seq_no, KIND_OF[kind], doc_id, source, write_time)
        size += op.size()
        if ops and size > max_bytes:
            break
        ops.append(op)
    rows.close()
    return ops


def retention_leases(conn: sqlite3.Connection, name: str) -> list[RetentionLease]:
    index = load_index(conn, name)
    return [
        RetentionLease(*row)
        for row in conn.execute(
            "SELECT lease_id, shard, retaining_seq_no, expires_at, source FROM leases"
            " WHERE index_id = ? ORDER BY shard, lease_id",
            (index.id,),
        )
    ]


# Snapshots ----------------------------------------------------------------------


def open_snapshot(conn: sqlite3.Connection, name: str, shard: int) -> tuple[IndexRow, int, int]:
    """open_snapshot reads the index, the seq_no a snapshot is as of and its document count.

    Call it as the first read of the snapshot's transaction: in WAL mode that
    read fixes what every later read of the transaction sees. The seq_no is the
    global checkpoint (the max_seq_no on a leader): a follower followed from
    there misses nothing above it.
    """
    index = load_index(conn, name)
    index.check_shard(shard)
    checkpoint, docs = conn.execute(
        "SELECT checkpoint, doc_count FROM shards WHERE index_id = ? AND shard = ?",
        (index.id, shard),
    ).fetchone()
    return index, checkpoint, docs


def snapshot_batch(
    conn: sqlite3.Connection, index_id: int, shard: int, after_id: str, size: int
) -> list[SnapshotDoc]:
    """snapshot_batch is the next ``size`` documents of the shard with ids above after_id."""
    return [
        SnapshotDoc(*row)
        for row in conn.execute(
            f"SELECT d.doc_id, CAST(o.source AS BLOB), d.seq_no, o.write_time FROM {_DOCS}"
            " WHERE d.index_id = ? AND d.shard = ? AND d.doc_id > ? ORDER BY d.doc_id LIMIT ?",
            (index_id, shard, after_id, size),
        )
    ]
