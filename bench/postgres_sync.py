"""A full sync, PostgreSQL table → SQLite index, against the raw limits of both ends.

SPEC §10: a sync of a PostgreSQL table reaches at least half of the slower of
(a) a raw ``COPY (SELECT * FROM table) TO STDOUT`` read of the table and
(b) a raw store bulk write of the same rows. The table is pgbench's
``pgbench_accounts`` (``pgbench -i``, 100,000 rows per ``SCALE``) on an embedded
PostgreSQL on a Unix socket.

- raw read: asyncpg's ``copy_from_query`` into a sink that counts the bytes;
  rows per second.
- raw write: the same rows, fetched beforehand (untimed), as (id, JSON) rows
  into a plain SQLite table, one transaction per ``BATCH``, with the store's
  pragmas (the raw side of the generator sync figure).
- Ferry: one coordinator and one agent process; a ``postgresql`` connector on
  the table with one task; from ``Jobs.Start`` until COMPLETED (sweep
  included); rows per second.

Rounds alternate the order; each side reports its median; the raw limit of a
round is the slower of its read and write.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from bench._cluster import Cluster, alternate, environ_int
from bench.report import Row
from bench.store_write import raw_insert
from ferry.connectors.postgres import PostgresSource
from ferry.connectors.sdk import Document, TaskPlan
from ferry.store.embedded_postgres import EmbeddedPostgres

FIGURE = "sync, PostgreSQL table → index"
TABLE = "pgbench_accounts"
SCALE = environ_int("FERRY_BENCH_PG_SCALE", 2)
BATCH = 1000
CHECKPOINT_DOCS = 10_000
ROUNDS = 3
SYNC_TIMEOUT = 600.0


def connector_config(url: str) -> dict[str, Any]:
    return {"dsn": url, "tables": [TABLE], "page_size": BATCH}


async def copy_rate(url: str) -> float:
    """copy_rate reads the whole table with COPY TO STDOUT; rows per second."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetchval(f"SELECT count(*) FROM {TABLE}")
        received = 0

        async def sink(chunk: bytes) -> None:
            nonlocal received
            received += len(chunk)

        start = time.perf_counter()
        await conn.copy_from_query(f"SELECT * FROM {TABLE}", output=sink)
        elapsed = time.perf_counter() - start
    finally:
        await conn.close()
    if not received:
        raise RuntimeError("COPY returned no data")
    return int(rows) / elapsed


async def fetch_documents(url: str) -> list[tuple[str, dict[str, Any]]]:
    """fetch_documents is the table as the connector turns it into documents (untimed)."""
    source = PostgresSource(connector_config(url))
    docs = []
    async for item in source.stream(TaskPlan(partition=TABLE), full=True, cursor=None):
        if isinstance(item, Document):
            docs.append((item.id, item.source))
    return docs


def ferry_round(cluster: Cluster, name: str, url: str, rows: int) -> float:
    """ferry_round syncs the table through a fresh connector into its own index; rows/s."""
    cluster.connector(name, "postgresql", connector_config(url))
    return cluster.timed_sync(name, rows, timeout=SYNC_TIMEOUT)


def measure(directory: Path, *, scale: int = SCALE, rounds: int = ROUNDS) -> tuple[
    list[float], list[float], list[float]
]:  # fmt: skip
    """measure returns the COPY read, raw write and Ferry rates of each round (rows/s)."""
    # Outside any pytest tmp dir: as root the server runs as another user, which must
    # reach its data directory (see ferry.store.embedded_postgres).
    pg_dir = Path(tempfile.mkdtemp(prefix="ferry-bench-pg-"))
    server = EmbeddedPostgres(pg_dir / "data").start()
    try:
        url = server.create_database("bench")
        server.load_pgbench("bench", scale=scale)
        docs = asyncio.run(fetch_documents(url))
        rows = len(docs)
        with Cluster(directory) as cluster:
            cluster.coordinator()
            cluster.agents(1, capacity=1, batch_docs=BATCH, checkpoint_docs=CHECKPOINT_DOCS)
            sides = {
                "read": lambda label: asyncio.run(copy_rate(url)),
                "write": lambda label: raw_insert(
                    directory / "raw.db", f"raw_{label}", docs, BATCH
                ),
                "ferry": lambda label: ferry_round(cluster, f"pg-{label}", url, rows),
            }
            for side in sides.values():
                side("warmup")
            rates = alternate(sides, rounds=rounds, what="pg", unit="rows/s")
    finally:
        server.stop()
        shutil.rmtree(pg_dir, ignore_errors=True)
    return rates["read"], rates["write"], rates["ferry"]


def run() -> list[Row]:
    """run measures the three sides and returns the §10 row (raw = the slower end)."""
    with tempfile.TemporaryDirectory(prefix="ferry-bench-pg-sync-") as tmp:
        read, write, ferry = measure(Path(tmp))
    raw = [min(r, w) for r, w in zip(read, write, strict=True)]
    return [Row.of_rounds(FIGURE, ferry, raw, "rows/s", target=0.5)]
