"""The SQLite store's write transactions on leader indices, run on its writer thread.

Each function takes the writer connection and does its work in one
``BEGIN IMMEDIATE`` transaction (sweep: one per batch).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from datetime import timedelta

from ferry.errors import AlreadyExists, Fenced, InvalidArgument
from ferry.store._sqlite_changes import DocChanges
from ferry.store._sqlite_schema import (
    IndexRow,
    create_fts,
    leader_json,
    load_index,
    schema_json,
    text_of,
    transaction,
)
from ferry.store.common import (
    Limits,
    PreparedOp,
    check_schema_change,
    check_spec,
    prepare_bulk,
)
from ferry.store.model import (
    NO_OPS,
    BulkItem,
    BulkResult,
    Fence,
    IndexInfo,
    IndexOp,
    IndexSpec,
    ItemResult,
    OpKind,
    RetentionLease,
    Schema,
    Stamp,
    WriteOp,
)
from ferry.store.store import HistoryTrimmed

# Indices ------------------------------------------------------------------------


def create_index(conn: sqlite3.Connection, spec: IndexSpec) -> IndexInfo:
    check_spec(spec)
    created_at = time.time()
    with transaction(conn, write=True):
        if conn.execute("SELECT 1 FROM indices WHERE name = ?", (spec.name,)).fetchone():
            raise AlreadyExists("index", spec.name)
        cursor = conn.execute(
            "INSERT INTO indices (name, shards, schema_fields, schema_version, leader, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                spec.name,
                spec.shards,
                schema_json(spec.schema),
                spec.schema.version,
                leader_json(spec.leader),
                created_at,
            ),
        )
        index_id = cursor.lastrowid
        conn.executemany(
            "INSERT INTO shards VALUES (?, ?, ?, ?, 0, 0)",
            [(index_id, shard, NO_OPS, NO_OPS) for shard in range(spec.shards)],
        )
        index = load_index(conn, spec.name)
        if index.fts_table:
            create_fts(conn, index.fts_table)
    return index.info


def delete_index(conn: sqlite3.Connection, name: str) -> None:
    with transaction(conn, write=True):
        index = load_index(conn, name)
        for table in ("ops", "docs", "tombstones", "leases", "shards"):
            conn.execute(f"DELETE FROM {table} WHERE index_id = ?", (index.id,))
        conn.execute(f"DROP TABLE IF EXISTS fts_{index.id}")
        conn.execute("DELETE FROM indices WHERE id = ?", (index.id,))


def update_schema(conn: sqlite3.Connection, name: str, schema: Schema) -> IndexInfo:
    with transaction(conn, write=True):
        old = load_index(conn, name)
        check_schema_change(name, old.spec.schema, schema)
        conn.execute(
            "UPDATE indices SET schema_fields = ?, schema_version = ? WHERE id = ?",
            (schema_json(schema), schema.version, old.id),
        )
        new = load_index(conn, name)
        if new.spec.schema.text_fields() != old.spec.schema.text_fields():
            _rebuild_fts(conn, new)
    return new.info


def _rebuild_fts(conn: sqlite3.Connection, index: IndexRow) -> None:
    """_rebuild_fts refills the full-text table after the set of text fields changed."""
    table = index.fts_table
    assert table is not None, "text fields are only ever added"
    create_fts(conn, table)
    conn.execute(f"DELETE FROM {table}")
    fields = index.spec.schema.text_fields()
    rows = conn.execute(
        "SELECT o.op_id, o.source FROM docs d JOIN ops o ON o.op_id = d.op_id WHERE d.index_id = ?",
        (index.id,),
    )
    insert = f"INSERT INTO {table} (rowid, body) VALUES (?, ?)"
    while batch := rows.fetchmany(1000):
        conn.executemany(
            insert, [(op_id, text_of(json.loads(source), fields)) for op_id, source in batch]
        )


def promote(conn: sqlite3.Connection, name: str) -> IndexInfo:
    with transaction(conn, write=True):
        index = load_index(conn, name)
        if not index.spec.follower:
            return index.info  # already an ordinary index: promoting again changes nothing
        conn.execute("UPDATE indices SET leader = NULL WHERE id = ?", (index.id,))
        # A leader's checkpoint is its max_seq_no; numbering goes on from there.
        conn.execute("UPDATE shards SET checkpoint = max_seq_no WHERE index_id = ?", (index.id,))
        conn.execute("DELETE FROM tombstones WHERE index_id = ?", (index.id,))
        return load_index(conn, name).info


# Writes -------------------------------------------------------------------------


def check_fence(conn: sqlite3.Connection, fence: Fence | None) -> None:
    """check_fence refuses a token below the scope's highest, and registers a higher one."""
    if fence is None:
        return
    if not isinstance(fence.scope, str) or not fence.scope:
        raise InvalidArgument.field("fence.scope", "must be a non-empty string")
    if not isinstance(fence.token, int) or isinstance(fence.token, bool):
        raise InvalidArgument.field("fence.token", "must be an integer")
    row = conn.execute("SELECT token FROM fences WHERE scope = ?", (fence.scope,)).fetchone()
    if row is not None and row[0] > fence.token:
        raise Fenced(fence.scope, f"token {fence.token} is below {row[0]}")
    if row is None or row[0] < fence.token:
        conn.execute(
            "INSERT INTO fences (scope, token) VALUES (?, ?)"
            " ON CONFLICT (scope) DO UPDATE SET token = excluded.token",
            (fence.scope, fence.token),
        )


def fence(conn: sqlite3.Connection, fence: Fence) -> None:
    with transaction(conn, write=True):
        check_fence(conn, fence)


def _check_stamp(stamp: Stamp | None) -> None:
    if stamp is None:
        return
    if not isinstance(stamp.scope, str) or not stamp.scope:
        raise InvalidArgument.field("stamp.scope", "must be a non-empty string")
    if not isinstance(stamp.generation, int) or isinstance(stamp.generation, bool):
        raise InvalidArgument.field("stamp.generation", "must be an integer")


def prepare(
    conn: sqlite3.Connection,
    name: str,
    ops: Sequence[WriteOp],
    stamp: Stamp | None,
    limits: Limits,
) -> tuple[IndexRow, list[PreparedOp]]:
    """prepare checks and encodes a bulk against the index as it is now.

    The costly Python part of a bulk write, run on a reader thread: it holds no
    lock, and one bulk is prepared while another is being written.
    """
    _check_stamp(stamp)
    index = load_index(conn, name)
    index.refuse_follower()
    return index, prepare_bulk(index.spec, ops, limits)


def bulk(
    conn: sqlite3.Connection,
    name: str,
    ops: Sequence[WriteOp],
    prepared: tuple[IndexRow, list[PreparedOp]],
    fence: Fence | None,
    stamp: Stamp | None,
    limits: Limits,
) -> BulkResult:
    """bulk writes a prepared bulk (see :func:`prepare`)."""
    index, checked = prepared
    with transaction(conn, write=True):
        if load_index(conn, name) != index:  # the schema changed (or the index was recreated)
            index, checked = prepare(conn, name, ops, stamp, limits)
        check_fence(conn, fence)
        changes = DocChanges(conn, index)
        ids = {p.id for p in checked}
        changes.load(ids)
        write_time = time.time()
        text_fields = changes.text_fields
        if len(ids) == len(checked) and all(p.source is not None for p in checked):
            # The usual bulk (a sync's batch): new versions of different documents.
            scope, generation = (None, None) if stamp is None else (stamp.scope, stamp.generation)
            texts = (
                [text_of(op.source, text_fields) for op in ops if isinstance(op, IndexOp)]
                if text_fields
                else []
            )
            result = BulkResult(*changes.index_all(checked, write_time, scope, generation, texts))
            changes.flush()
            changes.save_counters()
            return result
        items: list[BulkItem] = []
        source_bytes = 0
        for (doc_id, shard, _, source), op in zip(checked, ops, strict=True):
            was = changes.current.get(doc_id)
            if source is None:  # a delete
                if was is None:  # deleting a missing document is a no-op and takes no seq_no
                    items.append(BulkItem(doc_id, shard, NO_OPS, ItemResult.NOT_FOUND))
                    continue
                seq_no = changes.next_seq_no(shard)
                changes.add_op(shard, seq_no, OpKind.DELETE, doc_id, None, write_time)
                changes.drop(doc_id)
                items.append(BulkItem(doc_id, shard, seq_no, ItemResult.DELETED))
                continue
            seq_no = changes.next_seq_no(shard)
            op_id = changes.add_op(shard, seq_no, OpKind.INDEX, doc_id, source, write_time)
            text = ""
            if text_fields:
                assert isinstance(op, IndexOp)
                text = text_of(op.source, text_fields)
            changes.put(doc_id, shard, seq_no, op_id, stamp, text)
            result_of = ItemResult.CREATED if was is None else ItemResult.UPDATED
            items.append(BulkItem(doc_id, shard, seq_no, result_of))
            source_bytes += len(source)
        changes.flush()
        changes.save_counters()
    return BulkResult(items, source_bytes)


def sweep_batch(
    conn: sqlite3.Connection,
    name: str,
    stamp: Stamp,
    fence: Fence | None,
    after_id: str,
    batch: int,
) -> tuple[int, str]:
    """sweep_batch deletes up to ``batch`` documents of stamp.scope older than its generation,
    with ids above ``after_id``; returns how many and the last id.

    The scan goes on in id order from where the last batch stopped, so the
    whole sweep reads each document row once, with no index on (scope,
    generation) for every write to maintain.
    """
    _check_stamp(stamp)
    with transaction(conn, write=True):
        index = load_index(conn, name)
        index.refuse_follower()
        check_fence(conn, fence)
        rows = conn.execute(
            "SELECT doc_id, shard, seq_no, op_id FROM docs"
            " WHERE index_id = ? AND doc_id > ? AND scope = ? AND generation < ?"
            " ORDER BY doc_id LIMIT ?",
            (index.id, after_id, stamp.scope, stamp.generation, batch),
        ).fetchall()
        if not rows:
            return 0, after_id
        changes = DocChanges(conn, index)
        changes.seed(rows)
        write_time = time.time()
        for doc_id, shard, _, _ in rows:
            seq_no = changes.next_seq_no(shard)
            changes.add_op(shard, seq_no, OpKind.DELETE, doc_id, None, write_time)
            changes.drop(doc_id)
        changes.flush()
        changes.save_counters()
        return len(rows), rows[-1][0]


# Retention leases and trimming ---------------------------------------------------


def put_retention_lease(
    conn: sqlite3.Connection,
    name: str,
    shard: int,
    lease_id: str,
    retaining_seq_no: int,
    ttl: timedelta,
    source: str,
) -> RetentionLease:
    if not isinstance(lease_id, str) or not lease_id:
        raise InvalidArgument.field("lease_id", "must be a non-empty string")
    if not isinstance(retaining_seq_no, int) or isinstance(retaining_seq_no, bool):
        raise InvalidArgument.field("retaining_seq_no", "must be an integer")
    with transaction(conn, write=True):
        index = load_index(conn, name)
        index.check_shard(shard)
        [min_retained] = conn.execute(
            "SELECT min_retained_seq_no FROM shards WHERE index_id = ? AND shard = ?",
            (index.id, shard),
        ).fetchone()
        if retaining_seq_no < min_retained:
            raise HistoryTrimmed(name, shard, retaining_seq_no, min_retained)
        lease = RetentionLease(
            lease_id, shard, retaining_seq_no, time.time() + ttl.total_seconds(), source
        )
        conn.execute(
            "INSERT INTO leases VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET"
            " retaining_seq_no = excluded.retaining_seq_no, expires_at = excluded.expires_at,"
            " source = excluded.source",
            (index.id, shard, lease_id, retaining_seq_no, lease.expires_at, source),
        )
    return lease


def remove_retention_lease(conn: sqlite3.Connection, name: str, shard: int, lease_id: str) -> None:
    with transaction(conn, write=True):
        index = load_index(conn, name)
        index.check_shard(shard)
        conn.execute(
            "DELETE FROM leases WHERE index_id = ? AND shard = ? AND lease_id = ?",
            (index.id, shard, lease_id),
        )


TRIM_SLICE = 20_000
"""TRIM_SLICE bounds the seq_nos one DELETE of trim_history covers (and so its memory)."""


def trim_history(conn: sqlite3.Connection, name: str, now: float) -> int:
    """trim_history drops expired leases, then superseded ops below every live lease."""
    removed = 0
    with transaction(conn, write=True):
        index = load_index(conn, name)
        conn.execute("DELETE FROM leases WHERE index_id = ? AND expires_at <= ?", (index.id, now))
        shards = conn.execute(
            "SELECT s.shard, s.checkpoint, s.min_retained_seq_no,"
            " (SELECT min(l.retaining_seq_no) FROM leases l"
            "  WHERE l.index_id = s.index_id AND l.shard = s.shard)"
            " FROM shards s WHERE s.index_id = ?",
            (index.id,),
        ).fetchall()
        for shard, checkpoint, min_retained, leased in shards:
            # Never above the checkpoint: a follower's ops above it may still be
            # superseded by ones that have not arrived.
            bound = checkpoint + 1 if leased is None else min(leased, checkpoint + 1)
            if bound <= min_retained:
                continue
            # Below min_retained only current ops are left (see DocChanges.flush),
            # so the scan starts there.
            # In slices of TRIM_SLICE seq_nos: one DELETE of them all made SQLite (and,
            # with RETURNING, Python) hold every row removed in memory at once, and a
            # busy minute's history is millions of them.
            count, highest = 0, -1
            for start in range(min_retained, bound, TRIM_SLICE):
                gone = [
                    seq_no
                    for (seq_no,) in conn.execute(
                        "DELETE FROM ops WHERE index_id = ? AND shard = ? AND seq_no >= ?"
                        " AND seq_no < ? AND NOT EXISTS (SELECT 1 FROM docs d"
                        " WHERE d.index_id = ops.index_id AND d.doc_id = ops.doc_id"
                        " AND d.op_id = ops.op_id) RETURNING seq_no",
                        (index.id, shard, start, min(start + TRIM_SLICE, bound)),
                    )
                ]
                if gone:
                    count += len(gone)
                    highest = max(highest, max(gone))
            if not count:
                continue
            removed += count
            # History is complete from just above the highest op removed: the
            # current ops kept between there and the bound are still history.
            conn.execute(
                "UPDATE shards SET min_retained_seq_no = ? WHERE index_id = ? AND shard = ?",
                (highest + 1, index.id, shard),
            )
    return removed
