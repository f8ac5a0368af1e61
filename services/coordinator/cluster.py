"""The cluster as registered in etcd: coordinators, leader, agents, replicators."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import aetcd
from google.protobuf.message import Message

from ferry.errors import NotFound
from ferry.etcd import Keys, current_leader, probe
from ferry.member import decode_info
from ferry.v1 import cluster_pb2, common_pb2

M = TypeVar("M", bound=Message)


class ClusterView:
    """ClusterView reads membership and leadership from etcd."""

    def __init__(self, client: aetcd.Client, keys: Keys, endpoints: list[str]) -> None:
        self._client = client
        self._keys = keys
        self._endpoints = endpoints

    async def _members(self, prefix: str, factory: Callable[[], M]) -> list[M]:
        result = await self._client.get_prefix(prefix.encode())
        return sorted((decode_info(kv.value, factory()) for kv in result), key=lambda m: m.id)  # type: ignore[attr-defined]

    async def agents(self) -> list[common_pb2.AgentInfo]:
        return await self._members(self._keys.agents(), common_pb2.AgentInfo)

    async def agent(self, agent_id: str) -> common_pb2.AgentInfo:
        got = await self._client.get(self._keys.agent(agent_id).encode())
        if got is None:
            raise NotFound("agent", agent_id)
        return decode_info(got.value, common_pb2.AgentInfo())

    async def status(self, *, answered_by: str, read_only: bool) -> cluster_pb2.ClusterStatus:
        """status gathers who leads and who is registered, plus etcd's health."""
        health = await probe(self._client)
        status = cluster_pb2.ClusterStatus(
            answered_by=answered_by,
            read_only=read_only,
            etcd=cluster_pb2.EtcdHealth(
                healthy=health.healthy,
                endpoints=self._endpoints,
                version=health.version,
                revision=health.revision,
                error=health.error,
            ),
        )
        if not health.healthy:
            return status
        leader = await current_leader(self._client, self._keys.election())
        coordinators = await self._members(self._keys.coordinators(), common_pb2.CoordinatorInfo)
        if leader is not None:
            status.leader.CopyFrom(decode_info(leader.value, common_pb2.CoordinatorInfo()))
            status.leader.leader = True
            status.leader_epoch = leader.epoch
        for c in coordinators:
            c.leader = leader is not None and c.id == status.leader.id
        status.coordinators.extend(coordinators)
        status.agents.extend(await self.agents())
        status.replicators.extend(
            await self._members(self._keys.replicators(), common_pb2.ReplicatorInfo)
        )
        return status
