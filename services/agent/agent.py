"""The agent process: registers with its capacity and labels, runs tasks."""

from __future__ import annotations

import grpc

from ferry.config import AgentConfig
from ferry.connectors import Registry, load_registry
from ferry.errors import Unimplemented
from ferry.etcd import Session
from ferry.member import encode_info, now_timestamp
from ferry.process import MemberProcess, Registration
from ferry.v1 import agent_pb2, agent_pb2_grpc, common_pb2
from ferry.version import VERSION


class AgentServicer(agent_pb2_grpc.AgentServicer):
    """AgentServicer answers about this agent."""

    def __init__(self, agent: Agent) -> None:
        self._agent = agent

    async def Status(
        self, request: agent_pb2.AgentStatusRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.AgentStatus:
        return self._agent.status()

    async def Drain(
        self, request: agent_pb2.AgentDrainRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.AgentStatus:
        raise Unimplemented("agent drain (sync engine)")


class Agent(MemberProcess):
    """Agent registers under its session lease with capacity, labels and connector types."""

    role = "agent"

    def __init__(self, config: AgentConfig, *, registry: Registry | None = None) -> None:
        self.agent_config = config
        self.registry = registry or load_registry()
        self.started = now_timestamp()
        super().__init__(config)

    def info(self, session: Session | None) -> common_pb2.AgentInfo:
        return common_pb2.AgentInfo(
            id=self.id,
            address=self.address,
            max_concurrent_tasks=self.agent_config.max_concurrent_tasks,
            labels=self.agent_config.labels,
            connector_types=list(self.registry.types),
            state=common_pb2.AGENT_STATE_ACTIVE,
            start_time=self.started,
            version=VERSION,
            lease_id=session.lease_id if session else 0,
        )

    def registration(self, session: Session) -> bytes:
        return encode_info(self.info(session))

    def status(self) -> agent_pb2.AgentStatus:
        return agent_pb2.AgentStatus(
            info=self.info(self.membership.session), session_alive=self.membership.alive
        )

    def servicers(self) -> list[Registration]:
        return [
            (
                agent_pb2_grpc.add_AgentServicer_to_server,
                AgentServicer(self),
                agent_pb2.DESCRIPTOR.services_by_name["Agent"].full_name,
            )
        ]


async def serve(config: AgentConfig) -> None:
    """serve runs an agent until SIGTERM/SIGINT."""
    await Agent(config).serve()
