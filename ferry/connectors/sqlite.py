"""The SQLite source: tables or a query of a database file, read-only.

See :mod:`ferry.connectors.sql` for the scan and its cursors. This module is
the dialect: the stdlib ``sqlite3`` on a ``file:...?mode=ro`` URI with
``query_only`` on, every call run in a thread so the event loop never blocks.
Values come back as SQLite stores them (integers, reals, text, blobs); a
boolean ``soft_delete_column`` holds 0 or 1.
"""

from __future__ import annotations

import asyncio
import sqlite3
import zlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote as url_quote

from ferry.connectors.sdk import ConfigSchema, Field, FieldType, path_violations
from ferry.connectors.sql import COMMON_FIELDS, Column, Reader, SqlSource, Target, quote
from ferry.errors import FailedPrecondition, FieldViolation, Unavailable

BUSY_TIMEOUT = 10.0
PARTITION_FUNCTION = "ferry_partition"

SCHEMA = ConfigSchema(
    (
        Field(name="path", type=FieldType.STRING, required=True,
              description="Absolute path of the database file, opened read-only."),
        *COMMON_FIELDS,
    )
)  # fmt: skip


def _partition(value: Any, parts: int) -> int:
    """_partition buckets any SQLite value: integers modulo parts, others by CRC-32."""
    if isinstance(value, int):
        return value % parts
    if value is None:
        return -1
    data = value if isinstance(value, bytes) else repr(value).encode()
    return zlib.crc32(data) % parts


def _open(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(
        f"file:{url_quote(path)}?mode=ro", uri=True, timeout=BUSY_TIMEOUT, check_same_thread=False
    )
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA query_only = 1")
        conn.create_function(PARTITION_FUNCTION, 2, _partition, deterministic=True)
        # Opening is lazy: read the schema now, so a missing or foreign file fails here.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
    except BaseException:
        conn.close()
        raise
    return conn


class SqliteReader(Reader):
    """SqliteReader is one read-only sqlite3 connection, used from worker threads in turn."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def param(self, n: int) -> str:
        return "?"

    def partition_filter(self, column: Column, part: int, parts: int) -> str:
        return f"{PARTITION_FUNCTION}(q.{quote(column.name)}, {parts}) = {part}"

    async def columns(self, target: Target) -> list[Column]:
        def read() -> list[Column]:
            cursor = self.conn.execute(f"SELECT * FROM {target.relation} AS q LIMIT 0")
            return [Column(d[0], integer=False) for d in cursor.description]

        try:
            return await asyncio.to_thread(read)
        except sqlite3.Error as exc:
            raise FailedPrecondition(
                f"{target.field}: cannot read {target.label}: {exc}", subject=target.field
            ) from None

    async def primary_key(self, target: Target) -> list[str]:
        schema, _, table = target.label.rpartition(".")
        pragma = (
            f"{quote(schema)}.table_info({quote(table)})"
            if schema
            else (f"table_info({quote(table)})")
        )

        def read() -> list[str]:
            rows = self.conn.execute(f"PRAGMA {pragma}").fetchall()
            return [row["name"] for row in sorted(rows, key=lambda r: r["pk"]) if row["pk"]]

        return await asyncio.to_thread(read)

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            return [dict(row) for row in self.conn.execute(sql, list(params)).fetchall()]

        return await asyncio.to_thread(read)

    async def close(self) -> None:
        await asyncio.to_thread(self.conn.close)


class SqliteSource(SqlSource):
    """SqliteSource reads SQLite tables or a query (see :mod:`ferry.connectors.sql`)."""

    name = "sqlite"
    description = "SQLite tables or a query; FULL by keyset pages, INCREMENTAL by a cursor column."
    schema = SCHEMA

    @classmethod
    def validate(cls, config: Mapping[str, Any]) -> list[FieldViolation]:
        return path_violations(config) + super().validate(config)

    async def _connect(self) -> sqlite3.Connection:
        path = self.config["path"]
        try:
            return await asyncio.to_thread(_open, path)
        except sqlite3.Error as exc:
            raise Unavailable(f"cannot open SQLite database {path} read-only: {exc}") from None

    async def open_reader(self) -> Reader:
        return SqliteReader(await self._connect())

    async def ping(self) -> None:
        conn = await self._connect()
        await asyncio.to_thread(conn.close)
