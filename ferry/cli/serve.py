"""Commands that run Ferry services: ``up``, ``coordinator``, ``agent``, ``replicator``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from ferry.config import AgentConfig, CoordinatorConfig, ReplicatorConfig, ServiceConfig, load
from ferry.errors import FerryError


def add_etcd_flags(parser: argparse.ArgumentParser) -> None:
    """add_etcd_flags adds the settings of :class:`ferry.config.EtcdSettings`: how a
    service, or ``ferry backup``/``restore``, reaches the cluster's etcd."""
    g = parser.add_argument_group("etcd")
    g.add_argument("--etcd-endpoints", help="comma-separated etcd endpoints host:port")
    g.add_argument("--etcd-prefix", help="root of Ferry's keys in etcd (default /ferry)")
    g.add_argument("--etcd-ca-file", help="CA of etcd's certificate: dial etcd over TLS")
    g.add_argument("--etcd-cert-file", help="client certificate for etcd")
    g.add_argument("--etcd-key-file", help="private key of --etcd-cert-file")


def add_store_flag(parser: Any) -> None:
    parser.add_argument(
        "--store-url", help="index store: sqlite:///path/file.db or postgresql://user@host/db"
    )


def _service_flags(parser: argparse.ArgumentParser) -> None:
    add_etcd_flags(parser)
    g = parser.add_argument_group("service (flags override FERRY_* variables and --config)")
    g.add_argument("--config", help="YAML file with settings (keys as the flags, '_' or '-')")
    g.add_argument("--listen", help="gRPC listen address host:port")
    g.add_argument("--advertise", help="address other processes dial (default: the bound one)")
    g.add_argument("--id", help="member id (default: role-host-random)")
    g.add_argument("--lease-ttl", type=float, help="etcd session lease TTL, seconds (default 10)")
    g.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    g.add_argument("--grace-period", type=float, help="seconds in-flight RPCs get on SIGTERM")
    add_store_flag(g)
    g.add_argument("--health-listen", help="plaintext health-only gRPC address for probes (off)")
    g.add_argument("--metrics-listen", help="Prometheus /metrics endpoint host:port (off)")
    t = parser.add_argument_group("security (see docs/security.md)")
    t.add_argument("--tls-cert-file", help="PEM certificate served, and shown to other services")
    t.add_argument("--tls-key-file", help="PEM private key of --tls-cert-file")
    t.add_argument("--tls-client-ca-file", help="CA client certificates must chain to (mTLS)")
    t.add_argument("--tls-ca-file", help="CA trusted when calling other Ferry services")
    t.add_argument("--auth-tokens-file", help="YAML of API tokens and roles; enables auth")
    t.add_argument("--auth-token", help="token sent to other Ferry services (${env:X} allowed)")


def _config(cls: type[ServiceConfig], args: argparse.Namespace) -> Any:
    flags = {k: v for k, v in vars(args).items() if k not in ("func", "config", "command")}
    return load(cls, flags=flags, env=os.environ, file=args.config)


def _run(start: Callable[[], Coroutine[Any, Any, None]]) -> int:
    """_run builds and runs a service; a Ferry error (bad config or file) is one stderr line."""
    try:
        asyncio.run(start())
    except FerryError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _coordinator(args: argparse.Namespace) -> int:
    from services.coordinator.coordinator import serve

    return _run(lambda: serve(_config(CoordinatorConfig, args)))


def _agent(args: argparse.Namespace) -> int:
    from services.agent.agent import serve

    return _run(lambda: serve(_config(AgentConfig, args)))


def _replicator(args: argparse.Namespace) -> int:
    from services.replicator.replicator import serve

    return _run(lambda: serve(_config(ReplicatorConfig, args)))


def _up(args: argparse.Namespace) -> int:
    from ferry.cli.up import UpOptions, up

    options = UpOptions(
        data_dir=args.data_dir,
        listen=args.listen,
        replicator_listen=args.replicator_listen,
        etcd_endpoints=args.etcd_endpoints or "",
        connectors_file=args.connectors_file or "",
        lease_ttl=args.lease_ttl,
        log_level=args.log_level,
        store_url=args.store_url or "",
        demo_postgres=args.demo_postgres,
    )
    return _run(lambda: up(options))


def add_commands(subparsers: Any) -> None:
    """add_commands adds the service commands to the ``ferry`` parser."""
    p = subparsers.add_parser(
        "up",
        help="run etcd, a coordinator, an agent and a replicator on this machine",
        description="Run a complete single-machine Ferry. Data and logs go under --data-dir.",
    )
    p.add_argument("--data-dir", default=".ferry", help="where etcd data and logs live")
    p.add_argument("--listen", default="127.0.0.1:50051", help="coordinator address")
    p.add_argument(
        "--replicator-listen",
        default="127.0.0.1:50053",
        help="replicator address: other clusters follow this one's indices through it",
    )
    p.add_argument("--etcd-endpoints", help="use this etcd instead of starting an embedded one")
    p.add_argument("--connectors-file", help="declarative connectors file for the coordinator")
    p.add_argument("--lease-ttl", type=float, default=10.0, help="session lease TTL, seconds")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument(
        "--store-url",
        help="index store of every service (default: sqlite:///<data-dir>/store/ferry.db)",
    )
    p.add_argument(
        "--demo-postgres",
        action="store_true",
        help="also run an embedded PostgreSQL with pgbench's tables; its URL is "
        "FERRY_DEMO_POSTGRES_DSN in every service's environment",
    )
    p.set_defaults(func=_up)

    p = subparsers.add_parser("coordinator", help="run a coordinator replica")
    _service_flags(p)
    p.add_argument(
        "--connectors-file", help="make stored connectors match this file (SIGHUP reloads)"
    )
    p.add_argument(
        "--read-only", action="store_true", default=None, help="refuse every mutating RPC"
    )
    p.add_argument(
        "--auto-follow-interval",
        type=float,
        help="seconds between the leader's auto-follow rounds (default 1)",
    )
    p.set_defaults(func=_coordinator)

    p = subparsers.add_parser("agent", help="run an agent")
    _service_flags(p)
    p.add_argument("--max-concurrent-tasks", type=int, help="capacity (default 4)")
    p.add_argument("--labels", help="placement labels k=v,k2=v2")
    p.add_argument(
        "--checkpoint-docs", type=int, help="commit a checkpoint after this many documents"
    )
    p.add_argument(
        "--checkpoint-interval", type=float, help="or after this many seconds (default 2)"
    )
    p.add_argument("--batch-docs", type=int, help="documents per store write (default 1000)")
    p.add_argument(
        "--isolated-memory-mb",
        type=int,
        help="memory limit of an isolated connector's process without its own (default 1024)",
    )
    p.set_defaults(func=_agent)

    p = subparsers.add_parser("replicator", help="run a replicator")
    _service_flags(p)
    p.add_argument(
        "--history-trim-interval",
        type=float,
        help="seconds between trims of leader history below retention leases (default 60)",
    )
    p.add_argument(
        "--retention-lease-period",
        type=float,
        help="seconds a retention lease lives after renewal by a follower (default 43200)",
    )
    p.set_defaults(func=_replicator)
