"""Fuzzing fixtures: one in-process coordinator, agent and replicator for the package.

Hypothesis drives synchronous tests, so the services run on an event loop of
their own in a background thread and the tests call them through plain
synchronous gRPC stubs. Everything lives under a fresh etcd prefix and a
temporary SQLite file, which the coordinator (Indices) and the replicator
(LeaderReplication) share.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings

from ferry.config import AgentConfig, CoordinatorConfig, ReplicatorConfig
from ferry.etcd import EmbeddedEtcd
from services.agent.agent import Agent
from services.coordinator.coordinator import Coordinator
from services.replicator.replicator import Replicator
from tests.fuzz.outcome import Client
from tests.helpers import wait_until

T = TypeVar("T")


def fuzz_settings(max_examples: int) -> settings:
    """fuzz_settings is a fixed, reproducible budget for ``make test``."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=False,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


class LoopThread:
    """LoopThread runs an asyncio event loop in a background thread until closed."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="fuzz-services", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """run runs coro on the loop and returns its result (or raises its exception)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)


@dataclass(repr=False)
class Services:
    """Services are the running servers and a checking client for each."""

    coordinator: Coordinator
    agent: Agent
    replicator: Replicator
    coordinator_client: Client
    agent_client: Client
    replicator_client: Client

    def __repr__(self) -> str:
        return "services"

    def client(self, role: str) -> Client:
        return {
            "coordinator": self.coordinator_client,
            "agent": self.agent_client,
            "replicator": self.replicator_client,
        }[role]


@pytest.fixture(scope="package")
def services(
    etcd_server: EmbeddedEtcd, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Services]:
    """services starts the three servers on one background loop, SERVING, and stops them."""
    prefix = f"/fuzz-{uuid.uuid4().hex[:10]}"
    store: Path = tmp_path_factory.mktemp("fuzz-store") / "index.db"
    common: dict[str, Any] = {
        "etcd_endpoints": etcd_server.endpoint,
        "etcd_prefix": prefix,
        "listen": "127.0.0.1:0",
        # Three services share one event loop with hostile requests on a 2-core machine:
        # a 3 s lease was lost once under load (all three at once), failing the run.
        "lease_ttl": 10,
        "grace_period": 1,
    }
    loop = LoopThread()
    started: list[Coordinator | Agent | Replicator] = []
    clients: list[Client] = []

    async def build() -> tuple[Coordinator, Agent, Replicator]:
        # Built on the services' loop: grpc.aio servers bind to the loop they are made on.
        return (
            Coordinator(CoordinatorConfig(**common, store_url=f"sqlite:///{store}")),
            Agent(AgentConfig(**common)),
            Replicator(ReplicatorConfig(**common, store_url=f"sqlite:///{store}")),
        )

    try:
        coordinator, agent, replicator = loop.run(build())
        for service in (coordinator, agent, replicator):
            loop.run(service.start())
            started.append(service)
        clients = [
            Client(s.server.address, max_request_bytes=s.server.max_request_bytes)
            for s in (coordinator, agent, replicator)
        ]
        for client in clients:
            wait_until(client.serving, timeout=20, what=f"{client.address} SERVING")
        yield Services(coordinator, agent, replicator, *clients)
    finally:
        for client in clients:
            client.close()
        for service in reversed(started):
            loop.run(service.stop())
        loop.close()
