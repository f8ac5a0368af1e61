"""Full-sync generations: sweep deletes a scope's older documents, one DELETE op each."""

from __future__ import annotations

import ctypes
import gc
import threading
from collections import Counter
from pathlib import Path

from ferry.store import DeleteOp, IndexOp, IndexSpec, OpKind, Stamp, Store
from tests.store.support import all_operations, docs

MB = 1024 * 1024


async def new_operations(store: Store, index: str, after: list[int]) -> list[tuple[OpKind, str]]:
    """new_operations lists every shard's operations above the given max seq_nos."""
    found = []
    for shard, max_seq_no in enumerate(after):
        found += [(o.kind, o.id) for o in await all_operations(store, index, shard, max_seq_no + 1)]
    return found


async def max_seq_nos(store: Store, index: str) -> list[int]:
    return [s.max_seq_no for s in await store.shard_stats(index)]


async def test_sweep_deletes_older_generations_of_the_scope(store: Store) -> None:
    await store.create_index(IndexSpec("orders", shards=3))
    await store.bulk("orders", docs("c1-", 10, sync=1), stamp=Stamp("c1", 1))
    await store.bulk("orders", docs("c2-", 5), stamp=Stamp("c2", 1))
    await store.bulk("orders", docs("manual-", 3))
    # Full sync 2 of c1 sees only half of the source's documents.
    await store.bulk("orders", docs("c1-", 5, sync=2), stamp=Stamp("c1", 2))
    before = await max_seq_nos(store, "orders")

    deleted = await store.sweep("orders", Stamp("c1", 2), batch=2)

    gone = {f"c1-{i}" for i in range(5, 10)}
    assert deleted == len(gone)
    for i in range(10):
        doc = await store.get("orders", f"c1-{i}")
        if f"c1-{i}" in gone:
            assert doc is None
        else:
            assert doc is not None and doc.source == {"n": i, "sync": 2}
    assert all(
        d is not None for d in await store.multi_get("orders", [f"c2-{i}" for i in range(5)])
    )
    assert all(d is not None for d in await store.multi_get("orders", ["manual-0", "manual-2"]))
    assert await store.count("orders") == 5 + 5 + 3
    emitted = await new_operations(store, "orders", before)
    assert sorted(emitted) == sorted((OpKind.DELETE, doc_id) for doc_id in gone)

    # A second sweep finds nothing left to delete and writes nothing.
    after = await max_seq_nos(store, "orders")
    assert await store.sweep("orders", Stamp("c1", 2)) == 0
    assert await max_seq_nos(store, "orders") == after


async def test_sweep_keeps_documents_a_later_sync_rewrote(store: Store) -> None:
    await store.create_index(IndexSpec("orders", shards=2))
    await store.bulk("orders", docs("d", 6), stamp=Stamp("c1", 1))
    await store.bulk("orders", docs("d", 2), stamp=Stamp("c1", 3))
    await store.bulk("orders", [DeleteOp("d5")], stamp=Stamp("c1", 3))

    # A sweep for an older generation than the newest removes only what is below it.
    assert await store.sweep("orders", Stamp("c1", 2)) == 3
    assert sorted(d.id for d in await store.multi_get("orders", ["d0", "d1"]) if d) == ["d0", "d1"]
    assert await store.count("orders") == 2
    assert await store.sweep("orders", Stamp("c1", 3)) == 0
    # A newer generation with nothing written sweeps the rest.
    assert await store.sweep("orders", Stamp("c1", 4)) == 2
    assert await store.count("orders") == 0


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


class PeakRss:
    """PeakRss samples the process's resident memory on a thread until stopped."""

    def __init__(self) -> None:
        self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def release_free_memory() -> None:
    """release_free_memory hands freed heap back to the OS, so reuse cannot hide growth."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


SWEEP_DOCS = 1_000_000
KEPT = 1_000
INSERT_BATCH = 10_000
# Long ids make a sweep that holds the ids in memory cost well over the bound:
# 1M ids of ~100 bytes are ~200 MB as Python strings, before any row objects.
ID_PAD = "x" * 86


async def test_sweep_of_a_million_documents_keeps_memory_flat(store: Store) -> None:
    """1M documents stamped by sync 1; sync 2 rewrites 1000; the sweep deletes the other
    999,000 with flat memory (peak RSS growth under 100 MB) and one DELETE op each."""
    await store.create_index(IndexSpec("big", shards=2))
    for start in range(0, SWEEP_DOCS, INSERT_BATCH):
        ops = [IndexOp(f"{i:09d}{ID_PAD}", {"n": i}) for i in range(start, start + INSERT_BATCH)]
        await store.bulk("big", ops, stamp=Stamp("c1", 1))
    kept = [IndexOp(f"{i:09d}{ID_PAD}", {"n": i, "sync": 2}) for i in range(0, SWEEP_DOCS, 1000)]
    assert len(kept) == KEPT
    await store.bulk("big", kept, stamp=Stamp("c1", 2))
    before = await store.shard_stats("big")
    assert sum(s.docs for s in before) == SWEEP_DOCS
    release_free_memory()

    with PeakRss() as rss:
        baseline = rss_bytes()
        deleted = await store.sweep("big", Stamp("c1", 2), batch=10_000)

    growth = rss.peak - baseline
    print(f"sweep of {deleted} documents: peak RSS growth {growth / MB:.1f} MB")
    assert deleted == SWEEP_DOCS - KEPT
    assert growth < 100 * MB, f"RSS grew {growth / MB:.0f} MB during the sweep"
    after = await store.shard_stats("big")
    assert sum(s.docs for s in after) == KEPT
    kinds: Counter[OpKind] = Counter()
    for b, a in zip(before, after, strict=True):
        assert a.global_checkpoint == a.max_seq_no
        from_seq_no = b.max_seq_no + 1
        while ops_page := await store.read_operations("big", b.shard, from_seq_no, max_ops=5000):
            kinds.update(o.kind for o in ops_page)
            from_seq_no = ops_page[-1].seq_no + 1
        assert from_seq_no == a.max_seq_no + 1
    assert kinds == Counter({OpKind.DELETE: SWEEP_DOCS - KEPT})
    kept_now = await store.multi_get("big", [op.id for op in kept[:50]])
    assert all(d is not None and d.source["sync"] == 2 for d in kept_now)
