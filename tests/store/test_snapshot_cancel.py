"""A SQLite snapshot closed under a cancelled consumer waits for its batch read to finish.

Closing the snapshot's connection while a reader thread still runs a query on
it crashed the whole process (a segfault in the fuzzing suite, where follower
shard tasks stopped mid-bootstrap cancel the leader's Bootstrap stream).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from ferry.store import IndexOp, IndexSpec, _sqlite_read, open_store


async def test_closing_a_snapshot_waits_for_a_cancelled_batch_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reading, release = threading.Event(), threading.Event()
    batch = _sqlite_read.snapshot_batch

    def held_batch(*args: Any) -> Any:
        reading.set()
        release.wait(30)
        return batch(*args)

    monkeypatch.setattr(_sqlite_read, "snapshot_batch", held_batch)
    async with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        await store.create_index(IndexSpec("orders", shards=1))
        await store.bulk("orders", [IndexOp(f"d{i}", {"n": i}) for i in range(10)])

        async def consume() -> None:
            async with store.snapshot("orders", 0) as snap:
                async for _ in snap.batches(5):
                    pass

        task = asyncio.create_task(consume())
        assert await asyncio.to_thread(reading.wait, 30)
        task.cancel()
        # Without the wait, the snapshot closes at once, under the running read.
        done, _ = await asyncio.wait([task], timeout=1.0)
        assert not done, "the snapshot closed while its batch read was still running"
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        monkeypatch.undo()
        async with store.snapshot("orders", 0) as snap:
            assert sum([len(b) async for b in snap.batches(5)]) == 10
