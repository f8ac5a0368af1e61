"""The leader role: campaign, then run the management loops only while leading.

Every coordinator replica campaigns with its membership session. The one that
wins runs the background management loops (type registry now; scheduling,
assignment and rebalancing with the sync engine). When its session is lost —
it could not renew the lease by its local deadline, which comes before etcd
can expire the lease — it stops the loops at once: it steps down before a
successor can be elected. Loop writes are guarded by the election key's
create revision, so a deposed leader's late write is refused by etcd.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aetcd

from ferry.errors import SessionLost
from ferry.etcd import Election, Keys, Session
from ferry.member import Membership
from ferry.tasks import cancel_and_wait, raise_if_cancelling

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Leadership:
    """Leadership is what a management loop gets: the client and a guarded election."""

    client: aetcd.Client
    keys: Keys
    election: Election
    session: Session

    @property
    def epoch(self) -> int:
        return self.election.epoch


ManagementLoop = Callable[[Leadership], Awaitable[None]]


class LeaderRole:
    """LeaderRole campaigns on every session of ``membership`` and leads when elected."""

    def __init__(
        self,
        client: aetcd.Client,
        keys: Keys,
        membership: Membership,
        candidate: Callable[[], bytes],
        loops: list[ManagementLoop],
    ) -> None:
        self._client = client
        self._keys = keys
        self._membership = membership
        self._candidate = candidate
        self._loops = loops
        self.epoch = 0
        self.leading = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def is_leader(self) -> bool:
        return self.leading.is_set() and self._membership.alive

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="leader-role")

    async def stop(self) -> None:
        """stop cancels the campaign and the loops, resigning if leading; idempotent."""
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            session = await self._membership.live_session()
            election = Election(self._client, session, self._keys.election())
            try:
                await self._lead(election, session)
            except SessionLost:
                pass
            except Exception as exc:  # noqa: BLE001 — etcd trouble: campaign again
                raise_if_cancelling()
                log.warning("leader role failed; campaigning again", extra={"error": repr(exc)})
                await asyncio.sleep(0.5)

    async def _lead(self, election: Election, session: Session) -> None:
        try:
            self.epoch = await election.campaign(self._candidate())
        except BaseException:
            self.epoch = 0
            raise
        self.leading.set()
        log.info("became leader", extra={"epoch": self.epoch})
        leadership = Leadership(self._client, self._keys, election, session)
        loops = [
            asyncio.create_task(
                self._supervise(loop, leadership), name=f"leader-loop {loop.__name__}"
            )
            for loop in self._loops
        ]
        lost = asyncio.create_task(session.done.wait(), name="leader-session-watch")
        try:
            await asyncio.wait([lost, *loops], return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.leading.clear()
            for task in (lost, *loops):
                task.cancel()
            await asyncio.gather(lost, *loops, return_exceptions=True)
            log.info(
                "stepped down",
                extra={"epoch": self.epoch, "reason": session.lost_reason or "stopping"},
            )
            if session.alive:
                await asyncio.shield(election.resign())
            self.epoch = 0

    @staticmethod
    async def _supervise(loop: ManagementLoop, leadership: Leadership) -> None:
        """_supervise restarts a crashed management loop after a pause; never hides the crash."""
        while True:
            try:
                await loop(leadership)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                raise_if_cancelling()
                log.exception("management loop crashed; restarting", extra={"loop": loop.__name__})
                await asyncio.sleep(1.0)
