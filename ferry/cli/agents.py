"""``ferry agents ...``: the agents registered with the cluster, and draining them."""

from __future__ import annotations

import argparse
from typing import Any

from ferry.cli import output
from ferry.cli.client import EXIT_OK, Coordinator, add_command, client_command
from ferry.v1 import agents_pb2, common_pb2


def add_commands(subparsers: Any) -> None:
    """add_commands adds ``agents`` and its subcommands to the ``ferry`` parser."""
    text = "inspect, drain and undrain agents"
    group = subparsers.add_parser("agents", help=text, description=text)
    verbs = group.add_subparsers(dest="agents_command", metavar="COMMAND", required=True)
    text = "list registered agents with their capacity and running tasks"
    p = add_command(verbs, "list", text, json_shape="an array of AgentInfo")
    p.set_defaults(func=client_command(_list))

    for verb, text in (
        ("drain", "move an agent's tasks elsewhere and assign it no more (draining, then drained)"),
        ("undrain", "let a drained or draining agent take tasks again"),
    ):
        p = add_command(verbs, verb, text, json_shape="one AgentInfo object")
        p.add_argument("id", help="agent id")
        p.set_defaults(func=client_command(_drain), drain=verb == "drain")


async def _list(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = agents_pb2.ListAgentsRequest()
    response = await coordinator.call(coordinator.agents.List, request)
    if output.wants_json(args):
        output.print_messages(response.agents)
        return EXIT_OK
    rows = [
        (
            a.id,
            a.address,
            output.enum_label(common_pb2.AgentState, a.state),
            a.max_concurrent_tasks,
            a.running_tasks,
            output.labels(a.labels),
            output.join(a.connector_types),
        )
        for a in response.agents
    ]
    headers = ["ID", "ADDRESS", "STATE", "CAPACITY", "RUNNING", "LABELS", "TYPES"]
    print(output.table(headers, rows))
    return EXIT_OK


async def _drain(coordinator: Coordinator, args: argparse.Namespace) -> int:
    stub = coordinator.agents
    if args.drain:
        agent = await coordinator.call(stub.Drain, agents_pb2.DrainAgentRequest(id=args.id))
    else:
        agent = await coordinator.call(stub.Undrain, agents_pb2.UndrainAgentRequest(id=args.id))
    state = output.enum_label(common_pb2.AgentState, agent.state)
    output.print_message(args, agent, f"{agent.id} {state} (running tasks {agent.running_tasks})")
    return EXIT_OK
