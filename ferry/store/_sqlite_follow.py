"""The SQLite store's follower side: replicated operations and bootstrap, on the writer thread.

A follower applies leader operations by their leader seq_nos. Order does not
matter: for each document the op with the highest seq_no seen wins, whether it
is an index or a delete. Deletions above the checkpoint leave a tombstone for
that; at or below the checkpoint every op has arrived, so any op that old is
skipped as already applied and the tombstone can go.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from ferry.errors import InvalidArgument
from ferry.store._sqlite_changes import DocChanges
from ferry.store._sqlite_schema import IndexRow, load_index, text_of, transaction
from ferry.store._sqlite_write import check_fence
from ferry.store.model import NO_OPS, Fence, Operation, OpKind, SnapshotDoc, shard_for


def _follower(conn: sqlite3.Connection, name: str, shard: int, fence: Fence | None) -> IndexRow:
    """_follower loads a follower index, checks the shard and the fence (registering a
    higher token), inside the caller's write transaction."""
    index = load_index(conn, name)
    index.require_follower()
    index.check_shard(shard)
    check_fence(conn, fence)
    return index


def _check_operations(shard: int, ops: Sequence[Operation]) -> None:
    for i, op in enumerate(ops):
        if op.shard != shard:
            raise InvalidArgument.field(f"ops[{i}].shard", f"is {op.shard}, not shard {shard}")
        if not isinstance(op.seq_no, int) or op.seq_no < 0:
            raise InvalidArgument.field(f"ops[{i}].seq_no", "must be a non-negative integer")
        if op.kind is OpKind.INDEX and not isinstance(op.source, bytes):
            raise InvalidArgument.field(f"ops[{i}].source", "an index operation needs a source")


def _walk_checkpoint(conn: sqlite3.Connection, index_id: int, shard: int, checkpoint: int) -> int:
    """_walk_checkpoint moves the checkpoint up over the ops present without a gap."""
    rows = conn.execute(
        "SELECT seq_no FROM ops WHERE index_id = ? AND shard = ? AND seq_no > ? ORDER BY seq_no",
        (index_id, shard, checkpoint),
    )
    for (seq_no,) in rows:  # rows come lazily: the walk stops at the first gap
        if seq_no != checkpoint + 1:
            break
        checkpoint = seq_no
    rows.close()
    return checkpoint


def apply_operations(
    conn: sqlite3.Connection, name: str, shard: int, ops: Sequence[Operation], fence: Fence | None
) -> int:
    _check_operations(shard, ops)
    with transaction(conn, write=True):
        index = _follower(conn, name, shard, fence)
        changes = DocChanges(conn, index)
        counters = changes.shards[shard]
        fresh = {op.seq_no: op for op in ops if op.seq_no > counters.checkpoint}
        if fresh:
            for (seq_no,) in conn.execute(
                "SELECT seq_no FROM ops WHERE index_id = ? AND shard = ?"
                " AND seq_no IN (SELECT value FROM json_each(?))",
                (index.id, shard, json.dumps(list(fresh))),
            ):
                del fresh[seq_no]  # applied before
        if not fresh:
            return counters.checkpoint
        todo = sorted(fresh.values(), key=lambda op: op.seq_no)
        ids = {op.id for op in todo}
        changes.load(ids)
        tombstones: dict[str, int] = dict(
            conn.execute(
                "SELECT doc_id, seq_no FROM tombstones"
                " WHERE index_id = ? AND doc_id IN (SELECT value FROM json_each(?))",
                (index.id, json.dumps(list(ids))),
            ).fetchall()
        )
        deleted: dict[str, int] = {}
        for op in todo:
            op_id = changes.add_op(shard, op.seq_no, op.kind, op.id, op.source, op.write_time)
            was = changes.current.get(op.id)
            newest = max(was.seq_no if was else NO_OPS, tombstones.get(op.id, NO_OPS))
            if op.seq_no < newest:
                continue  # a newer op for this id is already applied: this one is history only
            if op.kind is OpKind.DELETE:
                if was is not None:
                    changes.drop(op.id)
                tombstones[op.id] = deleted[op.id] = op.seq_no
                continue
            text = ""
            if changes.text_fields:
                text = text_of(json.loads(op.source or b"{}"), changes.text_fields)
            changes.put(op.id, shard, op.seq_no, op_id, None, text)
        changes.flush()
        counters.max_seq_no = max(counters.max_seq_no, todo[-1].seq_no)
        counters.checkpoint = _walk_checkpoint(conn, index.id, shard, counters.checkpoint)
        changes.save_counters()
        _save_tombstones(conn, index.id, shard, deleted, counters.checkpoint)
        return counters.checkpoint


def _save_tombstones(
    conn: sqlite3.Connection, index_id: int, shard: int, deleted: dict[str, int], checkpoint: int
) -> None:
    conn.execute(
        "DELETE FROM tombstones WHERE index_id = ? AND shard = ? AND seq_no <= ?",
        (index_id, shard, checkpoint),
    )
    conn.executemany(
        "INSERT INTO tombstones VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE"
        " SET seq_no = max(seq_no, excluded.seq_no)",
        [(index_id, doc_id, shard, s) for doc_id, s in deleted.items() if s > checkpoint],
    )


def begin_bootstrap(conn: sqlite3.Connection, name: str, shard: int, fence: Fence | None) -> None:
    with transaction(conn, write=True):
        index = _follower(conn, name, shard, fence)
        key = (index.id, shard)
        if index.fts_table:
            conn.execute(
                f"DELETE FROM {index.fts_table} WHERE rowid IN"
                " (SELECT op_id FROM docs WHERE index_id = ? AND shard = ?)",
                key,
            )
        for table in ("docs", "ops", "tombstones"):
            conn.execute(f"DELETE FROM {table} WHERE index_id = ? AND shard = ?", key)
        conn.execute(
            "UPDATE shards SET max_seq_no = ?, checkpoint = ?, min_retained_seq_no = 0,"
            " doc_count = 0 WHERE index_id = ? AND shard = ?",
            (NO_OPS, NO_OPS, *key),
        )


def apply_snapshot(
    conn: sqlite3.Connection,
    name: str,
    shard: int,
    docs: Sequence[SnapshotDoc],
    fence: Fence | None,
) -> None:
    with transaction(conn, write=True):
        index = _follower(conn, name, shard, fence)
        for i, doc in enumerate(docs):
            if shard_for(doc.id, index.spec.shards) != shard:
                raise InvalidArgument.field(f"docs[{i}].id", f"{doc.id!r} is not in shard {shard}")
        changes = DocChanges(conn, index)
        changes.load({doc.id for doc in docs})
        for doc in docs:
            was = changes.current.get(doc.id)
            if was is not None and was.seq_no >= doc.seq_no:
                continue  # copied already (a retried batch)
            op_id = changes.add_op(
                shard, doc.seq_no, OpKind.INDEX, doc.id, doc.source, doc.write_time
            )
            text = ""
            if changes.text_fields:
                text = text_of(json.loads(doc.source), changes.text_fields)
            changes.put(doc.id, shard, doc.seq_no, op_id, None, text)
        changes.flush()
        changes.save_counters()


def finish_bootstrap(
    conn: sqlite3.Connection, name: str, shard: int, seq_no: int, fence: Fence | None
) -> None:
    with transaction(conn, write=True):
        index = _follower(conn, name, shard, fence)
        [highest] = conn.execute(
            "SELECT coalesce(max(seq_no), ?) FROM ops WHERE index_id = ? AND shard = ?",
            (NO_OPS, index.id, shard),
        ).fetchone()
        checkpoint = _walk_checkpoint(conn, index.id, shard, seq_no)
        # History at and below the snapshot's seq_no holds only the copied
        # documents' ops: incomplete, so nobody may read it as history.
        conn.execute(
            "UPDATE shards SET checkpoint = ?, max_seq_no = ?, min_retained_seq_no = ?"
            " WHERE index_id = ? AND shard = ?",
            (checkpoint, max(seq_no, highest, checkpoint), seq_no + 1, index.id, shard),
        )
