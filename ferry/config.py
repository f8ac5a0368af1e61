"""Typed service configuration, built once at start-up.

Each service has a frozen dataclass config. Values come from, in order of
precedence: command-line flags, ``FERRY_<FIELD>`` environment variables, a
YAML config file (``--config``), then the field's default. Every error names
the field and where the bad value came from. Nothing else in Ferry reads
``os.environ`` for configuration.
"""

from __future__ import annotations

import dataclasses
import socket
import types
import typing
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ferry.errors import InvalidArgument

C = TypeVar("C")
ENV_PREFIX = "FERRY_"
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True, kw_only=True)
class EtcdSettings:
    """EtcdSettings say how to reach a cluster's etcd: every service and ``ferry backup``."""

    etcd_endpoints: str = "127.0.0.1:2379"
    """Comma-separated etcd client endpoints (host:port)."""
    etcd_prefix: str = "/ferry"
    """Root of Ferry's keys in etcd; clusters sharing one etcd use different roots."""
    etcd_ca_file: str = ""
    """PEM CA bundle of etcd's server certificate; set, etcd is dialled over TLS."""
    etcd_cert_file: str = ""
    """PEM client certificate for etcd (when etcd requires client certificates)."""
    etcd_key_file: str = ""
    """PEM private key of ``etcd_cert_file``."""

    def __post_init__(self) -> None:
        _pair(self, "etcd_cert_file", "etcd_key_file")


def _pair(config: object, cert: str, key: str) -> None:
    """_pair: a certificate and its key are set together or not at all."""
    if bool(getattr(config, cert)) != bool(getattr(config, key)):
        missing = key if getattr(config, cert) else cert
        raise InvalidArgument.field(missing, f"{cert} and {key} go together")


@dataclass(frozen=True, kw_only=True)
class ServiceConfig(EtcdSettings):
    """ServiceConfig holds what every Ferry service needs."""

    listen: str = "127.0.0.1:0"
    """Address the gRPC server binds, host:port (port 0 picks a free one)."""
    advertise: str = ""
    """Address other processes dial; defaults to the bound address."""
    id: str = ""
    """Member id in the cluster; defaults to hostname-random."""
    lease_ttl: float = 10.0
    """etcd session lease TTL in seconds: at least 2 (3 or more in production)."""
    log_level: str = "info"
    """debug, info, warning or error."""
    grace_period: float = 10.0
    """Seconds in-flight RPCs get to finish on SIGTERM."""
    store_url: str = ""
    """Index store: ``sqlite:///path/to/file.db`` (embedded, one machine) or
    ``postgresql://user:password@host:port/db`` (shared by many machines).
    Empty means none configured: the Indices API then answers FAILED_PRECONDITION."""
    health_listen: str = ""
    """Address of a second, plaintext gRPC server offering only ``grpc.health.v1``, for probes
    that cannot speak TLS (Kubernetes' native gRPC probes); empty: none."""
    metrics_listen: str = ""
    """Address of the Prometheus ``/metrics`` HTTP endpoint, host:port (port 0 picks a free
    one); empty turns it off."""
    tls_cert_file: str = ""
    """PEM certificate of this process: served by its gRPC server, and presented as the client
    certificate when it calls other Ferry services. Empty: plaintext gRPC."""
    tls_key_file: str = ""
    """PEM private key of ``tls_cert_file``."""
    tls_client_ca_file: str = ""
    """PEM CA bundle client certificates must chain to: set, it makes TLS mutual (a client
    without a valid certificate is refused)."""
    tls_ca_file: str = ""
    """PEM CA bundle this process trusts when it calls other Ferry services over TLS: those of
    its own cluster (when it serves TLS itself) and remote clusters added with ``tls``."""
    auth_tokens_file: str = ""
    """YAML file of API tokens and their roles (admin, operator, viewer), reloaded on change;
    set, every RPC but health and reflection needs a bearer token."""
    auth_token: str = ""
    """Bearer token this process sends when it calls other Ferry services; a literal or a
    ``${env:NAME}`` / ``${file:PATH}`` reference."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 2.0 <= self.lease_ttl <= 3600.0:
            raise InvalidArgument.field(
                "lease_ttl", f"must be between 2 and 3600 s, got {self.lease_ttl}"
            )
        if self.log_level.lower() not in LOG_LEVELS:
            raise InvalidArgument.field(
                "log_level", f"must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}"
            )
        if self.grace_period < 0:
            raise InvalidArgument.field("grace_period", "must not be negative")
        _pair(self, "tls_cert_file", "tls_key_file")
        if self.tls_client_ca_file and not self.tls_cert_file:
            raise InvalidArgument.field(
                "tls_cert_file", "mutual TLS (tls_client_ca_file) needs the server's certificate"
            )

    def member_id(self, role: str) -> str:
        """member_id is the configured id or a fresh "<role>-<host>-<random>"."""
        if self.id:
            return self.id
        host = socket.gethostname().split(".")[0].lower()
        return f"{role}-{host}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, kw_only=True)
class CoordinatorConfig(ServiceConfig):
    """CoordinatorConfig configures one coordinator replica."""

    listen: str = "127.0.0.1:50051"
    connectors_file: str = ""
    """YAML file the stored connectors are made to match, at start and on SIGHUP."""
    read_only: bool = False
    """Refuse every mutating RPC with PERMISSION_DENIED."""
    auto_follow_interval: float = 1.0
    """Seconds between the leader's auto-follow rounds (each lists the remote clusters' indices)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.auto_follow_interval <= 3600:
            raise InvalidArgument.field("auto_follow_interval", "must be in (0, 3600] seconds")


@dataclass(frozen=True, kw_only=True)
class AgentConfig(ServiceConfig):
    """AgentConfig configures one agent."""

    max_concurrent_tasks: int = 4
    """Capacity: the most tasks this agent runs at once."""
    labels: dict[str, str] = field(default_factory=dict)
    """Placement labels, "k=v,k2=v2" from flags or environment."""
    checkpoint_docs: int = 10_000
    """A task commits its checkpoint after at least this many documents..."""
    checkpoint_interval: float = 2.0
    """...or this many seconds, whichever comes first (at the source's next checkpoint)."""
    batch_docs: int = 1000
    """Documents per store write."""
    isolated_memory_mb: int = 1024
    """Memory limit of an isolated connector's process when its spec sets none."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.max_concurrent_tasks <= 10_000:
            raise InvalidArgument.field("max_concurrent_tasks", "must be between 1 and 10000")
        if self.checkpoint_docs < 1:
            raise InvalidArgument.field("checkpoint_docs", "must be at least 1")
        if not 0 < self.checkpoint_interval <= 3600:
            raise InvalidArgument.field("checkpoint_interval", "must be in (0, 3600] seconds")
        if not 1 <= self.batch_docs <= 10_000:
            raise InvalidArgument.field("batch_docs", "must be between 1 and 10000")
        if not 32 <= self.isolated_memory_mb <= 1_048_576:
            raise InvalidArgument.field("isolated_memory_mb", "must be between 32 and 1048576")


@dataclass(frozen=True, kw_only=True)
class ReplicatorConfig(ServiceConfig):
    """ReplicatorConfig configures one replicator."""

    history_trim_interval: float = 60.0
    """Seconds between trims of the leader indices' history below every retention lease."""
    retention_lease_period: float = 43200.0
    """Seconds a retention lease lives after a ReadOperations stream or Bootstrap renews it
    (12 h, as CCR)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.history_trim_interval <= 86400:
            raise InvalidArgument.field("history_trim_interval", "must be in (0, 86400] seconds")
        if not 1 <= self.retention_lease_period <= 30 * 86400:
            raise InvalidArgument.field("retention_lease_period", "must be between 1 s and 30 days")


@dataclass(frozen=True, kw_only=True)
class BackupConfig(EtcdSettings):
    """BackupConfig says which cluster ``ferry backup`` reads and ``ferry restore`` writes."""

    store_url: str = ""
    """The cluster's index store (``sqlite:///...`` or ``postgresql://...``); required."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.store_url:
            raise InvalidArgument.field("store_url", "is required (the cluster's index store)")
        if not self.etcd_prefix.startswith("/") or self.etcd_prefix.endswith("/"):
            raise InvalidArgument.field(
                "etcd_prefix", f"must start with '/' and not end with one, got {self.etcd_prefix!r}"
            )


def load(
    cls: type[C],
    *,
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    file: str | Path | None = None,
) -> C:
    """load builds ``cls`` from flags, environment and an optional YAML file.

    Flags whose value is None count as unset. Unknown keys in the file are
    errors (a typo must not silently fall back to a default).
    """
    file_values: dict[str, Any] = {}
    if file:
        try:
            loaded = yaml.safe_load(Path(file).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidArgument.field("config", f"cannot read {file}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise InvalidArgument.field("config", f"{file} must hold a mapping")
        file_values = {str(k).replace("-", "_"): v for k, v in loaded.items()}
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(file_values) - names)
    if unknown:
        raise InvalidArgument.field(unknown[0], f"unknown setting in {file}")
    values: dict[str, Any] = {}
    for name in names:
        env_name = ENV_PREFIX + name.upper()
        if flags is not None and flags.get(name) is not None:
            raw, source = flags[name], f"--{name.replace('_', '-')}"
        elif env is not None and env.get(env_name, "") != "":
            raw, source = env[env_name], env_name
        elif name in file_values:
            raw, source = file_values[name], f"{file}"
        else:
            continue
        values[name] = _coerce(name, raw, hints[name], source)
    return cls(**values)


def _coerce(name: str, raw: Any, hint: Any, source: str) -> Any:
    origin = typing.get_origin(hint)
    try:
        if hint is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(f"{raw!r} is not a boolean")
        if hint is int:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError(f"{raw!r} is not an integer")
            return int(raw)
        if hint is float:
            if isinstance(raw, bool):
                raise ValueError(f"{raw!r} is not a number")
            return float(raw)
        if hint is str:
            if isinstance(raw, (dict, list)):
                raise ValueError("expected a string")
            return str(raw)
        if origin is dict or hint is dict:
            return _labels(raw)
        if origin in (types.UnionType, typing.Union):
            raise ValueError("unsupported type")
    except ValueError as exc:
        raise InvalidArgument.field(name, f"{exc} (from {source})") from exc
    raise InvalidArgument.field(name, f"unsupported setting type {hint} (from {source})")


def _labels(raw: Any) -> dict[str, str]:
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items()}
    labels = {}
    for item in str(raw).split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{item!r} is not key=value")
        labels[key.strip()] = value.strip()
    return labels
