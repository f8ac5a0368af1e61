"""ferry.v1.Replication: translates protobuf to follower, remote and pattern calls."""

from __future__ import annotations

import grpc

from ferry.errors import InvalidArgument
from ferry.v1 import indices_pb2, replication_pb2_grpc
from ferry.v1 import replication_pb2 as pb
from services.coordinator.auto_follow import AutoFollowPatterns
from services.coordinator.follow_stats import FollowStats
from services.coordinator.followers import Followers
from services.coordinator.remotes import RemoteClusters

Ctx = grpc.aio.ServicerContext


class ReplicationServicer(replication_pb2_grpc.ReplicationServicer):
    """ReplicationServicer serves the follower cluster's replication API on every replica."""

    def __init__(
        self,
        followers: Followers,
        stats: FollowStats,
        patterns: AutoFollowPatterns,
        remotes: RemoteClusters,
    ) -> None:
        self._followers = followers
        self._stats = stats
        self._patterns = patterns
        self._remotes = remotes

    async def Follow(self, request: pb.FollowRequest, context: Ctx) -> pb.Follower:
        return await self._followers.follow(request)

    async def Pause(self, request: pb.PauseFollowerRequest, context: Ctx) -> pb.Follower:
        return await self._followers.pause(request.follower_index)

    async def Resume(self, request: pb.ResumeFollowerRequest, context: Ctx) -> pb.Follower:
        return await self._followers.resume(request.follower_index, request.parameters)

    async def Unfollow(self, request: pb.UnfollowRequest, context: Ctx) -> indices_pb2.Index:
        return await self._followers.unfollow(request.follower_index)

    async def ListFollowers(
        self, request: pb.ListFollowersRequest, context: Ctx
    ) -> pb.ListFollowersResponse:
        followers = await self._followers.followers(request.remote_cluster)
        return pb.ListFollowersResponse(followers=followers)

    async def Stats(self, request: pb.FollowStatsRequest, context: Ctx) -> pb.FollowStatsResponse:
        return await self._stats.stats(list(request.follower_indices))

    async def PutAutoFollowPattern(
        self, request: pb.PutAutoFollowPatternRequest, context: Ctx
    ) -> pb.AutoFollowPattern:
        if not request.HasField("pattern"):
            raise InvalidArgument.field("pattern", "is required")
        return await self._patterns.put(request.pattern)

    async def DeleteAutoFollowPattern(
        self, request: pb.DeleteAutoFollowPatternRequest, context: Ctx
    ) -> pb.DeleteAutoFollowPatternResponse:
        await self._patterns.delete(request.name)
        return pb.DeleteAutoFollowPatternResponse()

    async def ListAutoFollowPatterns(
        self, request: pb.ListAutoFollowPatternsRequest, context: Ctx
    ) -> pb.ListAutoFollowPatternsResponse:
        return pb.ListAutoFollowPatternsResponse(patterns=await self._patterns.patterns())

    async def PutRemoteCluster(
        self, request: pb.PutRemoteClusterRequest, context: Ctx
    ) -> pb.RemoteCluster:
        if not request.HasField("remote_cluster"):
            raise InvalidArgument.field("remote_cluster", "is required")
        return await self._remotes.put(request.remote_cluster)

    async def DeleteRemoteCluster(
        self, request: pb.DeleteRemoteClusterRequest, context: Ctx
    ) -> pb.DeleteRemoteClusterResponse:
        await self._remotes.delete(request.name)
        return pb.DeleteRemoteClusterResponse()

    async def ListRemoteClusters(
        self, request: pb.ListRemoteClustersRequest, context: Ctx
    ) -> pb.ListRemoteClustersResponse:
        return pb.ListRemoteClustersResponse(remote_clusters=await self._remotes.probed())
