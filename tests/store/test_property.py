"""Property: any history replayed into a follower, in order or shuffled, gives the leader's state.

Hypothesis drives a synchronous test; the async store runs on one dedicated
event loop per test (``asyncio.Runner``), and each example uses fresh indices.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferry.store import (
    DeleteOp,
    IndexOp,
    IndexSpec,
    LeaderInfo,
    Operation,
    Store,
    WriteOp,
    open_store,
)
from tests.store.support import all_operations, contents

SHARDS = 2
IDS = [f"doc{i}" for i in range(8)]

write_ops = st.one_of(
    st.builds(
        IndexOp,
        st.sampled_from(IDS),
        st.fixed_dictionaries(
            {"v": st.integers(0, 1000)}, optional={"tag": st.sampled_from("abc")}
        ),
    ),
    st.builds(DeleteOp, st.sampled_from(IDS)),
)
batches = st.lists(st.lists(write_ops, min_size=1, max_size=12), min_size=1, max_size=8)


@pytest.fixture
def runner(store_url: str) -> Iterator[tuple[asyncio.Runner, Store]]:
    """runner is a dedicated event loop with a started store on it, for sync tests."""
    with asyncio.Runner() as loop:
        store = open_store(store_url)
        loop.run(store.start())
        try:
            yield loop, store
        finally:
            loop.run(store.stop())


def chunks(ops: list[Operation], sizes: list[int]) -> Iterator[list[Operation]]:
    """chunks splits ops into delivery batches of the given sizes (cycled)."""
    it = iter(ops)
    for size in itertools.cycle(sizes):
        chunk = list(itertools.islice(it, size))
        if not chunk:
            return
        yield chunk


async def replay(
    store: Store, follower: str, shard: int, ops: list[Operation], sizes: list[int]
) -> int:
    checkpoint = -1
    for chunk in chunks(ops, sizes):
        checkpoint = await store.apply_operations(follower, shard, chunk)
    return checkpoint


async def example(
    store: Store, name: str, writes: list[list[WriteOp]], data: st.DataObject, sizes: list[int]
) -> None:
    leader, in_order, shuffled = f"{name}-leader", f"{name}-inorder", f"{name}-shuffled"
    await store.create_index(IndexSpec(leader, shards=SHARDS))
    for follower in (in_order, shuffled):
        await store.create_index(IndexSpec(follower, shards=SHARDS, leader=LeaderInfo("r", leader)))
    for batch in writes:
        await store.bulk(leader, batch)

    for shard in range(SHARDS):
        history = await all_operations(store, leader, shard)
        want = history[-1].seq_no if history else -1
        # Delivered in order, then the same history again, shuffled: nothing changes.
        assert await replay(store, in_order, shard, history, sizes) == want
        mixed = data.draw(st.permutations(history), label=f"redelivery of shard {shard}")
        assert await replay(store, in_order, shard, mixed, sizes) == want
        # Delivered shuffled only, to a fresh follower.
        mixed = data.draw(st.permutations(history), label=f"delivery of shard {shard}")
        assert await replay(store, shuffled, shard, mixed, sizes[::-1]) == want

    leader_docs = await contents(store, leader)
    leader_stats = await store.shard_stats(leader)
    for follower in (in_order, shuffled):
        assert await contents(store, follower) == leader_docs, follower
        follower_stats = await store.shard_stats(follower)
        assert [(s.docs, s.global_checkpoint) for s in follower_stats] == [
            (s.docs, s.global_checkpoint) for s in leader_stats
        ], follower


def test_follower_replay_matches_the_leader(runner: tuple[asyncio.Runner, Store]) -> None:
    loop, store = runner
    names = (f"p{i}" for i in itertools.count())

    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        writes=batches,
        data=st.data(),
        sizes=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    )
    def check(writes: list[list[WriteOp]], data: st.DataObject, sizes: list[int]) -> None:
        loop.run(example(store, next(names), writes, data, sizes))

    check()
