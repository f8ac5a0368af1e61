"""Small helpers for supervising asyncio tasks."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from typing import Any, TypeVar

T = TypeVar("T")


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """cancel_and_wait cancels task and waits for it to finish; None is a no-op.

    The task's own CancelledError is swallowed; any other exception it ends
    with propagates, so a crash is never hidden.
    """
    if task is None or task is asyncio.current_task():
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


def backoff(attempt: int, initial: float, cap: float) -> float:
    """backoff is the delay before retry number ``attempt`` (from 1): ``initial`` doubled per
    attempt up to ``cap``, jittered between half and all of that, so retries spread out."""
    ceiling = min(cap, initial * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """wait_event waits until ``event`` is set or ``seconds`` pass; True if set.

    Every "sleep, but wake early when told" goes through here. It is built on
    ``asyncio.timeout``, not ``asyncio.wait_for``: on Python 3.11, a cancellation
    that races wait_for's own timeout can come out as TimeoutError, and a loop that
    reads a timeout as "nothing happened" then runs on, cancelled but never stopping.
    """
    try:
        async with asyncio.timeout(max(0.0, seconds)):
            await event.wait()
    except TimeoutError:
        raise_if_cancelling()
        return event.is_set()
    return True


def raise_if_cancelling() -> None:
    """raise_if_cancelling re-raises a cancellation that surfaced as another exception.

    A task cancelled while awaiting an etcd call may see, instead of
    CancelledError, grpc's CANCELLED status turned into aetcd's own error, or on
    Python 3.11 a TimeoutError from a racing timeout. A loop that catches those
    and carries on would never stop; every such ``except`` calls this first.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


@contextlib.asynccontextmanager
async def closing(items: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """closing closes an async generator when the block ends, however it ends.

    ``async for`` alone leaves a generator abandoned by an exception open until
    garbage collection, and with it the connection or child process it holds.
    Sources are typed as AsyncIterator, which contextlib.aclosing does not take.
    """
    try:
        yield items
    finally:
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            await aclose()
