"""Follower indices: no ordinary writes, idempotent replay, bootstrap from a snapshot, promote."""

from __future__ import annotations

import time

import grpc
import pytest

from ferry.errors import Fenced, InvalidArgument, NotFound
from ferry.store import (
    NO_OPS,
    DeleteOp,
    Fence,
    FollowerIndex,
    IndexOp,
    IndexSpec,
    ItemResult,
    LeaderInfo,
    Operation,
    OpKind,
    ShardSeqNos,
    SnapshotDoc,
    Store,
    shard_for,
)
from tests.store.support import all_operations, contents

LEADER = LeaderInfo("remote", "orders")


async def leader_with_history(store: Store, shards: int = 1) -> None:
    """leader_with_history writes creates, updates and deletes into index ``orders``."""
    await store.create_index(IndexSpec("orders", shards=shards))
    await store.bulk("orders", [IndexOp(f"d{i}", {"v": 1, "i": i}) for i in range(12)])
    await store.bulk("orders", [IndexOp(f"d{i}", {"v": 2, "i": i}) for i in range(0, 12, 3)])
    await store.bulk("orders", [DeleteOp(f"d{i}") for i in range(1, 12, 4)])
    await store.bulk("orders", [IndexOp("d1", {"v": 3}), IndexOp("late", {"v": 1})])


async def follower_like(store: Store, name: str, shards: int = 1) -> None:
    await store.create_index(IndexSpec(name, shards=shards, leader=LEADER))


async def assert_same(store: Store, leader: str, follower: str) -> None:
    assert await contents(store, follower) == await contents(store, leader)
    leader_stats = await store.shard_stats(leader)
    follower_stats = await store.shard_stats(follower)
    for ls, fs in zip(leader_stats, follower_stats, strict=True):
        assert (fs.docs, fs.max_seq_no, fs.global_checkpoint) == (
            ls.docs,
            ls.max_seq_no,
            ls.global_checkpoint,
        )
    await assert_seq_nos_match_stats(store, leader)
    await assert_seq_nos_match_stats(store, follower)


async def assert_seq_nos_match_stats(store: Store, index: str) -> None:
    """assert_seq_nos_match_stats: every shard's shard_seq_nos are its shard_stats' seq_nos."""
    for s in await store.shard_stats(index):
        expected = ShardSeqNos(s.max_seq_no, s.global_checkpoint, s.min_retained_seq_no)
        assert await store.shard_seq_nos(index, s.shard) == expected, s


async def test_shard_seq_nos_are_each_shards_own_and_check_their_arguments(store: Store) -> None:
    await leader_with_history(store, shards=3)
    await store.put_retention_lease("orders", 1, "lease", 4)
    await store.trim_history("orders")
    stats = await store.shard_stats("orders")
    assert len({(s.max_seq_no, s.min_retained_seq_no) for s in stats}) > 1  # shards differ
    await assert_seq_nos_match_stats(store, "orders")
    await follower_like(store, "copy", shards=3)
    await assert_seq_nos_match_stats(store, "copy")
    assert await store.shard_seq_nos("copy", 2) == ShardSeqNos(NO_OPS, NO_OPS, 0)
    for shard in (-1, 3):
        with pytest.raises(InvalidArgument) as err:
            await store.shard_seq_nos("orders", shard)
        assert [v.field for v in err.value.violations] == ["shard"]
    with pytest.raises(NotFound):
        await store.shard_seq_nos("missing", 0)


async def test_follower_refuses_bulk(store: Store) -> None:
    await follower_like(store, "copy")

    with pytest.raises(FollowerIndex) as err:
        await store.bulk("copy", [IndexOp("a", {})])
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "copy" in str(err.value)
    assert await store.count("copy") == 0
    [stats] = await store.shard_stats("copy")
    assert (stats.max_seq_no, stats.global_checkpoint) == (NO_OPS, NO_OPS)


async def test_apply_is_idempotent(store: Store) -> None:
    await leader_with_history(store, shards=2)
    await follower_like(store, "copy", shards=2)

    for _ in range(2):
        for shard in range(2):
            ops = await all_operations(store, "orders", shard)
            checkpoint = await store.apply_operations("copy", shard, ops)
            assert checkpoint == ops[-1].seq_no
        await assert_same(store, "orders", "copy")

    # Any subset again, in any order, changes nothing.
    ops = await all_operations(store, "orders", 0)
    assert await store.apply_operations("copy", 0, ops[3:7][::-1]) == ops[-1].seq_no
    await assert_same(store, "orders", "copy")


async def test_apply_is_order_independent(store: Store) -> None:
    await leader_with_history(store)
    await follower_like(store, "copy")
    ops = await all_operations(store, "orders", 0)

    # One op per call, newest first: older ops never overwrite newer ones (or resurrect deletes).
    for op in reversed(ops):
        checkpoint = await store.apply_operations("copy", 0, [op])
        assert checkpoint == (ops[-1].seq_no if op.seq_no == 0 else NO_OPS)

    await assert_same(store, "orders", "copy")


async def test_checkpoint_is_the_highest_contiguous_seq_no(store: Store) -> None:
    await store.create_index(IndexSpec("orders", shards=1))
    await store.bulk("orders", [IndexOp(f"d{i}", {"i": i}) for i in range(6)])
    await follower_like(store, "copy")
    ops = {op.seq_no: op for op in await all_operations(store, "orders", 0)}

    assert await store.apply_operations("copy", 0, [ops[0], ops[1], ops[3], ops[4]]) == 1
    [stats] = await store.shard_stats("copy")
    assert stats.global_checkpoint == 1
    assert stats.max_seq_no == 4
    assert await store.count("copy") == 4
    assert await store.apply_operations("copy", 0, [ops[2]]) == 4
    assert await store.apply_operations("copy", 0, [ops[5]]) == 5
    [stats] = await store.shard_stats("copy")
    assert (stats.global_checkpoint, stats.max_seq_no, stats.docs) == (5, 5, 6)
    copied = await store.get("copy", "d3")
    assert copied is not None and (copied.source, copied.seq_no) == ({"i": 3}, 3)


async def test_bootstrap_then_follow(store: Store) -> None:
    await leader_with_history(store, shards=2)
    await follower_like(store, "copy", shards=2)
    # The follower holds stale data from an earlier follow: bootstrap must clear it.
    stale = next(f"stale{i}" for i in range(100) if shard_for(f"stale{i}", 2) == 0)
    await store.apply_operations(
        "copy", 0, [Operation(0, 0, OpKind.INDEX, stale, b'{"stale":true}', time.time())]
    )

    for shard in range(2):
        await store.begin_bootstrap("copy", shard)
        assert [s.docs for s in await store.shard_stats("copy")][shard] == 0
        async with store.snapshot("orders", shard) as snap:
            snapshot_seq_no = snap.seq_no
            # The leader goes on writing while the snapshot is copied.
            await store.bulk("orders", [IndexOp(f"during{shard}-{i}", {"i": i}) for i in range(5)])
            await store.bulk("orders", [DeleteOp("d0"), IndexOp("d3", {"v": 9})])
            async for batch in snap.batches(4):
                await store.apply_snapshot("copy", shard, batch)
        await store.finish_bootstrap("copy", shard, snapshot_seq_no)
        stats = await store.shard_stats("copy")
        assert stats[shard].global_checkpoint == snapshot_seq_no

    assert await store.get("copy", stale) is None
    for shard in range(2):
        checkpoint = (await store.shard_stats("copy"))[shard].global_checkpoint
        later = await all_operations(store, "orders", shard, checkpoint + 1)
        assert later, "the leader wrote after the snapshot"
        assert await store.apply_operations("copy", shard, later) == later[-1].seq_no
    await assert_same(store, "orders", "copy")
    d3 = await store.get("copy", "d3")
    assert d3 is not None and d3.source == {"v": 9}


async def test_apply_snapshot_keeps_leader_seq_nos(store: Store) -> None:
    await follower_like(store, "copy")
    await store.begin_bootstrap("copy", 0)
    await store.apply_snapshot(
        "copy",
        0,
        [SnapshotDoc("a", b'{"v":1}', 4, 1.0), SnapshotDoc("b", b'{"v":2}', 9, 2.0)],
    )
    await store.finish_bootstrap("copy", 0, 11)

    a, b = await store.multi_get("copy", ["a", "b"])
    assert a is not None and (a.source, a.seq_no) == ({"v": 1}, 4)
    assert b is not None and (b.source, b.seq_no) == ({"v": 2}, 9)
    [stats] = await store.shard_stats("copy")
    assert (stats.docs, stats.global_checkpoint) == (2, 11)
    # An operation at or below the snapshot's seq_no is already reflected: skipped.
    old = Operation(0, 3, OpKind.INDEX, "a", b'{"v":0}', 0.5)
    assert await store.apply_operations("copy", 0, [old]) == 11
    got = await store.get("copy", "a")
    assert got is not None and got.source == {"v": 1}


async def test_promote_makes_the_follower_writable(store: Store) -> None:
    await leader_with_history(store)
    await follower_like(store, "copy")
    ops = await all_operations(store, "orders", 0)
    await store.apply_operations("copy", 0, ops)

    info = await store.promote("copy")

    assert info.spec.leader is None and not info.spec.follower
    assert not (await store.get_index("copy")).spec.follower
    [item] = (await store.bulk("copy", [IndexOp("after", {"v": 1})])).items
    assert item.seq_no == ops[-1].seq_no + 1
    assert item.result is ItemResult.CREATED
    [item] = (await store.bulk("copy", [IndexOp("d0", {"v": 5})])).items
    assert (item.seq_no, item.result) == (ops[-1].seq_no + 2, ItemResult.UPDATED)
    [stats] = await store.shard_stats("copy")
    assert stats.max_seq_no == stats.global_checkpoint == ops[-1].seq_no + 2


async def test_fenced_follower_writes_are_refused(store: Store) -> None:
    """A replaced shard task (a zombie with a lower token) changes nothing on the follower."""
    await leader_with_history(store)
    await follower_like(store, "copy")
    ops = await all_operations(store, "orders", 0)
    owner, zombie = Fence("follow/copy/0", 5), Fence("follow/copy/0", 4)
    # The owner's first write registers its token.
    assert await store.apply_operations("copy", 0, ops[:4], fence=owner) == 3
    before = await contents(store, "copy")

    with pytest.raises(Fenced) as err:
        await store.apply_operations("copy", 0, ops[4:], fence=zombie)
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(Fenced):
        await store.begin_bootstrap("copy", 0, fence=zombie)
    with pytest.raises(Fenced):
        await store.apply_snapshot("copy", 0, [SnapshotDoc("z", b"{}", 40, 1.0)], fence=zombie)
    with pytest.raises(Fenced):
        await store.finish_bootstrap("copy", 0, 40, fence=zombie)

    assert await contents(store, "copy") == before
    [stats] = await store.shard_stats("copy")
    assert (stats.global_checkpoint, stats.max_seq_no) == (3, 3)
    assert await store.apply_operations("copy", 0, ops[4:], fence=owner) == ops[-1].seq_no
    await assert_same(store, "orders", "copy")


async def test_a_higher_token_on_a_bootstrap_call_fences_the_old_owner(store: Store) -> None:
    await leader_with_history(store)
    await follower_like(store, "copy")
    ops = await all_operations(store, "orders", 0)
    await store.apply_operations("copy", 0, ops[:2], fence=Fence("follow/copy/0", 1))

    # A new owner's first write is a bootstrap call: its token registers with it.
    await store.begin_bootstrap("copy", 0, fence=Fence("follow/copy/0", 2))

    with pytest.raises(Fenced):
        await store.apply_operations("copy", 0, ops[2:], fence=Fence("follow/copy/0", 1))
    assert await store.count("copy") == 0
    async with store.snapshot("orders", 0) as snap:
        async for batch in snap.batches(3):
            await store.apply_snapshot("copy", 0, batch, fence=Fence("follow/copy/0", 2))
        await store.finish_bootstrap("copy", 0, snap.seq_no, fence=Fence("follow/copy/0", 2))
    await assert_same(store, "orders", "copy")
