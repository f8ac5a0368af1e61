"""Store-side helpers of the benchmarks: documents of a chosen size and a timed Store.bulk.

The store write and replication figures both write the same kind of
documents through :meth:`Store.bulk`, one call per batch; this is that code,
once.
"""

from __future__ import annotations

import random
import string
import time

from ferry.store import IndexOp, IndexSpec, Store

BODY_SLACK = 120
"""BODY_SLACK is what a document's body leaves for its other fields and the JSON around them:
a ``doc_bytes=1024`` document is about 1 KB of canonical JSON, a ``doc_bytes=256`` one about
200 bytes."""


def documents(count: int, *, doc_bytes: int = 1024, seed: int = 7) -> list[IndexOp]:
    """documents are ``count`` ops whose canonical JSON is a little under ``doc_bytes`` each.

    Bodies come from a small pool, so memory stays small while every document
    differs (its number and title). Ids are ``doc-00000000`` onwards.
    """
    rng = random.Random(seed)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(500)]
    pool = []
    for _ in range(64):
        body: list[str] = []
        while sum(len(w) + 1 for w in body) < doc_bytes - BODY_SLACK:
            body.append(rng.choice(words))
        pool.append(" ".join(body))
    return [
        IndexOp(
            f"doc-{i:08d}",
            {
                "n": i,
                "title": f"document {i}",
                "tag": words[i % len(words)],
                "body": pool[i % len(pool)],
            },
        )
        for i in range(count)
    ]


async def write(store: Store, index: str, ops: list[IndexOp], batch: int) -> None:
    """write bulk-writes ops into the index, one :meth:`Store.bulk` per batch."""
    for i in range(0, len(ops), batch):
        await store.bulk(index, ops[i : i + batch])


async def timed_bulk(
    store: Store, index: str, ops: list[IndexOp], batch: int, *, shards: int = 1
) -> float:
    """timed_bulk bulk-writes ops into a fresh index of ``shards`` shards, one
    :meth:`Store.bulk` per batch; docs per second. RuntimeError unless the index then
    holds every document."""
    await store.create_index(IndexSpec(index, shards=shards))
    start = time.perf_counter()
    await write(store, index, ops, batch)
    elapsed = time.perf_counter() - start
    stored = await store.count(index)
    if stored != len(ops):
        raise RuntimeError(f"index {index} holds {stored} documents, expected {len(ops)}")
    return len(ops) / elapsed
