"""A follower shard task stops when cancelled, whatever error the cancel surfaces as."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest

from ferry.replication.records import FollowerRecord
from ferry.v1 import replication_pb2 as pb
from services.replicator.follower import ShardFollower


def _follower() -> ShardFollower:
    record = FollowerRecord(
        follower=pb.Follower(follower_index="f", remote_cluster="r", leader_index="l"),
        shards=1,
        lease_id="lease",
        leader_created=1.0,
    )
    ctx, claim = SimpleNamespace(replicator_id="rep-1"), SimpleNamespace(token=7)
    return ShardFollower(cast(Any, ctx), record, 0, cast(Any, claim), cast(Any, None))


async def test_a_cancel_surfacing_as_a_connection_error_still_ends_the_shard_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # grpc or the store may turn the cancel of an awaited call into their own error. The
    # task must not read it as a failed read and retry: ShardTasks waits for it to end
    # before releasing its claim, and Unfollow waits for that release.
    follower = _follower()
    calls = 0
    waiting = asyncio.Event()

    async def nothing() -> None:
        return None

    async def leader_call() -> tuple[str, float]:
        nonlocal calls
        calls += 1
        waiting.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise ConnectionError("call cancelled") from None
        raise AssertionError("unreachable")

    monkeypatch.setattr(follower, "_load_shard_record", nothing)
    monkeypatch.setattr(follower, "_read_follower_checkpoint", nothing)
    monkeypatch.setattr(follower, "_bootstrap_reason", leader_call)
    task = asyncio.create_task(follower.run())
    await asyncio.wait_for(waiting.wait(), 5)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    assert done, f"the shard task ran on after its cancel ({calls} leader calls)"
    assert task.cancelled()
    assert calls == 1
