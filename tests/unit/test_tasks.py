"""Waiting and retrying (wait_event, raise_if_cancelling, probe) without losing a cancel."""

from __future__ import annotations

import asyncio

import pytest

from ferry.etcd import probe
from ferry.tasks import backoff, raise_if_cancelling, wait_event


def test_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    for attempt, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (6, 10.0), (60, 10.0)):
        delays = [backoff(attempt, 0.5, 10.0) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempt, delays)
    assert len({backoff(3, 0.5, 10.0) for _ in range(20)}) > 1  # jittered


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
    hang_up = asyncio.Event()  # ends the loop should the cancel be lost, so the test fails

    async def call() -> None:
        # Like an etcd call: its cancellation comes back as the client's own error.
        started.set()
        try:
            await hang_up.wait()
        except asyncio.CancelledError:
            raise ConnectionError("CANCELLED") from None

    async def retrying() -> None:
        while not hang_up.is_set():
            try:
                await call()
            except Exception:  # noqa: BLE001 — as the service loops do
                raise_if_cancelling()

    await assert_stops_when_cancelled(
        asyncio.create_task(retrying()), started, hang_up, "the loop swallowed its cancellation"
    )


async def test_probe_passes_on_a_cancel_disguised_as_an_error() -> None:
    # A health loop cancelled in the middle of its probe must stop, not report "unhealthy".
    started = asyncio.Event()
    hang_up = asyncio.Event()

    class Stub:
        async def Status(self, request: object, **options: object) -> None:
            started.set()
            try:
                await hang_up.wait()
            except asyncio.CancelledError:
                raise ConnectionError("CANCELLED") from None

    class Client:
        maintenancestub = Stub()

        async def connect(self) -> None:
            pass

    async def health_loop() -> None:
        while not hang_up.is_set():
            await probe(Client(), within=60)

    await assert_stops_when_cancelled(
        asyncio.create_task(health_loop()), started, hang_up, "probe swallowed the cancellation"
    )


async def assert_stops_when_cancelled(
    task: asyncio.Task[None], started: asyncio.Event, hang_up: asyncio.Event, message: str
) -> None:
    """assert_stops_when_cancelled cancels task once it has started and asserts that it ends
    cancelled; hang_up is set at the end, so a task that swallowed the cancel ends too."""
    await started.wait()
    task.cancel()
    try:
        # asyncio.wait, not a timeout around ``await task``: that would cancel the task
        # again on expiry, and a loop that swallows cancels would hang the test.
        done, _ = await asyncio.wait({task}, timeout=2)
        assert done, message
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        hang_up.set()
