"""The PostgreSQL source: tables or a query, FULL by keyset pages, INCREMENTAL by a cursor column.

See :mod:`ferry.connectors.sql` for the scan and its cursors. This module is
the dialect: an asyncpg connection whose session is read-only
(``default_transaction_read_only``, so every page runs in a READ ONLY
transaction of its own), bounded by a statement timeout, with json and jsonb
decoded to JSON values. Give the source a role that may only read, all the
same: the ``where`` rule and the query are SQL the database runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg

from ferry import secrets
from ferry.connectors.sdk import ConfigSchema, Field, FieldType
from ferry.connectors.sql import COMMON_FIELDS, Column, Reader, SqlSource, Target, quote
from ferry.errors import FailedPrecondition, FieldViolation, Unavailable

CONNECT_TIMEOUT = 10.0
IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000
INTEGER_TYPES = frozenset({"int2", "int4", "int8"})

SCHEMA = ConfigSchema(
    (
        Field(name="dsn", type=FieldType.STRING, required=True,
              description="postgresql://user@host:port/database (?host=/socket/dir for a Unix "
                          "socket), without a password: that goes in password."),
        Field(name="password", type=FieldType.STRING, secret=True,
              description="The user's password, as a ${env:NAME} or ${file:PATH} reference "
                          "resolved on the agent."),
        *COMMON_FIELDS,
        Field(name="statement_timeout_seconds", type=FieldType.NUMBER, default=300, minimum=1,
              maximum=86_400, description="The longest one page's query may run."),
    )
)  # fmt: skip


class PostgresReader(Reader):
    """PostgresReader is one read-only asyncpg connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    def param(self, n: int) -> str:
        return f"${n}"

    def partition_filter(self, column: Column, part: int, parts: int) -> str:
        name = f"q.{quote(column.name)}"
        if column.integer:
            return f"abs(mod({name}, {parts})) = {part}"
        # md5, not hashtext: its value never changes across PostgreSQL versions.
        digest = f"('x' || left(md5({name}::text), 8))::bit(32)::int"
        return f"abs({digest}::bigint) % {parts} = {part}"

    async def columns(self, target: Target) -> list[Column]:
        try:
            statement = await self.conn.prepare(f"SELECT * FROM {target.relation} AS q")
        except asyncpg.PostgresError as exc:
            raise FailedPrecondition(
                f"{target.field}: cannot read {target.label}: {exc}", subject=target.field
            ) from None
        return [
            Column(a.name, a.type.schema == "pg_catalog" and a.type.name in INTEGER_TYPES)
            for a in statement.get_attributes()
        ]

    async def primary_key(self, target: Target) -> list[str]:
        rows = await self.conn.fetch(
            "SELECT a.attname FROM pg_index i"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            " WHERE i.indrelid = $1::regclass AND i.indisprimary"
            " ORDER BY array_position(i.indkey::int2[], a.attnum)",
            quote(target.label, dotted=True),
        )
        return [row["attname"] for row in rows]

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        return [dict(row) for row in await self.conn.fetch(sql, *params)]

    async def close(self) -> None:
        if not self.conn.is_closed():
            await self.conn.close()


class PostgresSource(SqlSource):
    """PostgresSource reads PostgreSQL tables or a query (see :mod:`ferry.connectors.sql`)."""

    name = "postgresql"
    description = "PostgreSQL tables or a query: FULL by keyset pages, INCREMENTAL by a cursor."
    schema = SCHEMA

    @classmethod
    def validate(cls, config: Mapping[str, Any]) -> list[FieldViolation]:
        return dsn_errors(config.get("dsn", "")) + super().validate(config)

    async def _connect(self) -> asyncpg.Connection:
        config = {**self.schema.defaults, **self.config}
        timeout_ms = int(float(config["statement_timeout_seconds"]) * 1000)
        try:
            conn = await asyncpg.connect(
                self.config["dsn"],
                password=self.config.get("password"),
                timeout=CONNECT_TIMEOUT,
                server_settings={
                    "application_name": "ferry",
                    "default_transaction_read_only": "on",
                    "statement_timeout": str(timeout_ms),
                    "idle_in_transaction_session_timeout": str(IDLE_IN_TRANSACTION_TIMEOUT_MS),
                },
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise Unavailable(
                f"cannot connect to PostgreSQL at {self.config['dsn']}: {type(exc).__name__}: {exc}"
            ) from None
        for type_name in ("json", "jsonb"):
            await conn.set_type_codec(
                type_name, schema="pg_catalog", encoder=json.dumps, decoder=json.loads
            )
        return conn

    async def open_reader(self) -> Reader:
        return PostgresReader(await self._connect())

    async def ping(self) -> None:
        conn = await self._connect()
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()


def dsn_errors(dsn: str) -> list[FieldViolation]:
    """dsn_errors checks that dsn is a postgresql:// URL that holds no password.

    A DSN that is (or holds) a reference is resolved on the agent: a password
    in the referenced value is as secret as config.password.
    """
    if secrets.has_reference(dsn):
        return []
    try:
        parts = urlsplit(dsn)
        password = parts.password
    except ValueError as exc:
        return [FieldViolation("config.dsn", f"is not a URL: {exc}")]
    if parts.scheme not in ("postgresql", "postgres"):
        return [FieldViolation("config.dsn", "must be a postgresql://user@host:port/database URL")]
    if password or any(k.lower() == "password" for k in parse_qs(parts.query)):
        return [
            FieldViolation(
                "config.dsn",
                "holds a password: remove it and set config.password to a ${env:NAME} or "
                "${file:PATH} reference instead (a DSN is shown by the API; a secret is not)",
            )
        ]
    return []
