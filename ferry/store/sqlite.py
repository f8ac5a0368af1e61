"""SqliteStore: the embedded index store, one SQLite file in WAL mode.

Threads: one writer thread owns the only write connection, so this process's
writes queue there and each runs in ``BEGIN IMMEDIATE ... COMMIT`` (SQLite's
write lock then orders them against other processes on the same file).
Reads run on a small pool of reader threads, each with its own connection;
WAL lets them read while a write is in progress. The event loop only awaits.

The tables are described in :mod:`ferry.store._sqlite_schema`; the write
transactions live in ``_sqlite_write`` (leader) and ``_sqlite_follow``
(follower), reads and snapshots in ``_sqlite_read``.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from ferry.errors import FailedPrecondition, InvalidArgument, Unavailable
from ferry.store import _sqlite_follow as follow
from ferry.store import _sqlite_read as read
from ferry.store import _sqlite_write as write
from ferry.store._sqlite_schema import (
    READER_CACHE_KIB,
    WRITER_CACHE_KIB,
    IndexRow,
    connect,
    create_tables,
    list_indices,
    load_index,
    transaction,
)
from ferry.store.common import DEFAULT_LIMITS, Limits
from ferry.store.model import (
    DEFAULT_RETENTION,
    BulkResult,
    Document,
    Fence,
    IndexInfo,
    IndexSpec,
    Operation,
    Query,
    RetentionLease,
    Schema,
    SearchPage,
    ShardSeqNos,
    ShardStats,
    SnapshotDoc,
    Sort,
    Stamp,
    WriteOp,
)
from ferry.store.store import MATCH_ALL, Snapshot, Store

T = TypeVar("T")

READER_THREADS = 4
"""READER_THREADS bounds concurrent reads (and reader connections) per store instance."""


@contextmanager
def _unavailable_when_locked(path: str) -> Iterator[None]:
    """_unavailable_when_locked turns "another process held the lock too long" into a
    retriable Unavailable."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        message = str(exc)
        if "locked" in message or "busy" in message:
            raise Unavailable(f"sqlite store {path}: {message}") from exc
        raise


class SqliteStore(Store):
    """SqliteStore keeps indices in one SQLite file.

    Several processes may open the same file (``ferry up`` runs the
    coordinator, agent and replicator on one): seq_nos stay dense because
    every write transaction takes the file's write lock before reading the
    counters. A write waits up to ``BUSY_TIMEOUT_S`` for that lock, then
    fails with Unavailable. Parent directories of ``path`` are created.
    """

    def __init__(self, path: str, *, limits: Limits = DEFAULT_LIMITS) -> None:
        self.path = path
        self.limits = limits
        self._starting = asyncio.Lock()
        self._writer: ThreadPoolExecutor | None = None
        self._write_conn: sqlite3.Connection | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._idle_readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()

    # Lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        async with self._starting:
            if self._writer is not None:
                return
            writer = ThreadPoolExecutor(1, thread_name_prefix="ferry-sqlite-writer")
            try:
                loop = asyncio.get_running_loop()
                self._write_conn = await loop.run_in_executor(writer, self._open_writer)
            except BaseException:
                writer.shutdown(wait=False)
                raise
            self._writer = writer
            self._readers = ThreadPoolExecutor(
                READER_THREADS, thread_name_prefix="ferry-sqlite-reader"
            )

    def _open_writer(self) -> sqlite3.Connection:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = connect(self.path, cache_kib=WRITER_CACHE_KIB)
        try:
            with _unavailable_when_locked(self.path):
                create_tables(conn, self.path)
        except BaseException:
            conn.close()
            raise
        return conn

    async def stop(self) -> None:
        async with self._starting:
            writer, readers = self._writer, self._readers
            if writer is None or readers is None:
                return
            self._writer = self._readers = None
            # Waits for queued writes and reads to finish, then closes their connections.
            await asyncio.to_thread(self._close, writer, readers)

    def _close(self, writer: ThreadPoolExecutor, readers: ThreadPoolExecutor) -> None:
        writer.shutdown(wait=True)
        readers.shutdown(wait=True)
        if self._write_conn is not None:
            self._write_conn.close()
            self._write_conn = None
        with self._reader_lock:
            conns, self._reader_conns = self._reader_conns, []
        for conn in conns:
            conn.close()
        self._idle_readers = queue.SimpleQueue()

    # Running on the writer and reader threads ----------------------------------

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        """_write runs fn(write_connection, *args) on the writer thread."""
        writer, conn = self._writer, self._write_conn
        if writer is None or conn is None:
            raise FailedPrecondition(f"sqlite store {self.path} is not started")
        return await asyncio.get_running_loop().run_in_executor(writer, self._call, fn, conn, *args)

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        with _unavailable_when_locked(self.path):
            return fn(*args)

    async def _on_reader(self, fn: Callable[..., T], *args: Any) -> T:
        """_on_reader runs fn(*args) on a reader thread."""
        readers = self._readers
        if readers is None:
            raise FailedPrecondition(f"sqlite store {self.path} is not started")
        return await asyncio.get_running_loop().run_in_executor(readers, self._call, fn, *args)

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """_read runs fn(reader_connection, *args) in one read transaction."""
        return await self._on_reader(self._read_now, fn, *args)

    def _read_now(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            conn = self._idle_readers.get_nowait()
        except queue.Empty:
            conn = self._open_reader()
        try:
            # One transaction, so a read of several statements sees one state.
            with transaction(conn, write=False):
                return fn(conn, *args)
        finally:
            self._idle_readers.put(conn)

    def _open_reader(self) -> sqlite3.Connection:
        conn = connect(self.path, cache_kib=READER_CACHE_KIB)
        conn.execute("PRAGMA query_only = ON")
        with self._reader_lock:
            self._reader_conns.append(conn)
        return conn

    # Indices -------------------------------------------------------------------

    async def create_index(self, spec: IndexSpec) -> IndexInfo:
        return await self._write(write.create_index, spec)

    async def get_index(self, name: str) -> IndexInfo:
        index: IndexRow = await self._read(load_index, name)
        return index.info

    async def list_indices(self) -> list[IndexInfo]:
        return await self._read(list_indices)

    async def delete_index(self, name: str) -> None:
        await self._write(write.delete_index, name)

    async def update_schema(self, name: str, schema: Schema) -> IndexInfo:
        return await self._write(write.update_schema, name, schema)

    async def promote(self, name: str) -> IndexInfo:
        return await self._write(write.promote, name)

    # Writes --------------------------------------------------------------------

    async def bulk(
        self,
        index: str,
        ops: Sequence[WriteOp],
        *,
        fence: Fence | None = None,
        stamp: Stamp | None = None,
    ) -> BulkResult:
        prepared = await self._read(write.prepare, index, ops, stamp, self.limits)
        return await self._write(write.bulk, index, ops, prepared, fence, stamp, self.limits)

    async def fence(self, fence: Fence) -> None:
        await self._write(write.fence, fence)

    async def sweep(
        self, index: str, stamp: Stamp, *, fence: Fence | None = None, batch: int = 1000
    ) -> int:
        if not isinstance(batch, int) or batch < 1:
            raise InvalidArgument.field("batch", "must be at least 1")
        deleted, after_id = 0, ""
        while True:
            # One transaction per batch: other writers get the lock in between.
            count, after_id = await self._write(
                write.sweep_batch, index, stamp, fence, after_id, batch
            )
            deleted += count
            if count < batch:
                return deleted

    # Reads ---------------------------------------------------------------------

    async def get(self, index: str, doc_id: str) -> Document | None:
        [doc] = await self._read(read.get_many, index, [doc_id], "doc_id", self.limits)
        return doc

    async def multi_get(self, index: str, doc_ids: Sequence[str]) -> list[Document | None]:
        return await self._read(read.get_many, index, doc_ids, "doc_ids[{i}]", self.limits)

    async def count(self, index: str, query: Query = MATCH_ALL) -> int:
        return await self._read(read.count, index, query, self.limits)

    async def search(
        self,
        index: str,
        query: Query = MATCH_ALL,
        *,
        sort: Sequence[Sort] = (),
        size: int = 10,
        cursor: str = "",
    ) -> SearchPage:
        return await self._read(read.search, index, query, sort, size, cursor, self.limits)

    # History, shards and replication -------------------------------------------

    async def shard_stats(self, index: str) -> list[ShardStats]:
        return await self._read(read.shard_stats, index)

    async def shard_seq_nos(self, index: str, shard: int) -> ShardSeqNos:
        return await self._read(read.shard_seq_nos, index, shard)

    async def read_operations(
        self,
        index: str,
        shard: int,
        from_seq_no: int,
        *,
        max_ops: int = 5120,
        max_bytes: int = 32 * 1024 * 1024,
    ) -> list[Operation]:
        return await self._read(read.read_operations, index, shard, from_seq_no, max_ops, max_bytes)

    def snapshot(self, index: str, shard: int) -> AbstractAsyncContextManager[Snapshot]:
        return self._snapshot(index, shard)

    @asynccontextmanager
    async def _snapshot(self, index: str, shard: int) -> AsyncIterator[Snapshot]:
        conn, row, seq_no, docs = await self._on_reader(self._open_snapshot, index, shard)
        snapshot = _SqliteSnapshot(self, conn, row, shard, seq_no, docs)
        try:
            yield snapshot
        finally:
            await snapshot.settle()
            await asyncio.to_thread(_close_snapshot, conn)

    def _open_snapshot(
        self, index: str, shard: int
    ) -> tuple[sqlite3.Connection, IndexRow, int, int]:
        # A connection of its own, holding one read transaction for the snapshot's life.
        conn = connect(self.path, cache_kib=READER_CACHE_KIB)
        try:
            conn.execute("BEGIN")
            row, seq_no, docs = read.open_snapshot(conn, index, shard)
        except BaseException:
            conn.close()
            raise
        return conn, row, seq_no, docs

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
        return await self._write(
            write.put_retention_lease, index, shard, lease_id, retaining_seq_no, ttl, source
        )

    async def remove_retention_lease(self, index: str, shard: int, lease_id: str) -> None:
        await self._write(write.remove_retention_lease, index, shard, lease_id)

    async def retention_leases(self, index: str) -> list[RetentionLease]:
        return await self._read(read.retention_leases, index)

    async def trim_history(self, index: str, *, now: float | None = None) -> int:
        return await self._write(write.trim_history, index, time.time() if now is None else now)

    # Follower side -------------------------------------------------------------

    async def apply_operations(
        self, index: str, shard: int, ops: Sequence[Operation], *, fence: Fence | None = None
    ) -> int:
        return await self._write(follow.apply_operations, index, shard, ops, fence)

    async def begin_bootstrap(self, index: str, shard: int, *, fence: Fence | None = None) -> None:
        await self._write(follow.begin_bootstrap, index, shard, fence)

    async def apply_snapshot(
        self, index: str, shard: int, docs: Sequence[SnapshotDoc], *, fence: Fence | None = None
    ) -> None:
        await self._write(follow.apply_snapshot, index, shard, docs, fence)

    async def finish_bootstrap(
        self, index: str, shard: int, seq_no: int, *, fence: Fence | None = None
    ) -> None:
        await self._write(follow.finish_bootstrap, index, shard, seq_no, fence)


def _close_snapshot(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    finally:
        conn.close()


class _SqliteSnapshot(Snapshot):
    """_SqliteSnapshot reads a shard through a connection held in one read transaction.

    While it is open, SQLite cannot checkpoint the WAL past it, so the WAL
    file grows with the writes made meanwhile: keep snapshots short-lived.
    """

    def __init__(
        self,
        store: SqliteStore,
        conn: sqlite3.Connection,
        index: IndexRow,
        shard: int,
        seq_no: int,
        docs: int,
    ) -> None:
        self.seq_no = seq_no
        self.schema = index.spec.schema
        self.docs = docs
        self._store = store
        self._conn = conn
        self._index_id = index.id
        self._shard = shard
        self._reading: asyncio.Future[list[SnapshotDoc]] | None = None

    async def batches(self, size: int = 1000) -> AsyncIterator[list[SnapshotDoc]]:
        if not isinstance(size, int) or size < 1:
            raise InvalidArgument.field("size", "must be at least 1")
        after_id = ""  # below every id: ids are never empty
        while True:
            self._reading = asyncio.ensure_future(
                self._store._on_reader(
                    read.snapshot_batch, self._conn, self._index_id, self._shard, after_id, size
                )
            )
            batch = await asyncio.shield(self._reading)
            if batch:
                yield batch
            if len(batch) < size:
                return
            after_id = batch[-1].id

    async def settle(self) -> None:
        """settle waits for a batch read its cancelled consumer left running on a reader
        thread: closing the connection under a running query crashes the process."""
        if self._reading is not None:
            await asyncio.wait([self._reading])
