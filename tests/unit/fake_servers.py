"""Fake servicers on a real in-process gRPC server, for the CLI tests.

Each CLI test module brings the fakes of its commands and serves them with
:func:`serving`; :class:`FakeAgents` answers both the agents listing and
drain tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from typing import Any

import grpc
import pytest
from grpc_status import rpc_status

from ferry.cli.main import main
from ferry.errors import FerryError, NotFound
from ferry.v1 import agents_pb2, agents_pb2_grpc, common_pb2

Ctx = grpc.ServicerContext


def abort(context: Ctx, error: FerryError) -> None:
    """abort ends the call with the error's status, details included, as the real servicers do."""
    context.abort_with_status(rpc_status.to_status(error.to_status()))


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """run_cli runs ``ferry argv`` in-process; returns its exit code, stdout and stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def rows(table: str) -> list[list[str]]:
    """rows splits a printed table into its lines' words (EMPTY cells keep columns aligned)."""
    return [line.split() for line in table.strip().splitlines()]


@contextmanager
def serving(*servicers: tuple[Callable[[Any, grpc.Server], None], object]) -> Iterator[str]:
    """serving runs each (add_XServicer_to_server, fake) on one server; yields its address."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    for add, servicer in servicers:
        add(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(None)


class FakeAgents(agents_pb2_grpc.AgentsServicer):
    """FakeAgents reports two agents, agent-b draining; only agent-a can be drained."""

    def List(
        self, request: agents_pb2.ListAgentsRequest, context: Ctx
    ) -> agents_pb2.ListAgentsResponse:
        return agents_pb2.ListAgentsResponse(
            agents=[
                common_pb2.AgentInfo(
                    id="agent-a",
                    address="10.0.0.1:7000",
                    max_concurrent_tasks=4,
                    running_tasks=3,
                    labels={"zone": "a", "disk": "ssd"},
                    connector_types=["generator", "postgres"],
                    state=common_pb2.AGENT_STATE_ACTIVE,
                ),
                common_pb2.AgentInfo(
                    id="agent-b",
                    address="10.0.0.2:7000",
                    max_concurrent_tasks=2,
                    state=common_pb2.AGENT_STATE_DRAINING,
                ),
            ]
        )

    def Drain(self, request: agents_pb2.DrainAgentRequest, context: Ctx) -> common_pb2.AgentInfo:
        if request.id != "agent-a":
            abort(context, NotFound("agent", request.id))
        return common_pb2.AgentInfo(
            id="agent-a", state=common_pb2.AGENT_STATE_DRAINING, running_tasks=3
        )

    def Undrain(
        self, request: agents_pb2.UndrainAgentRequest, context: Ctx
    ) -> common_pb2.AgentInfo:
        return common_pb2.AgentInfo(id=request.id, state=common_pb2.AGENT_STATE_ACTIVE)
