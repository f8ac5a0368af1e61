"""wait_event: sleeping until told, without ever losing a cancellation."""

from __future__ import annotations

import asyncio

import pytest

from ferry.tasks import raise_if_cancelling, wait_event


async def test_wait_event_says_whether_the_event_was_set() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    event.set()
    assert await wait_event(event, 10) is True


async def test_a_cancel_that_coincides_with_the_event_still_stops_the_loop() -> None:
    # asyncio.wait_for on Python 3.11 returns normally when its inner wait completes in
    # the same loop iteration as the cancel, swallowing it: a loop that waits on an
    # event someone else sets often (the leader's scheduler) then never stops.
    event = asyncio.Event()

    async def loop() -> None:
        while True:
            await wait_event(event, 10)
            event.clear()

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    event.set()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    assert done and task.cancelled()


async def test_a_cancel_disguised_as_another_error_still_stops_a_retrying_loop() -> None:
    started = asyncio.Event()

    async def call() -> None:
        # Like an etcd call: its cancellation comes back as the client's own error.
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise ConnectionError("CANCELLED") from None

    async def retrying() -> None:
        while True:
            try:
                await call()
            except Exception:  # noqa: BLE001 — as the service loops do
                raise_if_cancelling()

    task = asyncio.create_task(retrying())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(2):
            await task
