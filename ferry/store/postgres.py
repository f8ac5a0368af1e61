"""PostgresStore: the index store on PostgreSQL, shared by many machines.

The tables are described in :mod:`ferry.store._postgres_schema`; the write
transactions live in ``_postgres_write`` (leader), ``_postgres_follow``
(follower) and ``_postgres_retention`` (leases and trims), with the row writes
they share in ``_postgres_changes``; reads and snapshots in ``_postgres_read``,
which compiles queries with ``_postgres_query``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg

from ferry.errors import Unavailable
from ferry.store import _postgres_follow as follow
from ferry.store import _postgres_read as read
from ferry.store import _postgres_retention as retention
from ferry.store import _postgres_write as write
from ferry.store._postgres_schema import UNAVAILABLE, create_tables, redact
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
            except UNAVAILABLE as exc:
                raise Unavailable(f"PostgreSQL at {redact(self._url)}: {exc}") from exc
            try:
                async with pool.acquire() as conn, conn.transaction():
                    await create_tables(conn)
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
        except UNAVAILABLE as exc:
            raise Unavailable(f"PostgreSQL at {redact(self._url)}: {exc}") from exc

    # Indices ---------------------------------------------------------------

    async def create_index(self, spec: IndexSpec) -> IndexInfo:
        return await write.create_index(self._conn, spec)

    async def get_index(self, name: str) -> IndexInfo:
        return await read.get_index(self._conn, name)

    async def list_indices(self) -> list[IndexInfo]:
        return await read.list_indices(self._conn)

    async def delete_index(self, name: str) -> None:
        await write.delete_index(self._conn, name)

    async def update_schema(self, name: str, schema: Schema) -> IndexInfo:
        return await write.update_schema(self._conn, name, schema)

    async def promote(self, name: str) -> IndexInfo:
        return await follow.promote(self._conn, name)

    # Writes ----------------------------------------------------------------

    async def bulk(
        self,
        index: str,
        ops: Sequence[WriteOp],
        *,
        fence: Fence | None = None,
        stamp: Stamp | None = None,
    ) -> BulkResult:
        return await write.bulk(self._conn, index, ops, fence, stamp, self._limits)

    async def fence(self, fence: Fence) -> None:
        await write.fence(self._conn, fence)

    async def sweep(
        self, index: str, stamp: Stamp, *, fence: Fence | None = None, batch: int = 1000
    ) -> int:
        return await write.sweep(self._conn, index, stamp, fence, batch)

    # Reads -----------------------------------------------------------------

    async def get(self, index: str, doc_id: str) -> Document | None:
        return await read.get(self._conn, index, doc_id, self._limits)

    async def multi_get(self, index: str, doc_ids: Sequence[str]) -> list[Document | None]:
        return await read.multi_get(self._conn, index, doc_ids, self._limits)

    async def count(self, index: str, query: Query = MATCH_ALL) -> int:
        return await read.count(self._conn, index, query, self._limits)

    async def search(
        self,
        index: str,
        query: Query = MATCH_ALL,
        *,
        sort: Sequence[Sort] = (),
        size: int = 10,
        cursor: str = "",
    ) -> SearchPage:
        return await read.search(self._conn, index, query, sort, size, cursor, self._limits)

    # History, shards and replication -----------------------------------------

    async def shard_stats(self, index: str) -> list[ShardStats]:
        return await read.shard_stats(self._conn, index)

    async def shard_seq_nos(self, index: str, shard: int) -> ShardSeqNos:
        return await read.shard_seq_nos(self._conn, index, shard)

    async def read_operations(
        self,
        index: str,
        shard: int,
        from_seq_no: int,
        *,
        max_ops: int = 5120,
        max_bytes: int = 32 * 1024 * 1024,
    ) -> list[Operation]:
        return await read.read_operations(self._conn, index, shard, from_seq_no, max_ops, max_bytes)

    def snapshot(self, index: str, shard: int) -> AbstractAsyncContextManager[Snapshot]:
        return self._snapshot(index, shard)

    @asynccontextmanager
    async def _snapshot(self, index: str, shard: int) -> AsyncIterator[Snapshot]:
        if self._pool is None:
            raise RuntimeError("PostgresStore is not started")
        async with self._pool.acquire() as conn:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                try:
                    idx, seq_no, docs = await read.open_snapshot(conn, index, shard)
                except UNAVAILABLE as exc:
                    raise Unavailable(f"PostgreSQL at {redact(self._url)}: {exc}") from exc
                where = redact(self._url)
                yield read.PostgresSnapshot(
                    conn, where, idx.id, shard, seq_no, idx.spec.schema, docs
                )

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
        return await retention.put_retention_lease(
            self._conn, index, shard, lease_id, retaining_seq_no, ttl, source
        )

    async def remove_retention_lease(self, index: str, shard: int, lease_id: str) -> None:
        await retention.remove_retention_lease(self._conn, index, shard, lease_id)

    async def retention_leases(self, index: str) -> list[RetentionLease]:
        return await retention.retention_leases(self._conn, index)

    async def trim_history(self, index: str, *, now: float | None = None) -> int:
        return await retention.trim_history(self._conn, index, now)

    # Follower side -----------------------------------------------------------

    async def apply_operations(
        self, index: str, shard: int, ops: Sequence[Operation], *, fence: Fence | None = None
    ) -> int:
        return await follow.apply_operations(self._conn, index, shard, ops, fence)

    async def begin_bootstrap(self, index: str, shard: int, *, fence: Fence | None = None) -> None:
        await follow.begin_bootstrap(self._conn, index, shard, fence)

    async def apply_snapshot(
        self, index: str, shard: int, docs: Sequence[SnapshotDoc], *, fence: Fence | None = None
    ) -> None:
        await follow.apply_snapshot(self._conn, index, shard, docs, fence)

    async def finish_bootstrap(
        self, index: str, shard: int, seq_no: int, *, fence: Fence | None = None
    ) -> None:
        await follow.finish_bootstrap(self._conn, index, shard, seq_no, fence)
