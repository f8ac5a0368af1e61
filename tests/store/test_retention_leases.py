"""Retention leases: history below a live lease is never trimmed; after it expires it is."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from ferry.store import DeleteOp, HistoryTrimmed, IndexOp, IndexSpec, Store, _sqlite_write
from tests.store.support import all_operations, snapshot_contents

HOUR = timedelta(hours=1)


async def write_history(store: Store) -> None:
    """write_history leaves one shard with superseded operations below seq_no 6.

    0 a v1 · 1 b · 2 a v2 · 3 delete b · 4 c · 5 a v3 · 6 d · 7 c v2
    Current documents: a (5), d (6), c (7).
    """
    await store.create_index(IndexSpec("orders", shards=1))
    await store.bulk("orders", [IndexOp("a", {"v": 1}), IndexOp("b", {"v": 1})])
    await store.bulk("orders", [IndexOp("a", {"v": 2}), DeleteOp("b"), IndexOp("c", {"v": 1})])
    await store.bulk("orders", [IndexOp("a", {"v": 3}), IndexOp("d", {"v": 1})])
    await store.bulk("orders", [IndexOp("c", {"v": 2})])


async def test_put_lists_renews_and_removes_leases(store: Store) -> None:
    await write_history(store)
    now = time.time()

    lease = await store.put_retention_lease("orders", 0, "f1", 2, ttl=HOUR, source="dr-site")

    assert (lease.lease_id, lease.shard, lease.retaining_seq_no, lease.source) == (
        "f1",
        0,
        2,
        "dr-site",
    )
    assert now + 3600 - 5 <= lease.expires_at <= time.time() + 3600 + 5
    renewed = await store.put_retention_lease("orders", 0, "f1", 4, ttl=2 * HOUR, source="dr-site")
    assert renewed.retaining_seq_no == 4 and renewed.expires_at > lease.expires_at
    await store.put_retention_lease("orders", 0, "f2", 6, ttl=HOUR)
    leases = {x.lease_id: x for x in await store.retention_leases("orders")}
    assert leases["f1"] == renewed
    assert (leases["f2"].shard, leases["f2"].retaining_seq_no, leases["f2"].source) == (0, 6, "")
    assert leases.keys() == {"f1", "f2"}

    await store.remove_retention_lease("orders", 0, "f1")
    await store.remove_retention_lease("orders", 0, "never-there")
    assert [x.lease_id for x in await store.retention_leases("orders")] == ["f2"]


async def test_history_below_a_live_lease_is_never_trimmed(store: Store) -> None:
    await write_history(store)
    await store.put_retention_lease("orders", 0, "f1", 0, ttl=HOUR)

    assert await store.trim_history("orders") == 0
    assert [op.seq_no for op in await all_operations(store, "orders", 0)] == list(range(8))

    # Moving the lease up lets the superseded ops below it go, and nothing at or above it.
    await store.put_retention_lease("orders", 0, "f1", 3, ttl=HOUR)
    trimmed = await store.trim_history("orders", now=time.time() + 60)
    assert trimmed == 3  # 0 a v1, 1 b, 2 a v2
    assert [op.seq_no for op in await store.read_operations("orders", 0, 3)] == [3, 4, 5, 6, 7]
    [stats] = await store.shard_stats("orders")
    assert stats.min_retained_seq_no == 3
    with pytest.raises(HistoryTrimmed) as err:
        await store.read_operations("orders", 0, 0)
    assert err.value.min_retained_seq_no == 3


async def test_the_lowest_live_lease_decides(store: Store) -> None:
    await write_history(store)
    now = time.time()
    await store.put_retention_lease("orders", 0, "slow", 1, ttl=HOUR)
    await store.put_retention_lease("orders", 0, "fast", 7, ttl=HOUR)
    await store.put_retention_lease("orders", 0, "dead", 0, ttl=timedelta(seconds=60))

    # At now+120 "dead" has expired; "slow" still needs everything from 1.
    assert await store.trim_history("orders", now=now + 120) == 1
    assert {x.lease_id for x in await store.retention_leases("orders")} == {"slow", "fast"}
    assert [op.seq_no for op in await store.read_operations("orders", 0, 1)] == list(range(1, 8))
    with pytest.raises(HistoryTrimmed):
        await store.read_operations("orders", 0, 0)

    await store.remove_retention_lease("orders", 0, "slow")
    # Now "fast" at 7 decides: 1 b, 2 a v2, 3 delete b and 4 c v1 go.
    assert await store.trim_history("orders", now=now + 120) == 4
    [stats] = await store.shard_stats("orders")
    assert stats.min_retained_seq_no == 5
    assert [op.seq_no for op in await store.read_operations("orders", 0, 5)] == [5, 6, 7]


async def test_history_is_trimmed_after_the_lease_expires(store: Store) -> None:
    await write_history(store)
    lease = await store.put_retention_lease("orders", 0, "f1", 0, ttl=HOUR)
    assert await store.trim_history("orders", now=lease.expires_at - 1) == 0
    assert [x.lease_id for x in await store.retention_leases("orders")] == ["f1"]

    trimmed = await store.trim_history("orders", now=lease.expires_at + 1)

    # Every superseded op goes: 0, 1, 2, 3 and 4 (c v1); the current ones 5, 6, 7 stay.
    assert trimmed == 5
    assert await store.retention_leases("orders") == []
    [stats] = await store.shard_stats("orders")
    assert stats.min_retained_seq_no == 5  # history from 5 on is complete
    assert (stats.docs, stats.max_seq_no, stats.global_checkpoint) == (3, 7, 7)
    with pytest.raises(HistoryTrimmed) as err:
        await store.read_operations("orders", 0, 0)
    assert err.value.min_retained_seq_no == stats.min_retained_seq_no
    assert [op.seq_no for op in await all_operations(store, "orders", 0, 5)] == [5, 6, 7]
    # The current documents survive trimming.
    a, c, d = await store.multi_get("orders", ["a", "c", "d"])
    assert a is not None and (a.source, a.seq_no) == ({"v": 3}, 5)
    assert c is not None and (c.source, c.seq_no) == ({"v": 2}, 7)
    assert d is not None and d.seq_no == 6
    assert await store.get("orders", "b") is None
    snap = await snapshot_contents(store, "orders", 0)
    assert {k: seq for k, (_, seq) in snap.items()} == {"a": 5, "c": 7, "d": 6}
    # A lease cannot ask for history that is gone.
    with pytest.raises(HistoryTrimmed):
        await store.put_retention_lease("orders", 0, "late", 0, ttl=HOUR)
    # New writes and their history go on from the end.
    [item] = (await store.bulk("orders", [IndexOp("e", {})])).items
    assert item.seq_no == 8
    assert [op.seq_no for op in await store.read_operations("orders", 0, 8)] == [8]


async def test_leases_are_per_shard(store: Store) -> None:
    await store.create_index(IndexSpec("orders", shards=2))
    for version in range(3):
        await store.bulk("orders", [IndexOp(f"d{i}", {"v": version}) for i in range(10)])
    await store.put_retention_lease("orders", 0, "f1", 0, ttl=HOUR)

    trimmed = await store.trim_history("orders")

    stats = await store.shard_stats("orders")
    # Shard 0 keeps all its history; shard 1 has no lease and loses its superseded ops.
    assert [op.seq_no for op in await all_operations(store, "orders", 0)] == list(
        range(stats[0].max_seq_no + 1)
    )
    assert trimmed == 2 * (stats[1].docs)
    assert stats[1].min_retained_seq_no > 0


async def test_a_trim_spanning_several_slices_keeps_history_from_the_highest_removed(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite deletes in slices of TRIM_SLICE seq_nos: 3 here, so that the superseded ops
    # (1 and 7) lie in the first and third slices, with empty slices between and after.
    monkeypatch.setattr(_sqlite_write, "TRIM_SLICE", 3)
    await store.create_index(IndexSpec("orders", shards=1))
    await store.bulk("orders", [IndexOp(f"d{i}", {"v": 1}) for i in range(10)])  # 0..9
    await store.bulk("orders", [IndexOp("d1", {"v": 2}), IndexOp("d7", {"v": 2})])  # 10, 11

    assert await store.trim_history("orders") == 2

    [stats] = await store.shard_stats("orders")
    assert stats.min_retained_seq_no == 8  # just above 7, the highest op removed
    with pytest.raises(HistoryTrimmed):
        await store.read_operations("orders", 0, 7)
    assert [op.seq_no for op in await all_operations(store, "orders", 0, 8)] == [8, 9, 10, 11]
    snap = await snapshot_contents(store, "orders", 0)
    assert sorted(seq for _, seq in snap.values()) == [0, 2, 3, 4, 5, 6, 8, 9, 10, 11]
    assert await store.trim_history("orders") == 0
