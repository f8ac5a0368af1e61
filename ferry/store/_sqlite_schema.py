"""The SQLite store's tables, connection settings, transactions and index rows.

Layout (integer index ids keep the big tables' keys short):

- ``indices``: one row per index; the schema and leader info as JSON.
- ``shards``: per-shard counters, written once per transaction, not per op.
- ``ops``: the history. A rowid table, so ~1 KB sources sit inline in the
  leaf pages (a WITHOUT ROWID row that large spills into an overflow page of
  its own); ``ops_by_seq_no`` is its key. The source of a document lives
  only here, in the document's current op.
- ``docs``: id → current op, plus the stamp (scope, generation) of the last
  write. WITHOUT ROWID: small rows, one B-tree.
- ``tombstones``: follower only, deletions above the follower checkpoint, so
  an older op arriving late cannot bring a deleted document back.
- ``fences``, ``leases``: fencing tokens and retention leases.
- ``fts_<index id>``: an FTS5 table for indices with text fields; its rowid
  is the op_id of the document's current op.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ferry.errors import FailedPrecondition, InvalidArgument, NotFound
from ferry.store.common import field_value
from ferry.store.model import (
    FieldKind,
    IndexInfo,
    IndexSpec,
    LeaderInfo,
    OpKind,
    Schema,
)
from ferry.store.store import FollowerIndex

SCHEMA_VERSION = 1
"""SCHEMA_VERSION is kept in ``PRAGMA user_version``; a file from a newer Ferry is refused."""

BUSY_TIMEOUT_S = 60.0
"""How long a transaction waits for another process's write lock before giving up."""

# Page caches: the writer's holds the B-tree pages bulk writes keep touching; readers
# need less. Bounded, since every process sharing the file has its own.
WRITER_CACHE_KIB = 32 * 1024
READER_CACHE_KIB = 4 * 1024

WAL_AUTOCHECKPOINT_PAGES = 8000
"""A checkpoint runs when the WAL reaches this many pages (~32 MB; SQLite's default is 1000)."""
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024
"""After a checkpoint the WAL file is truncated back to this size."""

OP_KINDS = {OpKind.INDEX: 0, OpKind.DELETE: 1}
KIND_OF = {code: kind for kind, code in OP_KINDS.items()}

_TABLES = [
    """CREATE TABLE IF NOT EXISTS indices (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        shards INTEGER NOT NULL,
        schema_fields TEXT NOT NULL,
        schema_version INTEGER NOT NULL,
        leader TEXT,
        created_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS shards (
        index_id INTEGER NOT NULL,
        shard INTEGER NOT NULL,
        max_seq_no INTEGER NOT NULL,
        checkpoint INTEGER NOT NULL,
        min_retained_seq_no INTEGER NOT NULL,
        doc_count INTEGER NOT NULL,
        PRIMARY KEY (index_id, shard)
    ) WITHOUT ROWID""",
    # source last: reading the other columns never touches a large source.
    """CREATE TABLE IF NOT EXISTS ops (
        op_id INTEGER PRIMARY KEY,
        index_id INTEGER NOT NULL,
        shard INTEGER NOT NULL,
        seq_no INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        doc_id TEXT NOT NULL,
        write_time REAL NOT NULL,
        source TEXT
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS ops_by_seq_no ON ops (index_id, shard, seq_no)",
    """CREATE TABLE IF NOT EXISTS docs (
        index_id INTEGER NOT NULL,
        doc_id TEXT NOT NULL,
        shard INTEGER NOT NULL,
        seq_no INTEGER NOT NULL,
        op_id INTEGER NOT NULL,
        scope TEXT,
        generation INTEGER,
        PRIMARY KEY (index_id, doc_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS tombstones (
        index_id INTEGER NOT NULL,
        doc_id TEXT NOT NULL,
        shard INTEGER NOT NULL,
        seq_no INTEGER NOT NULL,
        PRIMARY KEY (index_id, doc_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS fences (
        scope TEXT PRIMARY KEY,
        token INTEGER NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS leases (
        index_id INTEGER NOT NULL,
        shard INTEGER NOT NULL,
        lease_id TEXT NOT NULL,
        retaining_seq_no INTEGER NOT NULL,
        expires_at REAL NOT NULL,
        source TEXT NOT NULL,
        PRIMARY KEY (index_id, shard, lease_id)
    ) WITHOUT ROWID""",
]


def connect(path: str, *, cache_kib: int) -> sqlite3.Connection:
    """connect opens a connection in autocommit mode: transactions are begun explicitly.

    ``check_same_thread`` is off because connections are pooled across reader
    threads; each is still used by one thread at a time.
    """
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    # WAL with synchronous=NORMAL does not fsync on commit, only at checkpoints:
    # a committed transaction survives the process being killed (the WAL is in
    # the OS page cache), and may be lost only if the machine itself loses power.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(f"PRAGMA cache_size = -{cache_kib}")
    conn.execute("PRAGMA temp_store = MEMORY")
    # Checkpoint every ~32 MB of WAL rather than SQLite's 4 MB: each checkpoint
    # costs two fsyncs, which under load cost bulk writes more than the copying.
    conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
    conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}")
    return conn


def create_tables(conn: sqlite3.Connection, path: str) -> None:
    """create_tables switches the file to WAL and creates the tables; idempotent."""
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise FailedPrecondition(
            f"sqlite store {path}: cannot switch to WAL mode (got {mode!r}); "
            "the file system may not support shared memory",
            subject=path,
        )
    with transaction(conn, write=True):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise FailedPrecondition(
                f"sqlite store {path} has schema version {version}; "
                f"this Ferry knows up to {SCHEMA_VERSION}",
                subject=path,
            )
        if version == SCHEMA_VERSION:
            return
        for ddl in _TABLES:
            conn.execute(ddl)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


@contextmanager
def transaction(conn: sqlite3.Connection, *, write: bool) -> Iterator[sqlite3.Connection]:
    """transaction wraps a block in one transaction; rolled back on any exception.

    Writes use BEGIN IMMEDIATE: the write lock is taken up front, so two
    processes never both read a shard's max_seq_no and then race to use it.
    """
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


# Index rows ----------------------------------------------------------------------


@dataclass(frozen=True)
class IndexRow:
    """IndexRow is a stored index with its integer id, used as the key in every other table."""

    id: int
    info: IndexInfo

    @property
    def spec(self) -> IndexSpec:
        return self.info.spec

    @property
    def name(self) -> str:
        return self.info.spec.name

    @property
    def fts_table(self) -> str | None:
        """fts_table names the index's full-text table; None when it has no text fields."""
        return f"fts_{self.id}" if self.spec.schema.text_fields() else None

    def check_shard(self, shard: int, where: str = "shard") -> None:
        if not isinstance(shard, int) or not 0 <= shard < self.spec.shards:
            raise InvalidArgument.field(
                where, f"index {self.name!r} has shards 0..{self.spec.shards - 1}, not {shard!r}"
            )

    def refuse_follower(self) -> None:
        if self.spec.follower:
            raise FollowerIndex(self.name)

    def require_follower(self) -> None:
        if not self.spec.follower:
            raise FailedPrecondition(
                f"index {self.name!r} is not a follower: it takes no replicated operations",
                type="NOT_FOLLOWER",
                subject=f"index/{self.name}",
            )


_INDEX_COLUMNS = "id, name, shards, schema_fields, schema_version, leader, created_at"


def _index_row(row: tuple[Any, ...]) -> IndexRow:
    index_id, name, shards, fields, version, leader, created_at = row
    schema = Schema({path: FieldKind(kind) for path, kind in json.loads(fields).items()}, version)
    leader_info = LeaderInfo(**json.loads(leader)) if leader else None
    return IndexRow(index_id, IndexInfo(IndexSpec(name, shards, schema, leader_info), created_at))


def load_index(conn: sqlite3.Connection, name: str) -> IndexRow:
    """load_index reads an index by name; NotFound if absent."""
    row = conn.execute(f"SELECT {_INDEX_COLUMNS} FROM indices WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NotFound("index", name)
    return _index_row(row)


def list_indices(conn: sqlite3.Connection) -> list[IndexInfo]:
    rows = conn.execute(f"SELECT {_INDEX_COLUMNS} FROM indices ORDER BY name").fetchall()
    return [_index_row(row).info for row in rows]


def schema_json(schema: Schema) -> str:
    return json.dumps({path: str(kind) for path, kind in sorted(schema.fields.items())})


def leader_json(leader: LeaderInfo | None) -> str | None:
    if leader is None:
        return None
    return json.dumps(
        {"remote_cluster": leader.remote_cluster, "leader_index": leader.leader_index}
    )


# Full text -----------------------------------------------------------------------


def create_fts(conn: sqlite3.Connection, table: str) -> None:
    conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING fts5(body)")


def text_of(source: Any, fields: list[str]) -> str:
    """text_of joins a document's text field values: what its full-text row holds."""
    if not isinstance(source, dict):
        return ""
    return "\n".join(v for f in fields if isinstance(v := field_value(source, f), str))
