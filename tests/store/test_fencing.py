"""Fencing at the data: a lower token for a scope is refused once a higher one has fenced it."""

from __future__ import annotations

import grpc
import pytest

from ferry.errors import Fenced
from ferry.store import NO_OPS, Fence, IndexOp, IndexSpec, Stamp, Store
from tests.store.conftest import OpenStore


async def assert_nothing_written(store: Store, index: str) -> None:
    assert await store.count(index) == 0
    assert all(s.max_seq_no == NO_OPS for s in await store.shard_stats(index))


async def test_lower_token_is_refused_after_fence(store: Store) -> None:
    await store.create_index(IndexSpec("orders", shards=2))
    await store.fence(Fence("task-1", 5))

    with pytest.raises(Fenced) as err:
        await store.bulk("orders", [IndexOp("a", {}), IndexOp("b", {})], fence=Fence("task-1", 4))
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "fenced" in str(err.value)
    await assert_nothing_written(store, "orders")

    await store.bulk("orders", [IndexOp("a", {"by": 5})], fence=Fence("task-1", 5))
    await store.bulk("orders", [IndexOp("b", {"by": 6})], fence=Fence("task-1", 6))
    # Writing with 6 registered it: 5 is now a zombie.
    with pytest.raises(Fenced):
        await store.bulk("orders", [IndexOp("a", {"by": "zombie"})], fence=Fence("task-1", 5))
    a = await store.get("orders", "a")
    assert a is not None and a.source == {"by": 5}
    assert await store.count("orders") == 2


async def test_fence_with_a_lower_token_is_refused(store: Store) -> None:
    await store.create_index(IndexSpec("orders"))
    await store.fence(Fence("task-1", 7))

    with pytest.raises(Fenced) as err:
        await store.fence(Fence("task-1", 3))
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    # The refused fence did not lower the owner: 6 is still refused, 7 still accepted.
    with pytest.raises(Fenced):
        await store.bulk("orders", [IndexOp("a", {})], fence=Fence("task-1", 6))
    await store.bulk("orders", [IndexOp("a", {})], fence=Fence("task-1", 7))
    await store.fence(Fence("task-1", 8))
    with pytest.raises(Fenced):
        await store.bulk("orders", [IndexOp("b", {})], fence=Fence("task-1", 7))


async def test_scopes_are_fenced_separately(store: Store) -> None:
    await store.create_index(IndexSpec("orders"))
    await store.fence(Fence("task-1", 100))

    await store.bulk("orders", [IndexOp("a", {})], fence=Fence("task-2", 1))
    await store.bulk("orders", [IndexOp("b", {})])  # unfenced writes are not checked

    assert await store.count("orders") == 2


async def test_fences_hold_across_store_instances(
    store: Store, store_url: str, open_store_at: OpenStore
) -> None:
    """A zombie on another connection (another process, another machine) is refused too."""
    zombie = await open_store_at(store_url)
    await store.create_index(IndexSpec("orders"))
    await zombie.bulk("orders", [IndexOp("a", {"by": "old"})], fence=Fence("task-1", 1))

    await store.fence(Fence("task-1", 2))

    with pytest.raises(Fenced):
        await zombie.bulk("orders", [IndexOp("a", {"by": "zombie"})], fence=Fence("task-1", 1))
    with pytest.raises(Fenced):
        await zombie.fence(Fence("task-1", 1))
    a = await store.get("orders", "a")
    assert a is not None and a.source == {"by": "old"}


async def test_fenced_sweep_deletes_nothing(store: Store) -> None:
    await store.create_index(IndexSpec("orders"))
    await store.bulk("orders", [IndexOp("old", {})], stamp=Stamp("c1", 1))
    await store.fence(Fence("c1", 2))

    with pytest.raises(Fenced):
        await store.sweep("orders", Stamp("c1", 2), fence=Fence("c1", 1))

    assert await store.get("orders", "old") is not None
    assert await store.sweep("orders", Stamp("c1", 2), fence=Fence("c1", 2)) == 1
    assert await store.get("orders", "old") is None
