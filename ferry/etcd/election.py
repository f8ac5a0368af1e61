"""Election: leader election on etcd, in the manner of etcd's concurrency package.

Each candidate puts a key under the election prefix, attached to its session
lease. Candidates are ordered by the key's create revision; each waits only
for its immediate predecessor's key to be deleted (no thundering herd), and
the candidate with the lowest create revision leads. The leader key's create
revision is the leader's **epoch**: it grows with every new leader, so it
serves as a fencing token for the leader's writes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aetcd
from aetcd import rpc
from aetcd.rtypes import EventKind

from ferry.errors import FailedPrecondition, SessionLost
from ferry.etcd.client import cancel_watch, range_request
from ferry.etcd.keys import prefix_end
from ferry.etcd.session import Session

log = logging.getLogger(__name__)


class NotLeader(FailedPrecondition):
    """NotLeader says the caller's candidacy no longer holds the election."""

    def __init__(self, election: str) -> None:
        super().__init__(f"election: not leader of {election}", type="LEADER", subject=election)


@dataclass(frozen=True)
class Leader:
    """Leader is who holds an election: its value and its epoch (create revision)."""

    key: str
    value: bytes
    epoch: int


class Election:
    """Election is one candidacy of one session in the election under ``prefix``.

    :meth:`campaign` blocks until this candidate leads or its session ends
    (then :class:`SessionLost`). :meth:`resign` gives leadership up.
    :meth:`leader` and :meth:`observe` tell anyone who leads.
    """

    def __init__(self, client: aetcd.Client, session: Session, prefix: str) -> None:
        self._client = client
        self._session = session
        self.prefix = prefix
        self.key = f"{prefix}{session.lease_id:x}"
        self.epoch = 0

    async def campaign(self, value: bytes) -> int:
        """campaign waits until this candidate leads and returns its epoch.

        Edge case: if this session already has a candidacy (same lease), the
        existing key is reused and its value updated, keeping its place.
        """
        tx = self._client.transactions
        ok, responses = await self._client.transaction(
            compare=[tx.create(self.key) == 0],
            success=[tx.put(self.key.encode(), value, lease=self._session.lease_id)],
            failure=[tx.get(self.key.encode())],
        )
        if ok:
            self.epoch = responses[0].response_put.header.revision
        else:
            self.epoch = responses[0][0][1].create_revision
            await self._client.put(self.key.encode(), value, lease=self._session.lease_id)
        try:
            await self._wait_for_predecessors()
        except BaseException:
            # Leave no candidacy behind that could be elected while nobody waits.
            await asyncio.shield(self._delete_own_key())
            raise
        log.info("elected", extra={"election": self.prefix, "epoch": self.epoch})
        return self.epoch

    async def _wait_for_predecessors(self) -> None:
        while True:
            self._session.check()
            predecessor = await self._predecessor()
            if predecessor is None:
                return
            await self._wait_deleted(predecessor)

    async def _predecessor(self) -> tuple[bytes, int] | None:
        req = rpc.RangeRequest(
            key=self.prefix.encode(),
            range_end=prefix_end(self.prefix),
            max_create_revision=self.epoch - 1,
            sort_order=rpc.RangeRequest.SortOrder.DESCEND,
            sort_target=rpc.RangeRequest.SortTarget.CREATE,
            limit=1,
        )
        resp = await range_request(self._client, req)
        if not resp.kvs:
            return None
        return resp.kvs[0].key, resp.header.revision

    async def _wait_deleted(self, predecessor: tuple[bytes, int]) -> None:
        key, revision = predecessor
        watch = await self._client.watch(key, start_revision=revision + 1, kind=EventKind.DELETE)
        lost = asyncio.create_task(self._session.done.wait())
        deleted = asyncio.create_task(_first_event(watch))
        try:
            await asyncio.wait({lost, deleted}, return_when=asyncio.FIRST_COMPLETED)
            if deleted.done():
                deleted.result()  # surface watch errors; the caller retries
        finally:
            for t in (lost, deleted):
                t.cancel()
            await cancel_watch(watch)
        if lost.done() and not deleted.done():
            raise SessionLost(f"election {self.prefix}: session lost while campaigning")

    async def resign(self) -> None:
        """resign deletes this candidacy if it still stands; a no-op otherwise."""
        await self._delete_own_key()
        self.epoch = 0

    async def _delete_own_key(self) -> None:
        if not self.epoch:
            return
        tx = self._client.transactions
        try:
            await self._client.transaction(
                compare=[tx.create(self.key) == self.epoch],
                success=[tx.delete(self.key.encode())],
                failure=[],
            )
        except Exception as exc:  # noqa: BLE001 — the lease removes the key at worst
            log.info("resign failed", extra={"election": self.prefix, "error": repr(exc)})

    def guard(self) -> aetcd.transactions.BaseCompare:
        """guard is a Compare that holds only while this candidate is still leader."""
        if not self.epoch:
            raise NotLeader(self.prefix)
        return self._client.transactions.create(self.key) == self.epoch

    async def leader(self) -> Leader | None:
        """leader returns who leads now, or None while nobody does."""
        return await current_leader(self._client, self.prefix)

    async def observe(self) -> AsyncIterator[Leader | None]:
        """observe yields the leader now and again after every change."""
        async for leader in observe_leader(self._client, self.prefix):
            yield leader


async def current_leader(client: aetcd.Client, prefix: str) -> Leader | None:
    """current_leader returns the candidate with the lowest create revision."""
    return (await _leader_at(client, prefix))[0]


async def _leader_at(client: aetcd.Client, prefix: str) -> tuple[Leader | None, int]:
    req = rpc.RangeRequest(
        key=prefix.encode(),
        range_end=prefix_end(prefix),
        sort_order=rpc.RangeRequest.SortOrder.ASCEND,
        sort_target=rpc.RangeRequest.SortTarget.CREATE,
        limit=1,
    )
    resp = await range_request(client, req)
    if not resp.kvs:
        return None, resp.header.revision
    kv = resp.kvs[0]
    return Leader(kv.key.decode(), kv.value, kv.create_revision), resp.header.revision


async def observe_leader(client: aetcd.Client, prefix: str) -> AsyncIterator[Leader | None]:
    """observe_leader yields the current leader, then each change of leader."""
    last: Leader | None = None
    first = True
    while True:
        leader, header_rev = await _leader_at(client, prefix)
        if first or leader != last:
            first = False
            last = leader
            yield leader
        watch = await client.watch(
            prefix.encode(),
            range_end=prefix_end(prefix),
            start_revision=header_rev + 1,
        )
        try:
            async for _event in watch:
                break
        finally:
            await cancel_watch(watch)


async def _first_event(watch: aetcd.rtypes.Watch) -> None:
    async for _event in watch:
        return
