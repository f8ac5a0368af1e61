"""Follower indices: Follow, Pause, Resume, Unfollow and the records behind them.

The coordinators keep the desired state (``followers/{index}``, a
FollowerRecord); the replicators of this cluster claim a task per shard of
every ACTIVE follower and stop it when the follower is paused or gone. Every
record write compares the record's modification revision, so two replicas
(or a replicator pausing on a fatal error) never overwrite each other.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import aetcd
import grpc

from ferry.errors import (
    Aborted,
    AlreadyExists,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from ferry.etcd import Keys, prefix_end
from ferry.member import now_timestamp
from ferry.names import check_label, dns1123_label_error, index_name_error
from ferry.replication import params
from ferry.replication.records import CLAIM_KIND, FollowerRecord, ShardRecord, new_lease_id
from ferry.store import IndexSpec, LeaderInfo, Store, proto
from ferry.tasks import raise_if_cancelling
from ferry.v1 import indices_pb2
from ferry.v1 import leader_replication_pb2 as leader_pb
from ferry.v1 import replication_pb2 as pb
from services.coordinator.indices_servicer import NoIndexStore
from services.coordinator.remotes import (
    RemoteClusters,
    RemoteRefused,
    remote_error,
)

log = logging.getLogger(__name__)

RESOURCE = "follower index"
RELEASE_WAIT = 15.0
"""RELEASE_WAIT bounds how long Unfollow waits for the shard tasks to let go of their
claims: longer than the default session TTL, so a dead replicator's claims expire."""
RELEASE_POLL = 0.1
LEASE_REMOVAL_SECONDS = 5.0
"""LEASE_REMOVAL_SECONDS bounds Unfollow's best-effort removal of the leader's leases."""
_RETRIES = 8
_PARALLEL_CALLS = 16


def _check_follow(request: pb.FollowRequest) -> None:
    found: list[FieldViolation] = []
    for field, error in (
        ("follower_index", index_name_error(request.follower_index)),
        ("remote_cluster", dns1123_label_error(request.remote_cluster)),
        ("leader_index", index_name_error(request.leader_index)),
    ):
        if error is not None:
            found.append(FieldViolation(field, error))
    found += params.violations(request.parameters, "parameters")
    if found:
        raise InvalidArgument.fields(found)


def _epoch_seconds(index: indices_pb2.Index) -> float:
    return index.create_time.ToMicroseconds() / 1e6


def follower_spec(name: str, remote: str, leader: indices_pb2.Index) -> IndexSpec:
    """follower_spec is the follower index of a leader index: same shards and schema."""
    if leader.shard_count < 1:
        raise RemoteRefused(remote, f"leader index {leader.name!r} reports no shards")
    try:
        schema = proto.schema_from_proto(leader.schema, "schema")
    except InvalidArgument as exc:
        raise RemoteRefused(remote, f"leader index {leader.name!r}: {exc}") from None
    return IndexSpec(
        name=name,
        shards=leader.shard_count,
        schema=schema,
        leader=LeaderInfo(remote_cluster=remote, leader_index=leader.name),
    )


class Followers:
    """Followers manages follower records in etcd and follower indices in the store."""

    def __init__(
        self, client: aetcd.Client, keys: Keys, remotes: RemoteClusters, store: Store | None
    ) -> None:
        self._client = client
        self._keys = keys
        self._remotes = remotes
        self._configured = store

    @property
    def store(self) -> Store:
        if self._configured is None:
            raise NoIndexStore()
        return self._configured

    # Reading ----------------------------------------------------------------

    async def get(self, name: str, field: str = "follower_index") -> FollowerRecord:
        proto.index_name(name, field)
        got = await self._client.get(self._keys.follower(name).encode())
        if got is None:
            raise NotFound(RESOURCE, name)
        return FollowerRecord.decode(got.value, got.mod_revision)

    async def records(self) -> list[FollowerRecord]:
        """records are every follower record, in index name order."""
        result = await self._client.get_prefix(self._keys.followers().encode())
        found = [FollowerRecord.decode(kv.value, kv.mod_revision) for kv in result]
        return sorted(found, key=lambda r: r.follower.follower_index)

    async def followers(self, remote_cluster: str = "") -> list[pb.Follower]:
        if remote_cluster:
            check_label(remote_cluster, "remote_cluster")
        return [
            r.follower
            for r in await self.records()
            if not remote_cluster or r.follower.remote_cluster == remote_cluster
        ]

    # Follow -------------------------------------------------------------------

    async def follow(self, request: pb.FollowRequest, *, pattern: str = "") -> pb.Follower:
        """follow creates the follower record, then the follower index; ``pattern`` names
        the auto-follow pattern acting, if any."""
        _check_follow(request)
        store = self.store
        name = request.follower_index
        remote = await self._remotes.get(request.remote_cluster, "remote_cluster")
        await self._refuse_existing(name)
        leader = await self._leader_index(remote, request.leader_index)
        spec = follower_spec(name, remote.name, leader)
        follower = pb.Follower(
            follower_index=name,
            remote_cluster=remote.name,
            leader_index=request.leader_index,
            parameters=params.effective(request.parameters).to_proto(),
            status=pb.FOLLOWER_STATUS_ACTIVE,
            auto_follow_pattern=pattern,
            create_time=now_timestamp(),
        )
        record = FollowerRecord(
            follower=follower,
            shards=spec.shards,
            lease_id=new_lease_id(name),
            leader_created=_epoch_seconds(leader),
        )
        revision = await self._create(record)
        try:
            await store.create_index(spec)
        except BaseException:
            await asyncio.shield(self._forget(name, revision))
            raise
        follower.revision = revision
        return follower

    async def _refuse_existing(self, name: str) -> None:
        if await self._client.get(self._keys.follower(name).encode()) is not None:
            raise AlreadyExists(RESOURCE, name)
        try:
            await self.store.get_index(name)
        except NotFound:
            return
        raise AlreadyExists("index", name)

    async def _leader_index(self, remote: pb.RemoteCluster, name: str) -> indices_pb2.Index:
        try:
            index: indices_pb2.Index = await self._remotes.call(
                remote, "GetIndex", leader_pb.GetLeaderIndexRequest(name=name)
            )
        except grpc.aio.AioRpcError:  # the call lets only NOT_FOUND through
            raise NotFound("leader index", f"{remote.name}:{name}") from None
        return index

    async def _create(self, record: FollowerRecord) -> int:
        """_create stores a new record while the remote it names still exists."""
        name, remote = record.follower.follower_index, record.follower.remote_cluster
        key, remote_key = self._keys.follower(name), self._keys.remote(remote)
        tx = self._client.transactions
        ok, responses = await self._client.transaction(
            compare=[tx.create(key.encode()) == 0, tx.version(remote_key.encode()) > 0],
            success=[tx.put(key.encode(), record.encode())],
            failure=[tx.get(key.encode())],
        )
        if not ok:
            if responses[0]:
                raise AlreadyExists(RESOURCE, name)
            raise NotFound("remote cluster", remote)
        return int(responses[0].response_put.header.revision)

    async def _forget(self, name: str, revision: int) -> None:
        tx = self._client.transactions
        key = self._keys.follower(name).encode()
        await self._client.transaction(
            compare=[tx.mod(key) == revision], success=[tx.delete(key)], failure=[]
        )

    # Pause and Resume -----------------------------------------------------------

    async def _change(self, name: str, change: Callable[[FollowerRecord], bool]) -> FollowerRecord:
        """_change applies ``change`` (True when it changed the record) and stores the record,
        comparing its revision and reading again after a lost race."""
        key = self._keys.follower(name).encode()
        tx = self._client.transactions
        for _ in range(_RETRIES):
            record = await self.get(name)
            if not change(record):
                return record
            ok, responses = await self._client.transaction(
                compare=[tx.mod(key) == record.revision],
                success=[tx.put(key, record.encode())],
                failure=[],
            )
            if ok:
                record.revision = responses[0].response_put.header.revision
                record.follower.revision = record.revision
                return record
        raise Aborted(f"follower index {name!r}", 0, 0)

    async def pause(self, name: str) -> pb.Follower:
        """pause stops replication; the leader's retention leases stay until they expire."""
        return (await self._change(name, _set_status(pb.FOLLOWER_STATUS_PAUSED))).follower

    async def resume(self, name: str, update: pb.FollowParameters) -> pb.Follower:
        """resume clears fatal exceptions and restarts replication; ``update``'s set fields
        replace the current parameters."""
        proto.index_name(name, "follower_index")
        params.check(update, "parameters")
        # No record, no shard records: _change then says NotFound.
        await self._clear_fatal(name)

        def resumed(record: FollowerRecord) -> bool:
            before = record.follower.SerializeToString(deterministic=True)
            record.follower.status = pb.FOLLOWER_STATUS_ACTIVE
            merged = params.merged(record.follower.parameters, update).to_proto()
            record.follower.parameters.CopyFrom(merged)
            return record.follower.SerializeToString(deterministic=True) != before

        return (await self._change(name, resumed)).follower

    async def _clear_fatal(self, name: str) -> None:
        """_clear_fatal empties fatal_exception in every shard record of the index."""
        tx = self._client.transactions
        for _ in range(_RETRIES):
            result = await self._client.get_prefix(self._keys.follow_shards(name).encode())
            lost = False
            for kv in result:
                shard = ShardRecord.decode(kv.value)
                if not shard.fatal_exception:
                    continue
                shard.fatal_exception = ""
                ok, _ = await self._client.transaction(
                    compare=[tx.mod(kv.key) == kv.mod_revision],
                    success=[tx.put(kv.key, shard.encode())],
                    failure=[],
                )
                lost = lost or not ok
            if not lost:
                return
        raise Aborted(f"follower index {name!r} shard records", 0, 0)

    # Unfollow -------------------------------------------------------------------

    async def unfollow(self, name: str) -> indices_pb2.Index:
        """unfollow turns the follower into an ordinary index.

        It pauses the follower first and waits for its shard tasks to let go,
        so a failure midway leaves a paused follower that Unfollow can finish
        later; only then is the index promoted and the record deleted.
        """
        proto.index_name(name, "follower_index")
        store = self.store
        record = await self._change(name, _set_status(pb.FOLLOWER_STATUS_PAUSED))
        await self._wait_released(name)
        try:
            info = await store.promote(name)
        except NotFound:
            await self._delete_record(name)  # the index was deleted: nothing to promote
            raise
        await self._remove_leases(record)
        await self._delete_record(name)
        stats = await store.shard_stats(name)
        return proto.index_to_proto(info, sum(s.docs for s in stats))

    async def _wait_released(self, name: str) -> None:
        prefix = self._keys.claim(CLAIM_KIND, f"{name}/").encode()
        deadline = time.monotonic() + RELEASE_WAIT
        while await self._client.get_prefix(prefix, keys_only=True):
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"follower index {name!r}: its shard tasks still hold their claims after "
                    f"{RELEASE_WAIT:.0f}s; it stays paused, try Unfollow again"
                )
            await asyncio.sleep(RELEASE_POLL)

    async def _delete_record(self, name: str) -> None:
        tx = self._client.transactions
        shards = self._keys.follow_shards(name)
        await self._client.transaction(
            compare=[],
            success=[
                tx.delete(self._keys.follower(name).encode()),
                tx.delete(shards.encode(), prefix_end(shards)),
            ],
            failure=[],
        )

    async def _remove_leases(self, record: FollowerRecord) -> None:
        """_remove_leases drops the follower's retention leases on the leader, best effort:
        what is left expires by itself (12 h by default)."""
        follower = record.follower
        try:
            remote = await self._remotes.get(follower.remote_cluster)
        except NotFound as exc:
            _leases_left(follower, exc)
            return
        leader = self._remotes.dial(remote)
        limit = asyncio.Semaphore(_PARALLEL_CALLS)

        async def remove(shard: int) -> None:
            request = leader_pb.RemoveRetentionLeaseRequest(
                leader_index=follower.leader_index, shard=shard, lease_id=record.lease_id
            )
            async with limit:
                await leader.call("RemoveRetentionLease", request, deadline=2.0)

        try:
            async with asyncio.timeout(LEASE_REMOVAL_SECONDS):
                await asyncio.gather(*(remove(shard) for shard in range(record.shards)))
        except Exception as exc:  # noqa: BLE001 — best effort: say what failed and go on
            raise_if_cancelling()
            _leases_left(follower, remote_error(remote.name, "RemoveRetentionLease", exc))
        finally:
            await leader.close()


def _leases_left(follower: pb.Follower, error: BaseException) -> None:
    log.warning(
        "retention leases on the leader not removed; they expire by themselves",
        extra={"follower_index": follower.follower_index, "error": str(error)},
    )


def _set_status(status: pb.FollowerStatus) -> Callable[[FollowerRecord], bool]:
    def change(record: FollowerRecord) -> bool:
        if record.follower.status == status:
            return False
        record.follower.status = status
        return True

    return change
