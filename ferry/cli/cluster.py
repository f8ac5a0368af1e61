"""``ferry cluster ...``: who is in the cluster and who leads."""

from __future__ import annotations

import argparse
from typing import Any

from ferry.cli import output
from ferry.cli.client import EXIT_OK, Coordinator, add_client_options, client_command
from ferry.v1 import cluster_pb2, common_pb2


def add_commands(subparsers: Any) -> None:
    """add_commands adds ``cluster`` and its subcommands to the ``ferry`` parser."""
    text = "who is in the cluster and who leads"
    group = subparsers.add_parser("cluster", help=text, description=text)
    verbs = group.add_subparsers(dest="cluster_command", metavar="COMMAND", required=True)
    text = "show the leader, every coordinator, agent and replicator, and etcd's health"
    p = verbs.add_parser("status", help=text, description=text)
    add_client_options(p)
    output.add_output_option(p, "one ClusterStatus object")
    p.set_defaults(func=client_command(_status))


async def _status(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = cluster_pb2.ClusterStatusRequest()
    status = await coordinator.call(coordinator.cluster.Status, request)
    if output.wants_json(args):
        output.print_json(output.to_json(status))
    else:
        print(describe(status))
    return EXIT_OK


def describe(status: cluster_pb2.ClusterStatus) -> str:
    """describe is the status as a summary block followed by one table per member role."""
    if status.HasField("leader") and status.leader.id:
        leader = f"{status.leader.id} ({status.leader.address}), epoch {status.leader_epoch}"
    else:
        leader = "none (no coordinator holds the election)"
    answered = status.answered_by + (" (read-only)" if status.read_only else "")
    summary = output.key_values(
        [("leader", leader), ("answered by", answered), ("etcd", _etcd(status.etcd))]
    )
    coordinators = output.table(
        ["ID", "ADDRESS", "LEADER", "VERSION", "STARTED"],
        [
            (c.id, c.address, "*" if c.leader else "", c.version, _started(c))
            for c in status.coordinators
        ],
    )
    agents = output.table(
        ["ID", "ADDRESS", "STATE", "CAPACITY", "RUNNING", "VERSION"],
        [
            (
                a.id,
                a.address,
                output.enum_label(common_pb2.AgentState, a.state),
                a.max_concurrent_tasks,
                a.running_tasks,
                a.version,
            )
            for a in status.agents
        ],
    )
    replicators = output.table(
        ["ID", "ADDRESS", "SHARD_TASKS", "VERSION"],
        [(r.id, r.address, r.running_shard_tasks, r.version) for r in status.replicators],
    )
    return "\n\n".join(
        [
            summary,
            f"COORDINATORS ({len(status.coordinators)})\n{coordinators}",
            f"AGENTS ({len(status.agents)})\n{agents}",
            f"REPLICATORS ({len(status.replicators)})\n{replicators}",
        ]
    )


def _etcd(etcd: cluster_pb2.EtcdHealth) -> str:
    endpoints = output.join(etcd.endpoints)
    if etcd.healthy:
        return f"healthy, version {etcd.version}, revision {etcd.revision}, endpoints {endpoints}"
    return f"unhealthy: {etcd.error or 'no answer'}, endpoints {endpoints}"


def _started(member: common_pb2.CoordinatorInfo) -> str:
    return member.start_time.ToJsonString() if member.HasField("start_time") else ""
