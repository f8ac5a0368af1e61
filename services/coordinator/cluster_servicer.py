"""ferry.v1.Cluster and ferry.v1.Agents: thin translations over ClusterView."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from ferry.errors import InvalidArgument, Unimplemented
from ferry.v1 import agents_pb2, agents_pb2_grpc, cluster_pb2, cluster_pb2_grpc, common_pb2
from services.coordinator.cluster import ClusterView

Ctx = grpc.aio.ServicerContext


def _agent_id(agent_id: str) -> str:
    if not agent_id or "/" in agent_id:
        raise InvalidArgument.field("id", "must be a non-empty agent id without '/'")
    return agent_id


class ClusterServicer(cluster_pb2_grpc.ClusterServicer):
    def __init__(self, view: ClusterView, member_id: str, read_only: Callable[[], bool]) -> None:
        self._view = view
        self._member_id = member_id
        self._read_only = read_only

    async def Status(
        self, request: cluster_pb2.ClusterStatusRequest, context: Ctx
    ) -> cluster_pb2.ClusterStatus:
        return await self._view.status(answered_by=self._member_id, read_only=self._read_only())


class AgentsServicer(agents_pb2_grpc.AgentsServicer):
    def __init__(self, view: ClusterView) -> None:
        self._view = view

    async def List(
        self, request: agents_pb2.ListAgentsRequest, context: Ctx
    ) -> agents_pb2.ListAgentsResponse:
        return agents_pb2.ListAgentsResponse(agents=await self._view.agents())

    async def Drain(
        self, request: agents_pb2.DrainAgentRequest, context: Ctx
    ) -> common_pb2.AgentInfo:
        await self._view.agent(_agent_id(request.id))
        raise Unimplemented("agent drain (sync engine)")

    async def Undrain(
        self, request: agents_pb2.UndrainAgentRequest, context: Ctx
    ) -> common_pb2.AgentInfo:
        await self._view.agent(_agent_id(request.id))
        raise Unimplemented("agent drain (sync engine)")
