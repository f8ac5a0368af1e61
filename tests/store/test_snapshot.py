"""Snapshots: a consistent view of one shard as of a seq_no, in id order and in batches."""

from __future__ import annotations

import asyncio

from ferry.store import DeleteOp, FieldKind, IndexOp, IndexSpec, Schema, Store, shard_for
from ferry.store.model import encode_source

SHARDS = 2


async def test_snapshot_ignores_later_writes(store: Store) -> None:
    schema = Schema({"n": FieldKind.LONG}, version=3)
    await store.create_index(IndexSpec("orders", shards=SHARDS, schema=schema))
    await store.bulk("orders", [IndexOp(f"d{i:03d}", {"n": i}) for i in range(60)])
    await store.bulk("orders", [DeleteOp("d005"), IndexOp("d010", {"n": 1000})])
    in_shard = sorted(f"d{i:03d}" for i in range(60) if shard_for(f"d{i:03d}", SHARDS) == 0)
    expected = {}
    for doc in await store.multi_get("orders", in_shard):
        if doc is not None:
            expected[doc.id] = (encode_source(doc.source), doc.seq_no)
    [stats, _] = await store.shard_stats("orders")

    async with store.snapshot("orders", 0) as snap:
        assert snap.seq_no == stats.max_seq_no
        assert snap.schema == schema
        assert snap.docs == len(expected) == stats.docs
        # Writes after the snapshot opened: deletes, updates and new documents.
        async with asyncio.timeout(30):
            await store.bulk(
                "orders",
                [DeleteOp(i) for i in in_shard[:5]]
                + [IndexOp(i, {"n": -1}) for i in in_shard[5:10]]
                + [IndexOp(f"new{i}", {"n": i}) for i in range(20)],
            )
        batches = []
        async for batch in snap.batches(7):
            batches.append(batch)
            if len(batches) == 1:
                async with asyncio.timeout(30):
                    await store.bulk("orders", [DeleteOp(i) for i in in_shard[10:20]])

    sizes = [len(b) for b in batches]
    assert all(size == 7 for size in sizes[:-1]) and 1 <= sizes[-1] <= 7, sizes
    seen = [d for b in batches for d in b]
    assert [d.id for d in seen] == sorted(expected)
    assert {d.id: (d.source, d.seq_no) for d in seen} == expected
    assert all(d.seq_no <= snap.seq_no for d in seen)
    # The writes did land for everyone else.
    assert await store.get("orders", in_shard[0]) is None


async def test_snapshot_of_an_empty_shard(store: Store) -> None:
    await store.create_index(IndexSpec("orders", shards=1))

    async with store.snapshot("orders", 0) as snap:
        assert (snap.seq_no, snap.docs) == (-1, 0)
        assert [b async for b in snap.batches(10)] == []
