"""Auto-follow patterns in etcd, and the leader loop that follows matching leader indices.

A pattern (``auto-follow/patterns/{name}``) names a remote cluster, globs
over its leader indices, exclusions and a follower name template. Every
round, the leader coordinator lists each remote's indices and follows those
a pattern matches and has not acted on yet (``auto-follow/followed/{pattern}/
{leader_index}``, written after a follow succeeds or finds the follower
already there, so no leader index is followed twice). A failure is counted,
kept among the recent errors and tried again after a delay that doubles with
each failure (up to a minute, jittered). The counters live
at ``auto-follow/stats``; every loop write is guarded by the election.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from fnmatch import fnmatchcase

import aetcd
import grpc
from google.protobuf import timestamp_pb2

from ferry.errors import (
    Aborted,
    AlreadyExists,
    FerryError,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from ferry.etcd import Keys, prefix_end
from ferry.member import now_timestamp
from ferry.names import check_label, dns1123_label_error, index_name_error
from ferry.replication import params
from ferry.replication.records import (
    LEADER_INDEX_TEMPLATE,
    decode_auto_follow_stats,
    decode_pattern,
    encode_message,
    follower_index_name,
)
from ferry.tasks import backoff, raise_if_cancelling
from ferry.v1 import indices_pb2
from ferry.v1 import leader_replication_pb2 as leader_pb
from ferry.v1 import replication_pb2 as pb
from services.coordinator.followers import Followers
from services.coordinator.indices_servicer import MAX_PATTERN_CHARS
from services.coordinator.leader import Leadership, ManagementLoop
from services.coordinator.remotes import RemoteClusters, remote_error

log = logging.getLogger(__name__)

RESOURCE = "auto-follow pattern"
MAX_GLOBS = 32
"""MAX_GLOBS bounds a pattern's leader index patterns, and its exclusions."""
MAX_TEMPLATE_CHARS = 255
MAX_RECENT_ERRORS = 16
RETRY_FIRST_DELAY = 2.0
RETRY_MAX_DELAY = 60.0
"""A failed follow is tried again after :func:`ferry.tasks.backoff` of these."""
LIST_SECONDS = 5.0
"""LIST_SECONDS bounds one round's ListIndices on a remote cluster."""
_RETRIES = 8


def _globs(globs: list[str], path: str, *, required: bool) -> list[FieldViolation]:
    if not globs:
        return [FieldViolation(path, "needs at least one glob")] if required else []
    if len(globs) > MAX_GLOBS:
        return [FieldViolation(path, f"at most {MAX_GLOBS} globs")]
    found = []
    for i, glob in enumerate(globs):
        if not glob:
            found.append(FieldViolation(f"{path}[{i}]", "must not be empty"))
        elif len(glob) > MAX_PATTERN_CHARS:
            found.append(
                FieldViolation(f"{path}[{i}]", f"must be at most {MAX_PATTERN_CHARS} characters")
            )
    return found


def template_error(template: str) -> str | None:
    """template_error explains why a follower index template cannot name follower indices."""
    if not template:
        return None
    if len(template) > MAX_TEMPLATE_CHARS:
        return f"must be at most {MAX_TEMPLATE_CHARS} characters"
    if LEADER_INDEX_TEMPLATE not in template:
        return f"must contain {LEADER_INDEX_TEMPLATE}, or every leader index gets the same name"
    if (problem := index_name_error(follower_index_name(template, "a"))) is not None:
        return f"does not make an index name: {problem}"
    return None


def check_pattern(pattern: pb.AutoFollowPattern, path: str = "pattern") -> None:
    """check_pattern raises InvalidArgument naming every bad field of a pattern."""
    found: list[FieldViolation] = []
    for field in ("name", "remote_cluster"):
        if (problem := dns1123_label_error(getattr(pattern, field))) is not None:
            found.append(FieldViolation(f"{path}.{field}", problem))
    found += _globs(list(pattern.leader_index_patterns), f"{path}.leader_index_patterns",
                    required=True)  # fmt: skip
    found += _globs(
        list(pattern.leader_index_exclusion_patterns),
        f"{path}.leader_index_exclusion_patterns",
        required=False,
    )
    if (problem := template_error(pattern.follower_index_template)) is not None:
        found.append(FieldViolation(f"{path}.follower_index_template", problem))
    found += params.violations(pattern.parameters, f"{path}.parameters")
    if found:
        raise InvalidArgument.fields(found)


def matches(pattern: pb.AutoFollowPattern, leader_index: str) -> bool:
    """matches says the pattern wants leader_index: some glob matches and no exclusion does."""
    return any(fnmatchcase(leader_index, g) for g in pattern.leader_index_patterns) and not any(
        fnmatchcase(leader_index, g) for g in pattern.leader_index_exclusion_patterns
    )


@dataclass
class StoredPattern:
    """StoredPattern is a pattern with its record's modification revision."""

    pattern: pb.AutoFollowPattern
    revision: int


class AutoFollowPatterns:
    """AutoFollowPatterns is the pattern registry in etcd."""

    def __init__(self, client: aetcd.Client, keys: Keys) -> None:
        self._client = client
        self._keys = keys

    async def put(self, pattern: pb.AutoFollowPattern) -> pb.AutoFollowPattern:
        """put creates or replaces a pattern (keeping its create_time) of an existing remote."""
        check_pattern(pattern)
        key = self._keys.auto_follow_pattern(pattern.name).encode()
        remote_key = self._keys.remote(pattern.remote_cluster).encode()
        tx = self._client.transactions
        for _ in range(_RETRIES):
            got = await self._client.get(key)
            stored = pb.AutoFollowPattern()
            stored.CopyFrom(pattern)
            if got is None:
                stored.create_time.CopyFrom(now_timestamp())
                unchanged = tx.create(key) == 0
            else:
                stored.create_time.CopyFrom(decode_pattern(got.value).create_time)
                unchanged = tx.mod(key) == got.mod_revision
            ok, _ = await self._client.transaction(
                compare=[unchanged, tx.version(remote_key) > 0],
                success=[tx.put(key, encode_message(stored))],
                failure=[],
            )
            if ok:
                return stored
            if await self._client.get(remote_key) is None:
                raise NotFound("remote cluster", pattern.remote_cluster)
        raise Aborted(f"auto-follow pattern {pattern.name!r}", 0, 0)

    async def delete(self, name: str) -> None:
        """delete removes the pattern and its list of followed leader indices."""
        check_label(name, "name")
        key = self._keys.auto_follow_pattern(name).encode()
        followed = self._keys.auto_followed(name)
        tx = self._client.transactions
        ok, _ = await self._client.transaction(
            compare=[tx.version(key) > 0],
            success=[tx.delete(key), tx.delete(followed.encode(), prefix_end(followed))],
            failure=[],
        )
        if not ok:
            raise NotFound(RESOURCE, name)

    async def stored(self) -> list[StoredPattern]:
        """stored is every pattern in name order, with its revision."""
        result = await self._client.get_prefix(self._keys.auto_follow_patterns().encode())
        found = [StoredPattern(decode_pattern(kv.value), kv.mod_revision) for kv in result]
        return sorted(found, key=lambda s: s.pattern.name)

    async def patterns(self) -> list[pb.AutoFollowPattern]:
        return [s.pattern for s in await self.stored()]


def _epoch(stamp: timestamp_pb2.Timestamp) -> float:
    return stamp.ToMicroseconds() / 1e6


class AutoFollower:
    """AutoFollower runs auto-follow rounds for one term of leadership."""

    def __init__(
        self,
        leadership: Leadership,
        patterns: AutoFollowPatterns,
        remotes: RemoteClusters,
        followers: Followers,
    ) -> None:
        self._leadership = leadership
        self._patterns = patterns
        self._remotes = remotes
        self._followers = followers
        self.stats = pb.AutoFollowStats()
        self._saved = b""
        self._retry_at: dict[tuple[str, str], tuple[int, float]] = {}
        """(pattern, leader index) of failed follows: failures so far, monotonic time to retry."""

    @property
    def _client(self) -> aetcd.Client:
        return self._leadership.client

    @property
    def _keys(self) -> Keys:
        return self._leadership.keys

    async def load(self) -> None:
        """load continues the counters of the previous leader."""
        got = await self._client.get(self._keys.auto_follow_stats().encode())
        self._saved = got.value if got else b""
        self.stats = decode_auto_follow_stats(self._saved)

    async def round(self) -> None:
        """round follows every new matching leader index of every active pattern once."""
        by_remote: dict[str, list[StoredPattern]] = defaultdict(list)
        every = await self._patterns.stored()
        names = {stored.pattern.name for stored in every}
        self._retry_at = {k: v for k, v in self._retry_at.items() if k[0] in names}
        for stored in every:
            if not stored.pattern.paused:
                by_remote[stored.pattern.remote_cluster].append(stored)
        # Every remote at once: an unreachable one takes up to LIST_SECONDS.
        async with asyncio.TaskGroup() as group:
            listings = [
                group.create_task(self._leader_indices(remote_name, patterns))
                for remote_name, patterns in by_remote.items()
            ]
        for patterns, listing in zip(by_remote.values(), listings, strict=True):
            for stored in patterns:
                await self._follow_new(stored, listing.result())
        await self._save()

    async def _leader_indices(
        self, remote_name: str, group: list[StoredPattern]
    ) -> list[indices_pb2.Index]:
        try:
            remote = await self._remotes.get(remote_name)
            listing = await self._remotes.call(
                remote, "ListIndices", leader_pb.ListLeaderIndicesRequest(), within=LIST_SECONDS
            )
        except (FerryError, grpc.aio.AioRpcError) as exc:
            error = (
                exc
                if isinstance(exc, FerryError)
                else remote_error(remote_name, "ListIndices", exc)
            )
            self.stats.number_of_failed_remote_cluster_state_requests += 1
            for stored in group:
                self._error(stored.pattern.name, "", f"remote cluster state: {error}")
            return []
        return sorted(listing.indices, key=lambda i: i.name)

    async def _follow_new(self, stored: StoredPattern, indices: list[indices_pb2.Index]) -> None:
        pattern = stored.pattern
        prefix = self._keys.auto_followed(pattern.name)
        result = await self._client.get_prefix(prefix.encode(), keys_only=True)
        followed = {kv.key.decode().removeprefix(prefix) for kv in result}
        created = _epoch(pattern.create_time)
        for index in indices:
            if index.name in followed or not matches(pattern, index.name):
                continue
            if not pattern.follow_existing and _epoch(index.create_time) < created:
                continue
            if not self._due(pattern.name, index.name):
                continue
            if await self._follow(pattern, index.name):
                await self._record(stored, index.name)

    async def _already_following(self, request: pb.FollowRequest) -> bool:
        """_already_following says the follower name is taken by a follower of this very
        leader index (followed before), not by another follower or an ordinary index."""
        try:
            record = await self._followers.get(request.follower_index)
        except NotFound:
            return False
        current = record.follower
        return (current.remote_cluster, current.leader_index) == (
            request.remote_cluster,
            request.leader_index,
        )

    async def _follow(self, pattern: pb.AutoFollowPattern, leader_index: str) -> bool:
        """_follow follows one leader index; True when it is followed (now or before)."""
        request = pb.FollowRequest(
            follower_index=follower_index_name(pattern.follower_index_template, leader_index),
            remote_cluster=pattern.remote_cluster,
            leader_index=leader_index,
            parameters=pattern.parameters,
        )
        try:
            try:
                await self._followers.follow(request, pattern=pattern.name)
            except AlreadyExists:
                if not await self._already_following(request):
                    raise
                self._retry_at.pop((pattern.name, leader_index), None)
                return True
        except Exception as exc:  # noqa: BLE001 — counted, kept, tried again later
            raise_if_cancelling()
            self._back_off(pattern.name, leader_index)
            self.stats.number_of_failed_follow_indices += 1
            self._error(pattern.name, leader_index, str(exc))
            log.warning(
                "auto-follow failed",
                extra={"pattern": pattern.name, "leader_index": leader_index, "error": str(exc)},
            )
            return False
        self._retry_at.pop((pattern.name, leader_index), None)
        self.stats.number_of_successful_follow_indices += 1
        log.info(
            "auto-followed",
            extra={
                "pattern": pattern.name,
                "leader_index": leader_index,
                "follower_index": request.follower_index,
            },
        )
        return True

    def _due(self, pattern: str, leader_index: str) -> bool:
        """_due says a follow that failed before has waited out its delay (or never failed)."""
        entry = self._retry_at.get((pattern, leader_index))
        return entry is None or time.monotonic() >= entry[1]

    def _back_off(self, pattern: str, leader_index: str) -> None:
        failures = self._retry_at.get((pattern, leader_index), (0, 0.0))[0] + 1
        delay = backoff(failures, RETRY_FIRST_DELAY, RETRY_MAX_DELAY)
        self._retry_at[(pattern, leader_index)] = (failures, time.monotonic() + delay)

    async def _record(self, stored: StoredPattern, leader_index: str) -> None:
        """_record notes the leader index as followed, while the pattern is unchanged."""
        name = stored.pattern.name
        tx = self._client.transactions
        key = (self._keys.auto_followed(name) + leader_index).encode()
        pattern_key = self._keys.auto_follow_pattern(name).encode()
        await self._client.transaction(
            compare=[self._leadership.election.guard(), tx.mod(pattern_key) == stored.revision],
            success=[tx.put(key, b"")],
            failure=[],
        )

    def _error(self, pattern: str, leader_index: str, error: str) -> None:
        """_error keeps the newest error per (pattern, leader index), newest first, bounded."""
        recent = [
            e
            for e in self.stats.recent_auto_follow_errors
            if (e.auto_follow_pattern, e.leader_index) != (pattern, leader_index)
        ]
        entry = pb.AutoFollowError(
            auto_follow_pattern=pattern,
            leader_index=leader_index,
            error=error,
            time=now_timestamp(),
        )
        del self.stats.recent_auto_follow_errors[:]
        self.stats.recent_auto_follow_errors.extend([entry, *recent][:MAX_RECENT_ERRORS])

    async def _save(self) -> None:
        value = encode_message(self.stats)
        if value == self._saved:
            return
        ok, _ = await self._client.transaction(
            compare=[self._leadership.election.guard()],
            success=[self._client.transactions.put(self._keys.auto_follow_stats().encode(), value)],
            failure=[],
        )
        if ok:
            self._saved = value


def auto_follow_loop(
    patterns: AutoFollowPatterns,
    remotes: RemoteClusters,
    followers: Followers,
    *,
    interval: float = 1.0,
) -> ManagementLoop:
    """auto_follow_loop runs an auto-follow round every ``interval`` seconds while leading."""

    async def auto_follow(leadership: Leadership) -> None:
        follower = AutoFollower(leadership, patterns, remotes, followers)
        await follower.load()
        while True:
            await follower.round()
            await asyncio.sleep(interval)

    return auto_follow
