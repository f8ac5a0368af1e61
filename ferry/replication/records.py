"""Replication records as they live in the follower cluster's etcd.

- ``remotes/{name}``: a :class:`~ferry.v1.replication_pb2.RemoteCluster`
  (its token only ever as a reference), written by coordinators.
- ``followers/{index}``: a :class:`FollowerRecord`, written by coordinators
  (Follow, Pause, Resume, Unfollow) and by a shard task that meets a fatal
  error (it pauses the follower).
- ``follow-shards/{index}/{shard}``: a :class:`ShardRecord`, written by the
  replicator holding the shard's claim (guarded by its token), and by Resume
  to clear a fatal exception.
- ``claims/follow/{index}/{shard}``: the shard task's claim (value: the
  replicator id); its create revision is the fencing token, also the store
  fence of the follower shard's writes (scope :func:`fence_scope`).
- ``auto-follow/patterns/{name}``: an AutoFollowPattern;
  ``auto-follow/followed/{pattern}/{leader_index}``: leader indices a pattern
  has acted on, so that it never follows one twice (CCR keeps the same list).
- ``auto-follow/stats``: the AutoFollowStats the leader coordinator's
  auto-follow loop keeps.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from ferry.member import decode_info
from ferry.v1 import replication_pb2 as pb

CLAIM_KIND = "follow"
"""CLAIM_KIND is the claims/ sub-prefix follower shard claims live under."""

LEADER_INDEX_TEMPLATE = "{{leader_index}}"


def claim_resource(index: str, shard: int) -> str:
    """claim_resource names a follower shard under claims/follow/."""
    return f"{index}/{shard}"


def parse_claim_resource(resource: str) -> tuple[str, int]:
    index, _, shard = resource.rpartition("/")
    return index, int(shard)


def fence_scope(index: str, shard: int) -> str:
    """fence_scope is the store scope a follower shard's writes are fenced in."""
    return f"follow/{index}/{shard}"


def new_lease_id(follower_index: str) -> str:
    """new_lease_id names a follower's retention leases on the leader: unique per Follow,
    so that a follower index of the same name in another cluster never shares it."""
    return f"{follower_index}-{secrets.token_hex(6)}"


def encode_message(message: Message) -> bytes:
    """encode_message is a proto as its stored JSON (field names as in the .proto)."""
    record = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return json.dumps(record, sort_keys=True).encode()


def decode_remote(value: bytes) -> pb.RemoteCluster:
    return decode_info(value, pb.RemoteCluster())


def decode_pattern(value: bytes) -> pb.AutoFollowPattern:
    return decode_info(value, pb.AutoFollowPattern())


def decode_auto_follow_stats(value: bytes | None) -> pb.AutoFollowStats:
    """decode_auto_follow_stats reads the stats the leader's auto-follow loop keeps."""
    return decode_info(value, pb.AutoFollowStats()) if value else pb.AutoFollowStats()


@dataclass
class FollowerRecord:
    """FollowerRecord is a follower index: the API's Follower plus what replication needs.

    ``follower.parameters`` holds the effective parameters (defaults filled in).
    ``leader_created`` identifies the leader index Follow found (its creation
    time in epoch seconds): a leader index deleted and created again under the
    same name is another index, and its followers bootstrap again.
    """

    follower: pb.Follower
    shards: int
    lease_id: str
    leader_created: float
    revision: int = 0

    @property
    def paused(self) -> bool:
        return self.follower.status == pb.FOLLOWER_STATUS_PAUSED

    def encode(self) -> bytes:
        follower = pb.Follower()
        follower.CopyFrom(self.follower)
        follower.ClearField("revision")
        return json.dumps(
            {
                "follower": json_format.MessageToDict(follower, preserving_proto_field_name=True),
                "shards": self.shards,
                "lease_id": self.lease_id,
                "leader_created": self.leader_created,
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def decode(cls, value: bytes, mod_revision: int = 0) -> FollowerRecord:
        raw = json.loads(value)
        follower = json_format.ParseDict(raw["follower"], pb.Follower(), ignore_unknown_fields=True)
        follower.revision = mod_revision
        return cls(
            follower=follower,
            shards=int(raw["shards"]),
            lease_id=str(raw["lease_id"]),
            leader_created=float(raw.get("leader_created", 0.0)),
            revision=mod_revision,
        )


@dataclass
class ShardRecord:
    """ShardRecord is what a follower shard task keeps across owners and restarts.

    The follower checkpoint itself lives in the follower store, written in the
    same transaction as the operations; this is the rest: bootstrap history,
    which leader incarnation the shard copied, and a fatal exception.
    """

    bootstraps: int = 0
    last_bootstrap_time: float = 0.0
    last_bootstrap_reason: str = ""
    leader_created: float = 0.0
    """leader_created of the leader index the last bootstrap copied (0: none yet)."""
    fatal_exception: str = ""
    bootstrap_pending: str = ""
    """Why a bootstrap is due but not finished ("" when none): a new owner does it."""
    extra: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> bytes:
        return json.dumps(
            {
                **self.extra,
                "bootstraps": self.bootstraps,
                "last_bootstrap_time": self.last_bootstrap_time,
                "last_bootstrap_reason": self.last_bootstrap_reason,
                "leader_created": self.leader_created,
                "fatal_exception": self.fatal_exception,
                "bootstrap_pending": self.bootstrap_pending,
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def decode(cls, value: bytes | None) -> ShardRecord:
        if not value:
            return cls()
        raw = dict(json.loads(value))
        return cls(
            bootstraps=int(raw.pop("bootstraps", 0)),
            last_bootstrap_time=float(raw.pop("last_bootstrap_time", 0.0)),
            last_bootstrap_reason=str(raw.pop("last_bootstrap_reason", "")),
            leader_created=float(raw.pop("leader_created", 0.0)),
            fatal_exception=str(raw.pop("fatal_exception", "")),
            bootstrap_pending=str(raw.pop("bootstrap_pending", "")),
            extra=raw,
        )


def follower_index_name(template: str, leader_index: str) -> str:
    """follower_index_name applies an auto-follow pattern's template to a leader index."""
    return (template or LEADER_INDEX_TEMPLATE).replace(LEADER_INDEX_TEMPLATE, leader_index)
