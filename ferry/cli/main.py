"""``ferry``: the command line of Ferry.

Client commands (``connectors``, ``index``, ``sync``, ``jobs``, ``agents``, ``cluster``,
``maintenance``, ``remote``, ``follow``, ``followers``, ``auto-follow``) call a coordinator;
service commands (``up``, ``coordinator``, ``agent``, ``replicator``) come
from :mod:`ferry.cli.serve`; ``backup`` and ``restore`` (:mod:`ferry.cli.backup`) talk to
etcd and the index store directly.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from ferry.cli import agents, backup, cluster, connectors, indices, jobs, replication, serve
from ferry.cli.client import DEFAULT_COORDINATOR, EXIT_USAGE, CommandError

_EPILOG = f"""\
client commands take:
  --coordinator ADDR    coordinator host:port
                        (default: $FERRY_COORDINATOR, else {DEFAULT_COORDINATOR})
  --timeout SECONDS     deadline of each call (default: 10)
  -o, --output FORMAT   table (default) or json, on every command that prints resources

-o json prints one JSON document on stdout, messages in the proto3 JSON mapping
with proto field names (enums by full name, int64 as strings, default values
left out):
  a JSON array of messages   connectors list (Connector), connectors types
                             (ConnectorType), agents list (AgentInfo),
                             connectors create/update -f (Connector, one per
                             connector that succeeded, in file order),
                             index list (Index), index bulk (BulkItemResult),
                             jobs list (Job), remote list (RemoteCluster),
                             followers list (Follower), auto-follow list
                             (AutoFollowPattern)
  one message object         connectors get/pause/resume/stop (Connector),
                             connectors restart (RestartConnectorResponse),
                             sync, jobs get/cancel (Job; sync --watch: the
                             final Job, progress on stderr), agents
                             drain/undrain (AgentInfo), maintenance
                             on/off/status (MaintenanceStatus),
                             cluster status (ClusterStatus), index create/get
                             (Index), index stats (IndexStats), index doc
                             (Document), index search (SearchResponse),
                             index count (CountResponse), remote add
                             (RemoteCluster), follow and followers
                             pause/resume (Follower), followers unfollow
                             (Index), followers stats (FollowStatsResponse),
                             auto-follow put (AutoFollowPattern)
  an array of results        connectors validate -f and create --dry-run:
                             [{{"name": ..., "valid": true|false, "errors":
                             [{{"field": ..., "description": ...}}]}}]

exit status: 0 success; 1 a call failed, the coordinator could not be reached,
a spec is invalid, or a watched job failed or was canceled; 2 bad arguments or
an unreadable spec or bulk file.
"""


def default_coordinator(env: Mapping[str, str] | None = None) -> str:
    """default_coordinator is FERRY_COORDINATOR when set and not blank, else 127.0.0.1:50051."""
    env = os.environ if env is None else env
    return env.get("FERRY_COORDINATOR", "").strip() or DEFAULT_COORDINATOR


CLIENT_VARIABLES = ("auth_token", "tls_ca_file", "tls_cert_file", "tls_key_file")
"""CLIENT_VARIABLES are the client settings read from FERRY_<NAME> when not given as flags
(the services' own names for them)."""


def client_settings(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> None:
    """client_settings fills a client command's settings not given as flags: --coordinator
    (:func:`default_coordinator`), those of :data:`CLIENT_VARIABLES`, and --use-tls from
    FERRY_USE_TLS (1, true or yes).

    This is the only place the CLI reads the environment for its own settings.
    """
    env = os.environ if env is None else env
    if args.coordinator is None:
        args.coordinator = default_coordinator(env)
    for name in CLIENT_VARIABLES:
        if not getattr(args, name):
            setattr(args, name, env.get(f"FERRY_{name.upper()}", "").strip())
    if not args.use_tls:
        args.use_tls = env.get("FERRY_USE_TLS", "").strip().lower() in ("1", "true", "yes")


def build_parser() -> argparse.ArgumentParser:
    """build_parser is the whole ``ferry`` command tree; each leaf sets ``func(args) -> int``."""
    parser = argparse.ArgumentParser(
        prog="ferry",
        description="Ferry: sync sources into indices, replicate indices across clusters.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # dest "command" is known to serve.py, which filters it out of service flags.
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    connectors.add_commands(commands)
    indices.add_commands(commands)
    jobs.add_commands(commands)
    agents.add_commands(commands)
    cluster.add_commands(commands)
    cluster.add_maintenance_commands(commands)
    replication.add_commands(commands)
    serve.add_commands(commands)
    backup.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """main runs one ``ferry`` command and returns its exit status (see ``ferry --help``)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already printed
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USAGE)
    if hasattr(args, "coordinator"):  # a client command (ferry.cli.client.add_client_options)
        client_settings(args)
    try:
        code: int = args.func(args)
    except CommandError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
