"""Bulk writes through the SQLite index store, against raw ``sqlite3`` inserts.

SPEC §10: store bulk writes ≥ half of what SQLite itself takes. Both sides
write the same ``DOCS`` documents of about 1 KB in batches of ``BATCH``, one
transaction per batch, into files in one directory:

- raw: ``json.dumps`` of each document and ``executemany`` of the (id, JSON)
  rows into a plain table with an id primary key, in WAL mode with the
  store's durability setting. The documents arrive as Python objects on both
  sides (as they come from a source), so turning them into JSON is part of
  the least work any SQLite insert of them does, and is timed on both sides;

- Ferry: :meth:`Store.bulk` into a fresh one-shard index, which also checks
  limits and schema, numbers every operation and keeps the operation log.

Each round writes into a fresh table and a fresh index. Rounds alternate,
swapping which side goes first, and each side reports its median.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from bench._store import documents, timed_bulk
from bench.report import Row
from ferry.store import IndexOp, open_store

Side = Callable[[str, int], Awaitable[float]]

FIGURE = "store bulk write, SQLite, 1 KB docs"
DOCS = 100_000
BATCH = 1000
ROUNDS = 3
DOC_BYTES = 1024
RAW_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL")
"""RAW_PRAGMAS match the store's SQLite settings, so both sides pay the same fsyncs."""


def raw_round(path: Path, table: str, ops: Sequence[IndexOp], batch: int) -> float:
    """raw_round inserts the documents as (id, JSON) rows into a fresh table, one
    transaction per batch; docs per second."""
    return raw_insert(path, table, ((op.id, op.source) for op in ops), batch)


def raw_insert(
    path: Path, table: str, documents: Iterable[tuple[str, dict[str, Any]]], batch: int
) -> float:
    """raw_insert writes (id, source) pairs as (id, JSON) rows into a fresh table with an
    id primary key, one transaction per batch, with the store's pragmas; docs per second
    (drawing from ``documents`` is timed). The raw side of every SQLite figure."""
    conn = sqlite3.connect(path, isolation_level=None)
    count = 0
    try:
        for pragma in RAW_PRAGMAS:
            conn.execute(pragma)
        conn.execute(f"CREATE TABLE {table} (id TEXT PRIMARY KEY, source TEXT NOT NULL)")
        insert = f"INSERT INTO {table} (id, source) VALUES (?, ?)"
        dumps = json.dumps
        start = time.perf_counter()
        pairs = iter(documents)
        while rows := [
            (doc_id, dumps(source)) for doc_id, source in itertools.islice(pairs, batch)
        ]:
            conn.execute("BEGIN")
            conn.executemany(insert, rows)
            conn.execute("COMMIT")
            count += len(rows)
        elapsed = time.perf_counter() - start
        (stored,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    finally:
        conn.close()
    if stored != count:
        raise RuntimeError(f"raw table {table} holds {stored} rows, expected {count}")
    return count / elapsed


async def measure(
    directory: Path, *, docs: int = DOCS, batch: int = BATCH, rounds: int = ROUNDS
) -> tuple[list[float], list[float]]:
    """measure returns the raw and Ferry rates of each round, in docs per second.

    The store lives in ``directory/store.db`` (indices ``bench-<round>``), the
    raw tables in ``directory/raw.db`` (tables ``raw_<round>``); both stay there.
    A warm-up round (``bench-warmup``, ``raw_warmup``) of a few batches goes first.
    """
    ops = documents(docs, doc_bytes=DOC_BYTES)
    warmup = min(len(ops), 5 * batch)
    rates: dict[str, list[float]] = {"raw": [], "ferry": []}
    async with open_store(f"sqlite:///{directory / 'store.db'}") as store:

        async def raw(label: str, count: int) -> float:
            path = directory / "raw.db"
            return await asyncio.to_thread(raw_round, path, f"raw_{label}", ops[:count], batch)

        async def ferry(label: str, count: int) -> float:
            return await timed_bulk(store, f"bench-{label}", ops[:count], batch)

        sides: dict[str, Side] = {"raw": raw, "ferry": ferry}
        for side in sides.values():  # warm the caches and code paths
            await side("warmup", warmup)
        for i in range(rounds):
            for name in ["raw", "ferry"] if i % 2 == 0 else ["ferry", "raw"]:
                measured = await sides[name](str(i), len(ops))
                rates[name].append(measured)
                print(
                    f"  store write round {i + 1}: {name:5} {measured:8.0f} docs/s", file=sys.stderr
                )
    return rates["raw"], rates["ferry"]


def run() -> list[Row]:
    """run measures both sides in a temporary directory and returns the §10 row."""
    with tempfile.TemporaryDirectory(prefix="ferry-bench-store-") as tmp:
        raw, ferry = asyncio.run(measure(Path(tmp)))
    return [Row.of_rounds(FIGURE, ferry, raw, "docs/s", target=0.5)]
