"""HistoryTrimmer: drops the history of a cluster's indices that no retention lease needs."""

from __future__ import annotations

import asyncio
import logging

from ferry.errors import NotFound
from ferry.store import Store
from ferry.tasks import cancel_and_wait, raise_if_cancelling

log = logging.getLogger(__name__)


class HistoryTrimmer:
    """HistoryTrimmer calls Store.trim_history for every index every ``interval`` seconds.

    A trim drops expired retention leases, then the superseded operations
    below every live lease. Any number of replicators may trim the same store:
    a trim is one store transaction per index and repeating it is harmless. A
    failed round (store unreachable) is logged and the next one tries again.
    """

    def __init__(self, store: Store, *, interval: float) -> None:
        self.store = store
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="history-trimmer")

    async def stop(self) -> None:
        """stop cancels the loop and waits for it; idempotent."""
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def trim_once(self) -> int:
        """trim_once trims every index once; returns how many operations went."""
        removed = 0
        for info in await self.store.list_indices():
            try:
                removed += await self.store.trim_history(info.spec.name)
            except NotFound:
                continue  # deleted since it was listed
        return removed

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                removed = await self.trim_once()
            except Exception as exc:  # noqa: BLE001 — logged; the next round tries again
                raise_if_cancelling()
                log.warning("history trim failed", extra={"error": repr(exc)})
                continue
            if removed:
                log.info("history trimmed", extra={"operations": removed})
