"""Many writers into one shard never leave a gap or a duplicate seq_no."""

from __future__ import annotations

import asyncio

from ferry.store import IndexOp, IndexSpec, ItemResult, OpKind, Store
from tests.store.conftest import OpenStore
from tests.store.support import all_operations

WRITERS = 8
OPS_PER_WRITER = 10_000
BATCH = 500


async def write_all(store: Store, writer: int) -> dict[int, str]:
    """write_all sends one writer's ops in bulk batches; returns seq_no → id of its items."""
    seq_nos: dict[int, str] = {}
    for start in range(0, OPS_PER_WRITER, BATCH):
        ops = [
            IndexOp(f"w{writer}-{i}", {"writer": writer, "i": i})
            for i in range(start, start + BATCH)
        ]
        result = await store.bulk("hot", ops)
        assert [item.id for item in result.items] == [op.id for op in ops]
        for item in result.items:
            assert item.result is ItemResult.CREATED and item.shard == 0
            assert item.seq_no not in seq_nos, f"writer {writer} got seq_no {item.seq_no} twice"
            seq_nos[item.seq_no] = item.id
    return seq_nos


async def test_concurrent_writers_number_one_shard_densely(
    store: Store, store_url: str, open_store_at: OpenStore
) -> None:
    """8 writers, each on its own Store instance (as separate processes would be), 10k ops each."""
    await store.create_index(IndexSpec("hot", shards=1))
    writers = [await open_store_at(store_url) for _ in range(WRITERS)]

    results = await asyncio.gather(*(write_all(w, n) for n, w in enumerate(writers)))

    total = WRITERS * OPS_PER_WRITER
    by_seq_no: dict[int, str] = {}
    for seq_nos in results:
        clash = by_seq_no.keys() & seq_nos.keys()
        assert not clash, f"seq_nos given to two writers: {sorted(clash)[:10]}"
        by_seq_no.update(seq_nos)
    assert sorted(by_seq_no) == list(range(total))
    [stats] = await store.shard_stats("hot")
    assert (stats.docs, stats.max_seq_no, stats.global_checkpoint) == (total, total - 1, total - 1)
    history = await all_operations(store, "hot", 0)
    assert [op.seq_no for op in history] == list(range(total))
    assert all(op.kind is OpKind.INDEX for op in history)
    # The history agrees with what each writer was told.
    assert {op.seq_no: op.id for op in history} == by_seq_no
