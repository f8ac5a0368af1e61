"""Small helpers for supervising asyncio tasks."""

from __future__ import annotations

import asyncio
from typing import Any


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
