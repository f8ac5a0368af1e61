"""The SQL sources end to end: a real coordinator and agent sync PostgreSQL and SQLite tables
into the index, which must match the table row by row after every sync."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from google.protobuf import struct_pb2

from ferry.store import open_store
from ferry.store.embedded_postgres import EmbeddedPostgres
from ferry.v1 import connectors_pb2, jobs_pb2
from tests.sync.support import SyncCluster, bad_fields

FULL, INCREMENTAL = jobs_pb2.JOB_KIND_FULL, jobs_pb2.JOB_KIND_INCREMENTAL

ORDERS = """
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer text NOT NULL,
    amount numeric(12, 2) NOT NULL,
    note text,
    tags text[],
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted boolean NOT NULL DEFAULT false
);
INSERT INTO orders (id, customer, amount, note, tags, created_at, updated_at)
SELECT i,
       'customer ' || (i % 97),
       round((i * 7.31) % 1000, 2),
       CASE WHEN i % 5 = 0 THEN NULL ELSE 'note ' || i END,
       CASE WHEN i % 3 = 0 THEN ARRAY['gift', 'express'] END,
       timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute',
       timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute' + interval '1.5 seconds'
FROM generate_series(1, {rows}) AS i;
"""


class Postgres:
    """Postgres is one scratch database the test changes between syncs."""

    def __init__(self, url: str) -> None:
        self.url = url

    def execute(self, sql: str) -> None:
        async def run() -> None:
            conn = await asyncpg.connect(self.url)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(run())

    def documents(self, where: str = "true") -> dict[str, dict[str, Any]]:
        """documents is what the index must hold: every live row, as JSON written out by hand."""

        async def run() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(self.url)
            try:
                return list(
                    await conn.fetch(f"SELECT * FROM orders WHERE NOT deleted AND ({where})")
                )
            finally:
                await conn.close()

        return {
            str(row["id"]): {
                "id": row["id"],
                "customer": row["customer"],
                "amount": float(row["amount"]),
                "note": row["note"],
                "tags": row["tags"],
                "created_at": row["created_at"].isoformat(),
                "updated_at": row["updated_at"].isoformat(),
                "deleted": False,
            }
            for row in asyncio.run(run())
        }


@pytest.fixture
def postgres(postgres_server: EmbeddedPostgres) -> Iterator[Postgres]:
    name = f"orders_{uuid.uuid4().hex[:12]}"
    yield Postgres(postgres_server.create_database(name))
    postgres_server.drop_database(name)


def assert_index_matches(cluster: SyncCluster, index: str, rows: dict[str, dict[str, Any]]) -> None:
    """assert_index_matches checks the index holds exactly rows: count, then each by id."""

    async def compare() -> None:
        async with open_store(cluster.store_url) as store:
            count = await store.count(index)
            assert count == len(rows), f"index has {count} documents, the table {len(rows)}"
            ids = sorted(rows)
            for start in range(0, len(ids), 1000):
                chunk = ids[start : start + 1000]
                for doc_id, doc in zip(chunk, await store.multi_get(index, chunk), strict=True):
                    assert doc is not None, f"row {doc_id} is missing from the index"
                    assert doc.source == rows[doc_id], f"row {doc_id} differs"

    asyncio.run(compare())


def test_postgres_full_then_incremental_follows_inserts_updates_and_deletes(
    cluster: SyncCluster, postgres: Postgres
) -> None:
    postgres.execute(ORDERS.format(rows=3000))
    cluster.agent()
    config = {
        "dsn": postgres.url,
        "tables": ["orders"],
        "cursor_column": "updated_at",
        "soft_delete_column": "deleted",
        "page_size": 500,
    }
    cluster.create("orders", "postgresql", config)

    full = cluster.sync_and_wait("orders", FULL)
    assert full.counters.docs_indexed == 3000
    assert_index_matches(cluster, "orders", postgres.documents())

    # Inserts and updates: the INCREMENTAL reads only those rows.
    postgres.execute(
        "INSERT INTO orders (id, customer, amount, note, created_at, updated_at)"
        " SELECT i, 'new customer', 12.5, NULL, clock_timestamp(), clock_timestamp()"
        " FROM generate_series(3001, 3200) AS i;"
        " UPDATE orders SET note = 'updated', amount = amount + 1, tags = ARRAY['changed'],"
        " updated_at = clock_timestamp() WHERE id % 10 = 0 AND id <= 3000;"
    )
    incremental = cluster.sync_and_wait("orders", INCREMENTAL)
    assert incremental.counters.docs_seen == 500  # 200 inserted, 300 updated, none re-read
    assert_index_matches(cluster, "orders", postgres.documents())

    # Hard deletes: a FULL sync's sweep removes the rows it did not see again.
    postgres.execute("DELETE FROM orders WHERE id BETWEEN 101 AND 200")
    cluster.sync_and_wait("orders", FULL)
    assert_index_matches(cluster, "orders", postgres.documents())
    assert len(postgres.documents()) == 3100

    # Soft deletes: the INCREMENTAL deletes the documents of rows flagged deleted.
    postgres.execute(
        "UPDATE orders SET deleted = true, updated_at = clock_timestamp()"
        " WHERE id BETWEEN 1001 AND 1050"
    )
    soft = cluster.sync_and_wait("orders", INCREMENTAL)
    assert soft.counters.docs_deleted == 50
    assert_index_matches(cluster, "orders", postgres.documents())
    assert len(postgres.documents()) == 3050


def test_postgres_partitions_and_where_rule(cluster: SyncCluster, postgres: Postgres) -> None:
    postgres.execute(ORDERS.format(rows=2000))
    cluster.agent()
    config = {"dsn": postgres.url, "tables": ["orders"], "page_size": 300}

    cluster.create("split", "postgresql", config, tasks_max=3)
    job = cluster.sync_and_wait("split", FULL)
    tasks = [t for t in job.tasks if not t.sweep]
    assert sorted(t.partition for t in tasks) == [f"table-orders-part-{i}-of-3" for i in range(3)]
    assert all(t.counters.docs_seen > 400 for t in tasks), [t.counters for t in tasks]
    assert sum(t.counters.docs_seen for t in tasks) == 2000  # each row read by one task
    assert_index_matches(cluster, "split", postgres.documents())

    where = "amount > 500 AND note IS NOT NULL"
    advanced = struct_pb2.Struct()
    advanced.update({"where": where})
    rules = connectors_pb2.SyncRules(advanced=advanced)
    cluster.create("big", "postgresql", config, rules=rules)
    cluster.sync_and_wait("big", FULL)
    expected = postgres.documents(where)
    assert 0 < len(expected) < 2000
    assert all(Decimal(str(d["amount"])) > 500 for d in expected.values())
    assert_index_matches(cluster, "big", expected)


class Sqlite:
    """Sqlite is one database file the test changes between syncs."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def execute(self, sql: str) -> None:
        conn = sqlite3.connect(self.path)
        try:
            conn.executescript(sql)
            conn.commit()
        finally:
            conn.close()

    def documents(self) -> dict[str, dict[str, Any]]:
        conn = sqlite3.connect(self.path)
        try:
            rows = conn.execute("SELECT id, title, price, updated FROM books").fetchall()
        finally:
            conn.close()
        return {
            str(i): {"id": i, "title": title, "price": price, "updated": updated}
            for i, title, price, updated in rows
        }


def test_sqlite_full_then_incremental_follows_the_file(
    cluster: SyncCluster, tmp_path: Path
) -> None:
    db = Sqlite(tmp_path / "books.db")
    db.execute(
        "CREATE TABLE books (id integer PRIMARY KEY, title text NOT NULL, price real,"
        " updated integer NOT NULL);"
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 1200)"
        " INSERT INTO books SELECT i, 'book ' || i, CASE WHEN i % 4 THEN i * 0.25 END, i FROM s;"
    )
    cluster.agent()
    config = {
        "path": str(db.path),
        "tables": ["books"],
        "cursor_column": "updated",
        "page_size": 200,
    }
    cluster.create("books", "sqlite", config)

    cluster.sync_and_wait("books", FULL)
    assert_index_matches(cluster, "books", db.documents())

    db.execute(
        "INSERT INTO books VALUES (1201, 'a new book', 9.5, 1300), (1202, 'another', NULL, 1301);"
        "UPDATE books SET title = 'second edition', updated = 1302 WHERE id % 100 = 0;"
    )
    incremental = cluster.sync_and_wait("books", INCREMENTAL)
    # Only the changed rows: 2 inserted, 12 updated (1200, the high-water mark, among them).
    assert incremental.counters.docs_seen == 2 + 12
    assert_index_matches(cluster, "books", db.documents())

    db.execute("DELETE FROM books WHERE id BETWEEN 500 AND 599")
    cluster.sync_and_wait("books", FULL)
    assert_index_matches(cluster, "books", db.documents())
    assert len(db.documents()) == 1102


def test_create_refuses_bad_sql_configs_naming_the_field(cluster: SyncCluster) -> None:
    advanced = struct_pb2.Struct()
    advanced.update({"where": "amount > 0; DELETE FROM orders"})
    config = {"dsn": "postgresql://reader:s3cret@db/shop", "tables": ["orders", "bad name"]}
    with pytest.raises(grpc.RpcError) as raised:
        cluster.create(
            "bad", "postgresql", config, rules=connectors_pb2.SyncRules(advanced=advanced)
        )
    fields = bad_fields(raised.value)
    assert set(fields) == {"spec.config.dsn", "spec.config.tables[1]", "spec.rules.advanced.where"}
    assert "config.password" in fields["spec.config.dsn"]

    both = {"path": "/data/app.db", "tables": ["t"], "query": "SELECT 1", "id_columns": ["a"]}
    with pytest.raises(grpc.RpcError) as raised:
        cluster.create("both", "sqlite", both)
    assert set(bad_fields(raised.value)) == {"spec.config.query"}

    with pytest.raises(grpc.RpcError) as raised:
        cluster.create("neither", "sqlite", {"path": "/data/app.db"})
    assert set(bad_fields(raised.value)) == {"spec.config.tables"}
