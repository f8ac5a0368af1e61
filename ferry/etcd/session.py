"""Session: an etcd lease kept alive in the background, with a local deadline.

A Session is the life of a process in the cluster: registrations, election
candidacies and claims are all attached to its lease, so they vanish together
when it ends. The session counts itself lost when it has not renewed the lease
for ``deadline`` (shorter than the TTL), *before* etcd can expire the lease.
An owner that stops work when its session is lost therefore stops before
anyone else can be handed its work — the basis of self-fencing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from types import TracebackType

import aetcd

from ferry import metrics
from ferry.errors import InvalidArgument, SessionLost
from ferry.tasks import cancel_and_wait, raise_if_cancelling, wait_event

log = logging.getLogger(__name__)

MIN_TTL = 2.0


class Session:
    """Session owns one etcd lease and keeps it alive every ``ttl / 3`` seconds.

    ``done`` is set once the session is over, for any reason: the local
    deadline passed without a successful renewal, etcd answered that the lease
    is gone, or the owner called :meth:`orphan` or :meth:`close`. A session that
    is done never comes back; make a new one.

    :meth:`orphan` stops renewing and leaves the lease to expire (its keys stay
    until then, e.g. for a graceful hand-over). :meth:`close` also revokes the
    lease, which deletes its keys at once; it is bounded by the TTL.
    """

    def __init__(
        self,
        client: aetcd.Client,
        *,
        ttl: float = 10.0,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_renewal: Callable[[float], None] | None = None,
    ) -> None:
        if ttl < MIN_TTL:
            raise InvalidArgument.field("lease_ttl", f"must be at least {MIN_TTL} s, got {ttl}")
        self._client = client
        self.ttl = ttl
        # Losing two renewals in a row is one too many: stop with a margin of
        # a quarter TTL (at least 0.5 s) before etcd can expire the lease.
        self.deadline = deadline if deadline is not None else ttl - max(0.5, ttl / 4)
        if not 0 < self.deadline < ttl:
            raise InvalidArgument.field("lease_deadline", "must be between 0 and the TTL")
        self.keepalive_interval = ttl / 3
        self._clock = clock
        self._on_renewal = on_renewal
        self.lease_id = 0
        self.done = asyncio.Event()
        self.lost_reason = ""
        self._valid_until = 0.0
        self._keepalive_task: asyncio.Task[None] | None = None

    async def start(self) -> Session:
        """start grants the lease and begins renewing it; returns self."""
        sent = self._clock()
        lease = await self._client.lease(round(self.ttl))
        self.lease_id = lease.id
        self._valid_until = sent + self.deadline
        self._keepalive_task = asyncio.create_task(
            self._keepalive_loop(), name=f"session-keepalive-{lease.id:x}"
        )
        log.info("session started", extra={"lease_id": f"{lease.id:x}", "ttl": self.ttl})
        return self

    @property
    def alive(self) -> bool:
        """alive is True while the lease is known to be held (checked against the clock)."""
        if self.done.is_set():
            return False
        if self._clock() > self._valid_until:
            self._lose("local deadline passed without a renewal")
            return False
        return True

    def check(self) -> None:
        """check raises SessionLost unless the session is alive; call it before fenced work."""
        if not self.alive:
            raise SessionLost(f"etcd session {self.lease_id:x} lost: {self.lost_reason}")

    def remaining(self) -> float:
        """remaining is how long the session stays valid without another renewal."""
        return max(0.0, self._valid_until - self._clock()) if not self.done.is_set() else 0.0

    def _lose(self, reason: str, *, expected: bool = False) -> None:
        if self.done.is_set():
            return
        self.lost_reason = reason
        self.done.set()
        log.log(
            logging.INFO if expected else logging.WARNING,
            "session ended" if expected else "session lost",
            extra={"lease_id": f"{self.lease_id:x}", "reason": reason},
        )

    async def _keepalive_loop(self) -> None:
        while not self.done.is_set():
            # Sleep until the next renewal, waking early if the deadline comes first.
            wait = min(self.keepalive_interval, max(0.0, self._valid_until - self._clock()))
            if await wait_event(self.done, wait):
                return
            # A process paused past its deadline (SIGSTOP, a long GC) must not
            # renew and carry on as if nothing happened: the lease may have
            # been handed over meanwhile.
            if not self.alive:
                return
            sent = self._clock()
            try:
                reply = await asyncio.wait_for(
                    self._client.refresh_lease(self.lease_id), timeout=max(0.1, self.remaining())
                )
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception as exc:  # noqa: BLE001 — retried until the deadline
                raise_if_cancelling()
                metrics.LEASE_RENEWAL_FAILURES.inc()
                log.warning(
                    "lease renewal failed",
                    extra={"lease_id": f"{self.lease_id:x}", "error": repr(exc)},
                )
                continue
            took = self._clock() - sent
            if reply is None or reply.TTL <= 0:
                metrics.LEASE_RENEWAL_FAILURES.inc()
                self._lose("etcd reports the lease expired")
                return
            metrics.LEASE_RENEWAL.observe(took)  # a late one too: that is what to alert on
            if sent > self._valid_until:
                self._lose("local deadline passed while renewing")
                return
            self._valid_until = sent + self.deadline
            if self._on_renewal is not None:
                self._on_renewal(took)

    async def _stop_keepalive(self, reason: str) -> None:
        self._lose(reason, expected=True)
        task, self._keepalive_task = self._keepalive_task, None
        await cancel_and_wait(task)

    async def orphan(self) -> None:
        """orphan stops renewing; the lease and its keys expire after the TTL."""
        await self._stop_keepalive("orphaned")

    async def close(self) -> None:
        """close stops renewing and revokes the lease (best effort, bounded by the TTL)."""
        await self._stop_keepalive("closed")
        if not self.lease_id:
            return
        try:
            await asyncio.wait_for(self._client.revoke_lease(self.lease_id), timeout=self.ttl)
        except Exception as exc:  # noqa: BLE001 — the lease expires by itself anyway
            log.info(
                "lease revoke failed", extra={"lease_id": f"{self.lease_id:x}", "error": repr(exc)}
            )

    async def __aenter__(self) -> Session:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
