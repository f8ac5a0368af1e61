"""Replication.Stats: per-shard follower stats gathered from the replicators holding them.

Each shard task's live counters are in the replicator that holds its claim
(``claims/follow/{index}/{shard}``, value: the replicator id), which answers
Replicator.ShardStats. Every holder is asked once, all in parallel under a
short deadline. A shard nobody reports is UNASSIGNED (PAUSED when its
follower is paused), with what the coordinator knows itself: the follower
store's checkpoints and the shard record's bootstraps and fatal exception.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

import aetcd
import grpc

from ferry.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from ferry.etcd import Keys
from ferry.member import decode_info
from ferry.names import index_name_error
from ferry.replication.records import (
    CLAIM_KIND,
    FollowerRecord,
    ShardRecord,
    decode_auto_follow_stats,
    fence_scope,
    parse_claim_resource,
)
from ferry.security import Security
from ferry.store import NO_OPS, ShardSeqNos, proto
from ferry.v1 import common_pb2, replicator_pb2, replicator_pb2_grpc
from ferry.v1 import replication_pb2 as pb
from services.coordinator.followers import Followers

log = logging.getLogger(__name__)

ASK_SECONDS = 2.0
"""ASK_SECONDS bounds the call to each replicator; a late one's shards show as unassigned."""
MAX_REQUESTED = 1000

Shard = tuple[str, int]


def _check_requested(names: list[str]) -> None:
    if len(names) > MAX_REQUESTED:
        raise InvalidArgument.field("follower_indices", f"at most {MAX_REQUESTED} indices")
    found = [
        FieldViolation(f"follower_indices[{i}]", error)
        for i, name in enumerate(names)
        if (error := index_name_error(name)) is not None
    ]
    if found:
        raise InvalidArgument.fields(found)


class FollowStats:
    """FollowStats answers Replication.Stats on any coordinator replica."""

    def __init__(
        self, client: aetcd.Client, keys: Keys, followers: Followers, security: Security
    ) -> None:
        self._client = client
        self._keys = keys
        self._followers = followers
        self._security = security

    async def stats(self, names: list[str]) -> pb.FollowStatsResponse:
        """stats covers ``names`` (every follower when empty); NotFound names a missing one."""
        _check_requested(names)
        records = {r.follower.follower_index: r for r in await self._followers.records()}
        for name in names:
            if name not in records:
                raise NotFound("follower index", name)
        # In the order asked (each once), else every follower in name order.
        chosen = [records[n] for n in dict.fromkeys(names)] if names else list(records.values())
        holders = await self._holders({r.follower.follower_index for r in chosen})
        reported = await self._ask(holders)
        shard_records = await self._shard_records()
        response = pb.FollowStatsResponse()
        for record in chosen:
            response.followers.append(
                await self._follower_stats(record, holders, reported, shard_records)
            )
        got = await self._client.get(self._keys.auto_follow_stats().encode())
        response.auto_follow.CopyFrom(decode_auto_follow_stats(got.value if got else None))
        return response

    async def _holders(self, indices: set[str]) -> dict[Shard, tuple[str, int]]:
        """_holders maps each claimed shard of ``indices`` to (replicator id, fencing token)."""
        prefix = self._keys.claims(CLAIM_KIND)
        result = await self._client.get_prefix(prefix.encode())
        held: dict[Shard, tuple[str, int]] = {}
        for kv in result:
            try:
                shard = parse_claim_resource(kv.key.decode().removeprefix(prefix))
            except ValueError:
                continue
            if shard[0] in indices:
                held[shard] = (kv.value.decode(errors="replace"), kv.create_revision)
        return held

    async def _ask(self, holders: dict[Shard, tuple[str, int]]) -> dict[Shard, pb.ShardFollowStats]:
        """_ask gets the live stats of every held shard from its holder, in parallel."""
        wanted: dict[str, set[str]] = defaultdict(set)
        for (index, _), (replicator, _) in holders.items():
            wanted[replicator].add(index)
        answers = await asyncio.gather(
            *(self._ask_one(r, sorted(indices)) for r, indices in wanted.items())
        )
        reported: dict[Shard, pb.ShardFollowStats] = {}
        for replicator, shards in zip(wanted, answers, strict=True):
            for shard in shards:
                key = (shard.follower_index, shard.shard)
                holder = holders.get(key)
                if holder is not None and holder[0] == replicator:
                    reported[key] = shard
        return reported

    async def _ask_one(self, replicator: str, indices: list[str]) -> list[pb.ShardFollowStats]:
        got = await self._client.get(self._keys.replicator(replicator).encode())
        if got is None:
            return []
        address = decode_info(got.value, common_pb2.ReplicatorInfo()).address
        if not address:
            return []
        try:
            async with self._security.channel(address) as channel:
                stub = replicator_pb2_grpc.ReplicatorStub(channel)
                response = await stub.ShardStats(
                    replicator_pb2.ShardStatsRequest(follower_indices=indices),
                    timeout=ASK_SECONDS,
                )
        except grpc.aio.AioRpcError as exc:
            log.info(
                "replicator did not report shard stats",
                extra={"replicator": replicator, "error": f"{exc.code().name}: {exc.details()}"},
            )
            return []
        return list(response.shards)

    async def _shard_records(self) -> dict[Shard, ShardRecord]:
        prefix = self._keys.all_follow_shards()
        result = await self._client.get_prefix(prefix.encode())
        found: dict[Shard, ShardRecord] = {}
        for kv in result:
            try:
                shard = parse_claim_resource(kv.key.decode().removeprefix(prefix))
            except ValueError:
                continue
            found[shard] = ShardRecord.decode(kv.value)
        return found

    async def _store_seq_nos(self, index: str, shard: int) -> ShardSeqNos | None:
        """_store_seq_nos is where the follower store's shard stands, without counting its
        documents (shard_stats does, on PostgreSQL); None without that index or shard."""
        try:
            return await self._followers.store.shard_seq_nos(index, shard)
        except (NotFound, FailedPrecondition, InvalidArgument):  # no index, store or shard
            return None

    async def _follower_stats(
        self,
        record: FollowerRecord,
        holders: dict[Shard, tuple[str, int]],
        reported: dict[Shard, pb.ShardFollowStats],
        shard_records: dict[Shard, ShardRecord],
    ) -> pb.FollowerStats:
        follower = record.follower
        name = follower.follower_index
        stats = pb.FollowerStats(
            follower_index=name,
            remote_cluster=follower.remote_cluster,
            leader_index=follower.leader_index,
            status=follower.status,
        )
        for shard in range(record.shards):
            key = (name, shard)
            live = pb.ShardFollowStats()
            if key in reported:
                live.CopyFrom(reported[key])
            else:
                live.state = (
                    pb.SHARD_FOLLOW_STATE_PAUSED
                    if record.paused
                    else pb.SHARD_FOLLOW_STATE_UNASSIGNED
                )
                live.leader_global_checkpoint = NO_OPS
                live.leader_max_seq_no = NO_OPS
                live.last_requested_seq_no = NO_OPS
                local = await self._store_seq_nos(name, shard)
                live.follower_global_checkpoint = local.global_checkpoint if local else NO_OPS
                live.follower_max_seq_no = local.max_seq_no if local else NO_OPS
            _fill(live, follower, shard, holders.get(key), shard_records.get(key))
            stats.shards.append(live)
        return stats


def _fill(
    live: pb.ShardFollowStats,
    follower: pb.Follower,
    shard: int,
    holder: tuple[str, int] | None,
    record: ShardRecord | None,
) -> None:
    """_fill adds what the coordinator knows to a shard's stats, leaving reported values."""
    live.remote_cluster = follower.remote_cluster
    live.leader_index = follower.leader_index
    live.follower_index = follower.follower_index
    live.shard = shard
    if holder is not None and not live.replicator_id:
        live.replicator_id = holder[0]
        live.fencing_token.CopyFrom(
            common_pb2.FencingToken(
                scope=fence_scope(follower.follower_index, shard), token=holder[1]
            )
        )
    if record is None:
        return
    if not live.fatal_exception:
        live.fatal_exception = record.fatal_exception
    if not live.bootstraps:
        live.bootstraps = record.bootstraps
    if not live.HasField("last_bootstrap_time") and record.last_bootstrap_time:
        live.last_bootstrap_time.CopyFrom(proto.timestamp(record.last_bootstrap_time))
    if not live.last_bootstrap_reason:
        live.last_bootstrap_reason = record.last_bootstrap_reason
