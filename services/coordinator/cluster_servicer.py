"""ferry.v1.Cluster and ferry.v1.Agents: thin translations over ClusterView and JobService."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from ferry.errors import InvalidArgument
from ferry.v1 import agents_pb2, agents_pb2_grpc, cluster_pb2, cluster_pb2_grpc, common_pb2
from services.coordinator.cluster import ClusterView
from services.coordinator.jobs import JobService

Ctx = grpc.aio.ServicerContext


def _agent_id(agent_id: str) -> str:
    if not agent_id or "/" in agent_id:
        raise InvalidArgument.field("id", "must be a non-empty agent id without '/'")
    return agent_id


class ClusterServicer(cluster_pb2_grpc.ClusterServicer):
    def __init__(
        self,
        view: ClusterView,
        jobs: JobService,
        member_id: str,
        read_only: Callable[[], bool],
    ) -> None:
        self._view = view
        self._jobs = jobs
        self._member_id = member_id
        self._read_only = read_only

    async def Status(
        self, request: cluster_pb2.ClusterStatusRequest, context: Ctx
    ) -> cluster_pb2.ClusterStatus:
        status = await self._view.status(answered_by=self._member_id, read_only=self._read_only())
        if status.etcd.healthy:
            agents, maintenance = await self._jobs.cluster_view(status.agents)
            del status.agents[:]
            status.agents.extend(agents)
            status.maintenance = maintenance.enabled
        return status

    async def SetMaintenance(
        self, request: cluster_pb2.SetMaintenanceRequest, context: Ctx
    ) -> cluster_pb2.MaintenanceStatus:
        return await self._jobs.set_maintenance(request.enabled, request.reason)

    async def GetMaintenance(
        self, request: cluster_pb2.GetMaintenanceRequest, context: Ctx
    ) -> cluster_pb2.MaintenanceStatus:
        return await self._jobs.maintenance()


class AgentsServicer(agents_pb2_grpc.AgentsServicer):
    def __init__(self, view: ClusterView, jobs: JobService) -> None:
        self._view = view
        self._jobs = jobs

    async def List(
        self, request: agents_pb2.ListAgentsRequest, context: Ctx
    ) -> agents_pb2.ListAgentsResponse:
        agents = await self._jobs.agent_views(await self._view.agents())
        return agents_pb2.ListAgentsResponse(agents=agents)

    async def Drain(
        self, request: agents_pb2.DrainAgentRequest, context: Ctx
    ) -> common_pb2.AgentInfo:
        agent = await self._view.agent(_agent_id(request.id))
        return await self._jobs.drain(agent, True)

    async def Undrain(
        self, request: agents_pb2.UndrainAgentRequest, context: Ctx
    ) -> common_pb2.AgentInfo:
        agent = await self._view.agent(_agent_id(request.id))
        return await self._jobs.drain(agent, False)
