"""``ferry cluster ...``: who is in the cluster and who leads; ``ferry maintenance ...``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from ferry.cli import output
from ferry.cli.client import (
    EXIT_OK,
    CommandError,
    Coordinator,
    add_command,
    client_command,
    positive_seconds,
)
from ferry.v1 import cluster_pb2, common_pb2

DEFAULT_WAIT = 300.0
"""DEFAULT_WAIT is how long ``maintenance on --wait`` waits for running tasks (seconds)."""
POLL_INTERVAL = 1.0
"""POLL_INTERVAL is the time between two GetMaintenance calls of ``maintenance on --wait``."""


def add_commands(subparsers: Any) -> None:
    """add_commands adds ``cluster`` and its subcommands to the ``ferry`` parser."""
    text = "who is in the cluster and who leads"
    group = subparsers.add_parser("cluster", help=text, description=text)
    verbs = group.add_subparsers(dest="cluster_command", metavar="COMMAND", required=True)
    text = "show the leader, every coordinator, agent and replicator, and etcd's health"
    p = add_command(verbs, "status", text, json_shape="one ClusterStatus object")
    p.set_defaults(func=client_command(_status))


def add_maintenance_commands(subparsers: Any) -> None:
    """add_maintenance_commands adds ``maintenance`` and its subcommands to the ``ferry`` parser."""
    text = "suspend every job and schedule nothing (on), or resume (off)"
    group = subparsers.add_parser("maintenance", help=text, description=text)
    verbs = group.add_subparsers(dest="maintenance_command", metavar="COMMAND", required=True)
    one = "one MaintenanceStatus object"

    text = "turn maintenance on: running jobs checkpoint, release their tasks and are suspended"
    p = add_command(verbs, "on", text, json_shape=one)
    p.add_argument("--reason", default="", help="recorded for operators (who, and why)")
    p.add_argument(
        "--wait",
        action="store_true",
        help="then wait until no task is running; exit 1 if some still run after --wait-timeout",
    )
    p.add_argument(
        "--wait-timeout",
        type=positive_seconds,
        default=DEFAULT_WAIT,
        metavar="SECONDS",
        help=f"how long --wait waits (default: {DEFAULT_WAIT:g}); --timeout bounds each call",
    )
    p.set_defaults(func=client_command(_maintenance_on))

    text = "turn maintenance off: suspended jobs resume from their checkpoints"
    p = add_command(verbs, "off", text, json_shape=one)
    p.set_defaults(func=client_command(_maintenance_off))

    text = "show whether maintenance is on, why, and how many tasks still run"
    p = add_command(verbs, "status", text, json_shape=one)
    p.set_defaults(func=client_command(_maintenance_status))


async def _status(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = cluster_pb2.ClusterStatusRequest()
    status = await coordinator.call(coordinator.cluster.Status, request)
    output.print_message(args, status, describe(status))
    return EXIT_OK


def describe(status: cluster_pb2.ClusterStatus) -> str:
    """describe is the status as a summary block followed by one table per member role."""
    if status.HasField("leader") and status.leader.id:
        leader = f"{status.leader.id} ({status.leader.address}), epoch {status.leader_epoch}"
    else:
        leader = "none (no coordinator holds the election)"
    answered = status.answered_by + (" (read-only)" if status.read_only else "")
    summary = output.key_values(
        [
            ("leader", leader),
            ("answered by", answered),
            ("etcd", _etcd(status.etcd)),
            ("maintenance", "on" if status.maintenance else "off"),
        ]
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


async def _maintenance_on(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = cluster_pb2.SetMaintenanceRequest(enabled=True, reason=args.reason)
    status = await coordinator.call(coordinator.cluster.SetMaintenance, request)
    if args.wait:
        status = await _wait_for_tasks(coordinator, status, args)
    _print_maintenance(status, args)
    return EXIT_OK


async def _maintenance_off(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = cluster_pb2.SetMaintenanceRequest(enabled=False)
    status = await coordinator.call(coordinator.cluster.SetMaintenance, request)
    _print_maintenance(status, args)
    return EXIT_OK


async def _maintenance_status(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = cluster_pb2.GetMaintenanceRequest()
    status = await coordinator.call(coordinator.cluster.GetMaintenance, request)
    _print_maintenance(status, args)
    return EXIT_OK


async def _wait_for_tasks(
    coordinator: Coordinator, status: cluster_pb2.MaintenanceStatus, args: argparse.Namespace
) -> cluster_pb2.MaintenanceStatus:
    """_wait_for_tasks polls GetMaintenance until no task runs, printing each new count.

    The counts go to stdout, or to stderr with -o json (stdout holds one JSON
    document). Raises CommandError after --wait-timeout, or if maintenance
    was turned off meanwhile.
    """
    progress = sys.stderr if output.wants_json(args) else sys.stdout
    loop = asyncio.get_running_loop()
    deadline = loop.time() + args.wait_timeout
    shown = -1
    while status.running_tasks > 0:
        if not status.enabled:
            raise CommandError("error: maintenance was turned off while waiting for tasks to stop")
        if status.running_tasks != shown:
            shown = status.running_tasks
            print(f"waiting for {_tasks(shown)}", file=progress, flush=True)
        left = deadline - loop.time()
        if left <= 0:
            raise CommandError(
                f"error: maintenance is on, but {_tasks(status.running_tasks)} remain "
                f"after {args.wait_timeout:g}s (--wait-timeout)"
            )
        await asyncio.sleep(min(POLL_INTERVAL, left))
        request = cluster_pb2.GetMaintenanceRequest()
        status = await coordinator.call(coordinator.cluster.GetMaintenance, request)
    return status


def _tasks(count: int) -> str:
    return f"{count} running task{'' if count == 1 else 's'}"


def _print_maintenance(status: cluster_pb2.MaintenanceStatus, args: argparse.Namespace) -> None:
    if output.wants_json(args):
        output.print_json(output.to_json(status))
        return
    print(
        output.key_values(
            [
                ("maintenance", "on" if status.enabled else "off"),
                ("reason", status.reason),
                ("running tasks", status.running_tasks),
            ]
        )
    )
