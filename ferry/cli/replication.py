"""``ferry remote``, ``follow``, ``followers`` and ``auto-follow``: cross-cluster replication.

These commands call the follower cluster's coordinator. ``--param KEY=VALUE``
sets one FollowParameters field (repeatable): counts and sizes are integers
(sizes may end in KiB, MiB or GiB), durations a number with ms, s, m or h
(``read_poll_timeout=5s``).
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from google.protobuf import duration_pb2

from ferry.cli import output
from ferry.cli.client import EXIT_OK, Coordinator, add_command, add_group, client_command
from ferry.replication.params import DURATIONS
from ferry.v1 import replication_pb2 as pb

PARAMETERS = [f.name for f in pb.FollowParameters.DESCRIPTOR.fields]
_UNITS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)\Z")
_SIZES = {"": 1, "kib": 1024, "mib": 1024**2, "gib": 1024**3}
_SIZE = re.compile(r"(\d+)\s*([kmg]ib)?\Z", re.IGNORECASE)


def _param(text: str) -> tuple[str, Any]:
    """_param parses one ``--param KEY=VALUE`` into the field name and its value."""
    key, sep, raw = text.partition("=")
    if not sep or key not in PARAMETERS:
        raise argparse.ArgumentTypeError(
            f"{key!r} is not a follow parameter: use KEY=VALUE with KEY one of "
            + ", ".join(PARAMETERS)
        )
    if key in DURATIONS:
        found = _DURATION.match(raw.strip())
        if not found:
            raise argparse.ArgumentTypeError(
                f"{key}: {raw!r} is not a duration such as 500ms, 5s, 1m or 1h"
            )
        duration = duration_pb2.Duration()
        duration.FromNanoseconds(round(float(found[1]) * _UNITS[found[2]] * 1e9))
        return key, duration
    found = _SIZE.match(raw.strip())
    if not found or (found[2] and not key.endswith("_size")):
        kind = "an integer (KiB, MiB, GiB allowed)" if key.endswith("_size") else "an integer"
        raise argparse.ArgumentTypeError(f"{key}: {raw!r} is not {kind}")
    return key, int(found[1]) * _SIZES[(found[2] or "").lower()]


def parameters(pairs: list[tuple[str, Any]]) -> pb.FollowParameters:
    """parameters builds FollowParameters from parsed ``--param`` values (the last one wins)."""
    message = pb.FollowParameters()
    for key, value in pairs:
        if key in DURATIONS:
            getattr(message, key).CopyFrom(value)
        else:
            setattr(message, key, value)
    return message


def _param_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--param",
        type=_param,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a follow parameter, e.g. max_read_request_operation_count=1024 or "
        "read_poll_timeout=5s (repeatable)",
    )


def add_commands(subparsers: Any) -> None:
    """add_commands adds ``remote``, ``follow``, ``followers`` and ``auto-follow``."""
    _remote_commands(subparsers)

    text = "create a follower index that replicates a leader index of a remote cluster"
    p = add_command(subparsers, "follow", text, json_shape="one Follower object")
    p.add_argument("follower_index", metavar="FOLLOWER_INDEX")
    p.add_argument("--remote", required=True, metavar="NAME", help="remote cluster")
    p.add_argument("--leader", required=True, metavar="LEADER_INDEX", help="leader index")
    _param_option(p)
    p.set_defaults(func=client_command(_follow))

    _follower_commands(subparsers)
    _auto_follow_commands(subparsers)


def _remote_commands(subparsers: Any) -> None:
    text = "register, list and remove remote clusters (leader clusters to follow)"
    verbs = add_group(subparsers, "remote", text)

    text = "register or replace a remote cluster by the addresses of its replicators"
    p = add_command(verbs, "add", text, json_shape="one RemoteCluster object (no token)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("addresses", nargs="+", metavar="ADDRESS", help="replicator host:port")
    p.add_argument("--tls", action="store_true", help="dial the replicators with TLS")
    p.add_argument(
        "--token",
        default="",
        metavar="REF",
        help="bearer token as a ${env:NAME} or ${file:PATH} reference (never the secret)",
    )
    p.set_defaults(func=client_command(_remote_add))

    text = "list remote clusters, each probed: connected or why not"
    p = add_command(verbs, "list", text, json_shape="an array of RemoteCluster")
    p.set_defaults(func=client_command(_remote_list))

    p = add_command(verbs, "remove", "forget a remote cluster no follower or pattern uses")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=client_command(_remote_remove))


def _follower_commands(subparsers: Any) -> None:
    text = "list, pause, resume and unfollow follower indices; show their stats"
    verbs = add_group(subparsers, "followers", text)
    one = "one Follower object"

    p = add_command(verbs, "list", "list follower indices", json_shape="an array of Follower")
    p.add_argument("--remote", default="", metavar="NAME", help="only followers of this remote")
    p.set_defaults(func=client_command(_followers_list))

    text = "per-shard replication stats: state, checkpoints, lag, buffer, bootstraps, errors"
    p = add_command(verbs, "stats", text, json_shape="one FollowStatsResponse object")
    p.add_argument("indices", nargs="*", metavar="INDEX", help="follower indices (default: all)")
    p.set_defaults(func=client_command(_followers_stats))

    p = add_command(verbs, "pause", "stop replicating (leases on the leader stay)", json_shape=one)
    p.add_argument("index", metavar="INDEX")
    p.set_defaults(func=client_command(_pause))

    text = "replicate again, clearing a fatal exception; --param replaces those it names"
    p = add_command(verbs, "resume", text, json_shape=one)
    p.add_argument("index", metavar="INDEX")
    _param_option(p)
    p.set_defaults(func=client_command(_resume))

    text = "stop replicating for good: the follower becomes an ordinary writable index"
    p = add_command(verbs, "unfollow", text, json_shape="one Index object")
    p.add_argument("index", metavar="INDEX")
    p.set_defaults(func=client_command(_unfollow))


def _auto_follow_commands(subparsers: Any) -> None:
    text = "follow new leader indices of a remote cluster automatically"
    verbs = add_group(subparsers, "auto-follow", text)

    text = "create or replace an auto-follow pattern"
    p = add_command(verbs, "put", text, json_shape="one AutoFollowPattern object")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--remote", required=True, metavar="NAME", help="remote cluster")
    p.add_argument(
        "--pattern",
        required=True,
        action="append",
        metavar="GLOB",
        help="leader index names to follow ('*', '?'; repeatable)",
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="leader index names never to follow (repeatable)",
    )
    p.add_argument(
        "--template",
        default="",
        metavar="TEMPLATE",
        help="follower index name, {{leader_index}} replaced (default: the leader's name)",
    )
    p.add_argument(
        "--follow-existing",
        action="store_true",
        help="also follow matching indices that exist already",
    )
    p.add_argument("--paused", action="store_true", help="store the pattern paused")
    _param_option(p)
    p.set_defaults(func=client_command(_pattern_put))

    p = add_command(verbs, "list", "list auto-follow patterns", json_shape="an array of patterns")
    p.set_defaults(func=client_command(_pattern_list))

    text = "delete a pattern: nothing new is followed; its followers keep following"
    p = add_command(verbs, "delete", text)
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=client_command(_pattern_delete))


# Remote clusters -------------------------------------------------------------------------


async def _remote_add(coordinator: Coordinator, args: argparse.Namespace) -> int:
    remote = pb.RemoteCluster(
        name=args.name, addresses=args.addresses, tls=args.tls, token=args.token
    )
    request = pb.PutRemoteClusterRequest(remote_cluster=remote)
    stored = await coordinator.call(coordinator.replication.PutRemoteCluster, request)
    output.print_message(args, stored, f"remote {stored.name}: {', '.join(stored.addresses)}")
    return EXIT_OK


async def _remote_list(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = pb.ListRemoteClustersRequest()
    response = await coordinator.call(coordinator.replication.ListRemoteClusters, request)
    remotes = response.remote_clusters
    rows = (
        (r.name, output.join(r.addresses), _yes(r.tls), _yes(r.connected), r.error) for r in remotes
    )
    output.print_list(args, remotes, ["NAME", "ADDRESSES", "TLS", "CONNECTED", "ERROR"], rows)
    return EXIT_OK


async def _remote_remove(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = pb.DeleteRemoteClusterRequest(name=args.name)
    await coordinator.call(coordinator.replication.DeleteRemoteCluster, request)
    print(f"remote {args.name} removed")
    return EXIT_OK


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


# Followers ----------------------------------------------------------------------------------


def _status(status: int) -> str:
    return output.enum_label(pb.FollowerStatus, status)


def _print_follower(follower: pb.Follower, args: argparse.Namespace) -> None:
    text = (
        f"{follower.follower_index} follows {follower.remote_cluster}/"
        f"{follower.leader_index} ({_status(follower.status)})"
    )
    output.print_message(args, follower, text)


async def _follow(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = pb.FollowRequest(
        follower_index=args.follower_index,
        remote_cluster=args.remote,
        leader_index=args.leader,
        parameters=parameters(args.param),
    )
    _print_follower(await coordinator.call(coordinator.replication.Follow, request), args)
    return EXIT_OK


async def _followers_list(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = pb.ListFollowersRequest(remote_cluster=args.remote)
    response = await coordinator.call(coordinator.replication.ListFollowers, request)
    rows = (
        (
            f.follower_index,
            f.remote_cluster,
            f.leader_index,
            _status(f.status),
            f.auto_follow_pattern,
            f.create_time.ToJsonString() if f.HasField("create_time") else "",
        )
        for f in response.followers
    )
    headers = ["INDEX", "REMOTE", "LEADER", "STATUS", "PATTERN", "CREATED"]
    output.print_list(args, response.followers, headers, rows)
    return EXIT_OK


async def _pause(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = pb.PauseFollowerRequest(follower_index=args.index)
    _print_follower(await coordinator.call(coordinator.replication.Pause, request), args)
    return EXIT_OK


async def _resume(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = pb.ResumeFollowerRequest(follower_index=args.index, parameters=parameters(args.param))
    _print_follower(await coordinator.call(coordinator.replication.Resume, request), args)
    return EXIT_OK


async def _unfollow(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = pb.UnfollowRequest(follower_index=args.index)
    index = await coordinator.call(coordinator.replication.Unfollow, request)
    text = f"{index.name} unfollowed: an ordinary index with {index.doc_count} docs"
    output.print_message(args, index, text)
    return EXIT_OK


async def _followers_stats(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = pb.FollowStatsRequest(follower_indices=args.indices)
    response = await coordinator.call(coordinator.replication.Stats, request)
    if output.wants_json(args):
        output.print_json(output.to_json(response))
        return EXIT_OK
    print("\n\n".join([*(describe_stats(f) for f in response.followers),
                       describe_auto_follow(response.auto_follow)]))  # fmt: skip
    return EXIT_OK


def describe_stats(follower: pb.FollowerStats) -> str:
    """describe_stats is a follower's heading line and a table of its shards."""
    heading = (
        f"{follower.follower_index}: follows {follower.remote_cluster}/{follower.leader_index} "
        f"({_status(follower.status)})"
    )
    rows = [
        (
            s.shard,
            output.enum_label(pb.ShardFollowState, s.state),
            s.leader_global_checkpoint,
            s.follower_global_checkpoint,
            s.lag_operations,
            s.lag_millis,
            f"{s.write_buffer_operation_count}/{s.write_buffer_size_in_bytes}",
            s.bootstraps,
            s.replicator_id,
            s.fatal_exception.replace("\n", " "),
        )
        for s in follower.shards
    ]
    headers = ["SHARD", "STATE", "LEADER_GCP", "FOLLOWER_GCP", "LAG_OPS", "LAG_MS",
               "BUFFER_OPS/BYTES", "BOOTSTRAPS", "REPLICATOR", "FATAL_EXCEPTION"]  # fmt: skip
    return f"{heading}\n{output.table(headers, rows)}"


def describe_auto_follow(stats: pb.AutoFollowStats) -> str:
    """describe_auto_follow is the auto-follow counters and the recent errors, newest first."""
    line = (
        f"auto-follow: {stats.number_of_successful_follow_indices} followed, "
        f"{stats.number_of_failed_follow_indices} failed, "
        f"{stats.number_of_failed_remote_cluster_state_requests} failed remote listings"
    )
    if not stats.recent_auto_follow_errors:
        return line
    rows = [
        (e.time.ToJsonString(), e.auto_follow_pattern, e.leader_index, e.error.replace("\n", " "))
        for e in stats.recent_auto_follow_errors
    ]
    return f"{line}\n{output.table(['TIME', 'PATTERN', 'LEADER', 'ERROR'], rows)}"


# Auto-follow patterns ------------------------------------------------------------------------


async def _pattern_put(coordinator: Coordinator, args: argparse.Namespace) -> int:
    pattern = pb.AutoFollowPattern(
        name=args.name,
        remote_cluster=args.remote,
        leader_index_patterns=args.pattern,
        leader_index_exclusion_patterns=args.exclude,
        follower_index_template=args.template,
        parameters=parameters(args.param),
        paused=args.paused,
        follow_existing=args.follow_existing,
    )
    request = pb.PutAutoFollowPatternRequest(pattern=pattern)
    stored = await coordinator.call(coordinator.replication.PutAutoFollowPattern, request)
    output.print_message(args, stored, f"auto-follow pattern {stored.name} stored")
    return EXIT_OK


async def _pattern_list(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = pb.ListAutoFollowPatternsRequest()
    response = await coordinator.call(coordinator.replication.ListAutoFollowPatterns, request)
    rows = (
        (
            p.name,
            p.remote_cluster,
            output.join(p.leader_index_patterns),
            output.join(p.leader_index_exclusion_patterns),
            p.follower_index_template or "{{leader_index}}",
            "paused" if p.paused else "active",
            _yes(p.follow_existing),
        )
        for p in response.patterns
    )
    headers = ["NAME", "REMOTE", "PATTERNS", "EXCLUDE", "TEMPLATE", "STATUS", "EXISTING"]
    output.print_list(args, response.patterns, headers, rows)
    return EXIT_OK


async def _pattern_delete(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = pb.DeleteAutoFollowPatternRequest(name=args.name)
    await coordinator.call(coordinator.replication.DeleteAutoFollowPattern, request)
    print(f"auto-follow pattern {args.name} deleted")
    return EXIT_OK
