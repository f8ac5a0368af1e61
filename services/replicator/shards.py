"""ShardTasks: which follower shards this replicator replicates, claimed under its lease.

Every replicator of the follower cluster reconciles on each change under
``followers/``, ``claims/follow/`` and ``members/replicators/`` (and every
``interval`` seconds): each shard of every ACTIVE follower index is a task;
a replicator claims unclaimed tasks until it holds its fair share
(ceil(tasks / live replicators)), preferring different shards than its peers
(rendezvous hashing), and claims past its share a task nobody has taken for
a whole round, so no task waits on a replicator that cannot take it. A
claim lives under the replicator's session lease: when a replicator dies
its claims expire and another replicator takes the tasks over, resuming from
the follower checkpoint kept in the follower store. A task whose follower is
paused, unfollowed or re-parameterised is stopped and its claim released.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from dataclasses import dataclass

from ferry import metrics
from ferry.errors import FerryError
from ferry.etcd import Session, cancel_watch
from ferry.etcd.claim import Claim, ClaimTaken, acquire
from ferry.member import Membership
from ferry.replication.records import (
    CLAIM_KIND,
    FollowerRecord,
    claim_resource,
    decode_remote,
    parse_claim_resource,
)
from ferry.replication.remote import RemoteLeader
from ferry.tasks import cancel_and_wait, raise_if_cancelling, wait_event
from ferry.v1 import replication_pb2 as pb
from services.replicator.follower import ShardContext, ShardFollower

log = logging.getLogger(__name__)

ShardKey = tuple[str, int]


@dataclass
class Running:
    """Running is one shard task of this replicator."""

    follower: ShardFollower
    task: asyncio.Task[None]
    parameters: bytes


class ShardTasks:
    """ShardTasks claims and runs this replicator's follower shard tasks."""

    def __init__(self, ctx: ShardContext, membership: Membership, *, interval: float = 1.0) -> None:
        self.ctx = ctx
        self.membership = membership
        self.interval = interval
        self.running: dict[ShardKey, Running] = {}
        self._remotes: dict[str, tuple[bytes, RemoteLeader]] = {}
        self._unclaimed_rounds: dict[ShardKey, int] = {}
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        metrics.FOLLOWER_SHARDS.add(self._every_shard_stats)
        self._loop_task = asyncio.create_task(self._loop(), name="shard-tasks")

    async def stop(self) -> None:
        """stop ends every shard task and releases its claim, so a peer takes it at once."""
        metrics.FOLLOWER_SHARDS.remove(self._every_shard_stats)
        loop, self._loop_task = self._loop_task, None
        await cancel_and_wait(loop)
        for key in list(self.running):
            await self._stop(key, release=True)
        for _, remote in self._remotes.values():
            await remote.close()
        self._remotes.clear()

    def cancel_all(self) -> None:
        """cancel_all stops every task at once without writing (the session is lost)."""
        for running in self.running.values():
            running.task.cancel()
        self.running.clear()

    def shard_stats(self, indices: set[str]) -> list[pb.ShardFollowStats]:
        """shard_stats are the live stats of the tasks held here (of ``indices``, if any)."""
        return [
            r.follower.stats()
            for key, r in sorted(self.running.items())
            if not indices or key[0] in indices
        ]

    def _every_shard_stats(self) -> list[pb.ShardFollowStats]:
        return self.shard_stats(set())

    # The loop ------------------------------------------------------------------------

    async def _loop(self) -> None:
        await self.membership.each_session(self._watching, "shard task reconcile")

    async def _watching(self, session: Session) -> None:
        keys, client = self.ctx.keys, self.ctx.client
        prefixes = [keys.followers(), keys.claims(CLAIM_KIND), keys.replicators()]
        watches = [await client.watch_prefix(p.encode()) for p in prefixes]

        async def listen(watch: object) -> None:
            async for _ in watch:  # type: ignore[attr-defined]
                self._wake.set()

        listeners = [asyncio.create_task(listen(w)) for w in watches]
        try:
            while session.alive:
                self._wake.clear()
                await self._reconcile(session)
                for listener in listeners:
                    if listener.done():
                        listener.result()
                        raise ConnectionError("a replication watch ended")
                await wait_event(self._wake, self.interval)
        finally:
            for listener in listeners:
                listener.cancel()
            await asyncio.gather(*listeners, return_exceptions=True)
            for watch in watches:
                await cancel_watch(watch)

    async def _reconcile(self, session: Session) -> None:
        keys, client = self.ctx.keys, self.ctx.client
        followers = {
            kv.key.decode()[len(keys.followers()) :]: FollowerRecord.decode(
                kv.value, kv.mod_revision
            )
            for kv in await client.get_prefix(keys.followers().encode())
        }
        claims_prefix = keys.claims(CLAIM_KIND)
        claimed = {
            parse_claim_resource(kv.key.decode()[len(claims_prefix) :]): kv.value.decode()
            for kv in await client.get_prefix(claims_prefix.encode())
        }
        replicators = len(await client.get_prefix(keys.replicators().encode())) or 1
        wanted = {
            (index, shard): record
            for index, record in followers.items()
            if not record.paused
            for shard in range(record.shards)
        }
        for key, running in list(self.running.items()):
            record = wanted.get(key)
            if (
                record is None
                or record.follower.parameters.SerializeToString(deterministic=True)
                != running.parameters
            ):
                await self._stop(key, release=True)
            elif running.task.done():
                await self._stop(key, release=True)
        share = math.ceil(len(wanted) / replicators)
        free = [key for key in wanted if key not in claimed and key not in self.running]
        free.sort(key=self._preference)
        for key in list(self._unclaimed_rounds):
            if key not in free:
                del self._unclaimed_rounds[key]
        for key in free:
            self._unclaimed_rounds[key] = self._unclaimed_rounds.get(key, 0) + 1
            overdue = self._unclaimed_rounds[key] > 2
            if len(self.running) >= share and not overdue:
                continue
            if not session.alive:
                return
            await self._claim_and_start(session, key, wanted[key])

    def _preference(self, key: ShardKey) -> bytes:
        """_preference orders tasks differently on every replicator (rendezvous hashing)."""
        return hashlib.blake2b(f"{self.ctx.replicator_id}/{key[0]}/{key[1]}".encode()).digest()

    async def _claim_and_start(
        self, session: Session, key: ShardKey, record: FollowerRecord
    ) -> None:
        index, shard = key
        remote = await self._remote(record.follower.remote_cluster)
        if remote is None:
            return
        claim_key = self.ctx.keys.claim(CLAIM_KIND, claim_resource(index, shard))
        try:
            claim = await acquire(
                self.ctx.client, session, claim_key, self.ctx.replicator_id.encode()
            )
        except ClaimTaken:
            return
        follower = ShardFollower(self.ctx, record, shard, claim, remote)
        task = asyncio.create_task(self._run(key, follower), name=f"follow {index}[{shard}]")
        self.running[key] = Running(
            follower, task, record.follower.parameters.SerializeToString(deterministic=True)
        )
        self._unclaimed_rounds.pop(key, None)

    async def _run(self, key: ShardKey, follower: ShardFollower) -> None:
        try:
            await follower.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            raise_if_cancelling()
            log.exception(
                "shard task crashed", extra={"index": follower.index, "shard": follower.shard}
            )
        self._wake.set()  # reconcile: release the claim, maybe claim it again

    async def _stop(self, key: ShardKey, *, release: bool) -> None:
        running = self.running.pop(key, None)
        if running is None:
            return
        await cancel_and_wait(running.task)
        if release:
            await self._release(running.follower.claim)
        log.info("stopped shard task", extra={"index": key[0], "shard": key[1]})

    async def _release(self, claim: Claim) -> None:
        try:
            await claim.release(self.ctx.client)
        except Exception as exc:  # noqa: BLE001 — the lease expires it anyway
            raise_if_cancelling()
            log.warning("could not release a shard claim", extra={"error": repr(exc)})

    async def _remote(self, name: str) -> RemoteLeader | None:
        got = await self.ctx.client.get(self.ctx.keys.remote(name).encode())
        if got is None:
            log.warning("follower names an unknown remote cluster", extra={"remote": name})
            return None
        cached = self._remotes.get(name)
        if cached is not None and cached[0] == got.value:
            return cached[1]
        try:
            remote = RemoteLeader(decode_remote(got.value), tls=self.ctx.remote_tls)
        except FerryError as exc:
            log.warning("remote cluster unusable", extra={"remote": name, "error": str(exc)})
            return None
        if cached is not None:
            await cached[1].close()
        self._remotes[name] = (got.value, remote)
        return remote
