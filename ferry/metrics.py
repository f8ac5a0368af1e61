"""Prometheus metrics of every Ferry service, and the HTTP endpoint that serves them.

Every metric lives in :data:`REGISTRY`, this process's own registry (not
prometheus_client's global one), defined once at import: services running in
one process (tests) share the series instead of registering them twice.
Labels are only ``connector``, ``index``, ``shard``, ``state`` and ``kind``,
so the number of series stays bounded by the cluster's configuration, never
by its traffic (no job, task or document ids).

Values that a component already keeps live (a follower shard's lag, a task's
time since its last checkpoint) are read when Prometheus scrapes, by
collectors the component adds itself to while it runs: when it stops, its
series go with it.

:class:`MetricsServer` serves ``GET /metrics`` on ``metrics_listen``; see
docs/observability.md for the list of metrics and what to alert on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from ferry.errors import InvalidArgument

log = logging.getLogger(__name__)

disable_created_metrics()  # no *_created series: they double what Prometheus stores
REGISTRY = CollectorRegistry()
"""REGISTRY holds every metric this process exports (Python's process and GC too)."""
ProcessCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

SOURCE = ("connector", "index")
"""SOURCE are the labels of the agent's document metrics: the connector and its index."""
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 4 * 3600.0)

# Every service ---------------------------------------------------------------------

LEASE_RENEWAL = Histogram(
    "ferry_etcd_lease_renewal_duration_seconds",
    "Time etcd took to renew this process's session lease (one keepalive round trip).",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
LEASE_RENEWAL_FAILURES = Counter(
    "ferry_etcd_lease_renewal_failures_total",
    "Session lease renewals that failed (etcd unreachable, timed out, or the lease gone).",
    registry=REGISTRY,
)

# Agent ---------------------------------------------------------------------------------

DOCS_INDEXED = Counter(
    "ferry_documents_indexed_total",
    "Documents written (created or updated) into an index by this agent's tasks.",
    SOURCE,
    registry=REGISTRY,
)
DOCS_DELETED = Counter(
    "ferry_documents_deleted_total",
    "Documents deleted from an index by this agent's tasks (sweeps included).",
    SOURCE,
    registry=REGISTRY,
)
DOCS_FAILED = Counter(
    "ferry_documents_failed_total",
    "Documents the store refused and the error policy skipped.",
    SOURCE,
    registry=REGISTRY,
)
BYTES_INDEXED = Counter(
    "ferry_indexed_bytes_total",
    "Bytes of document source written into an index by this agent's tasks.",
    SOURCE,
    registry=REGISTRY,
)
BATCHES_WRITTEN = Counter(
    "ferry_batches_written_total",
    "Batches written to the index store (one fenced bulk write each).",
    SOURCE,
    registry=REGISTRY,
)
STORE_WRITE = Histogram(
    "ferry_store_write_duration_seconds",
    "Time one batch's bulk write to the index store took.",
    SOURCE,
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
CHECKPOINT_COMMITS = Counter(
    "ferry_checkpoint_commits_total",
    "Checkpoints (cursor and counters) committed to etcd by this agent's tasks.",
    SOURCE,
    registry=REGISTRY,
)
TASK_RUNS = Counter(
    "ferry_task_runs_total",
    "Task executions on this agent that ended, by how: completed, failed, handed_back "
    "(revoked: checkpointed and released), fenced (another agent owns it), stopped "
    "(cancelled: session lost or shutdown), error (an unexpected error; see the log).",
    ("connector", "state"),
    registry=REGISTRY,
)
TASKS_RUNNING = Gauge(
    "ferry_tasks_running",
    "Tasks this agent is running now (claimed and not yet ended).",
    ("connector",),
    registry=REGISTRY,
)

# Coordinator (the leader) -------------------------------------------------------------

JOBS = Gauge(
    "ferry_jobs",
    "Jobs in etcd by state, as the leader's last scheduling pass saw them (leader only).",
    ("state",),
    registry=REGISTRY,
)
TASKS = Gauge(
    "ferry_tasks",
    "Tasks in etcd by state, as the leader's last scheduling pass saw them (leader only).",
    ("state",),
    registry=REGISTRY,
)
JOB_DURATION = Histogram(
    "ferry_job_duration_seconds",
    "Time from a job's creation to its end, by kind and final state.",
    ("kind", "state"),
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
SCHEDULER_PASSES = Counter(
    "ferry_scheduler_passes_total",
    "Scheduling passes the leader ran (read state, decide, write).",
    registry=REGISTRY,
)
SCHEDULER_PASS = Histogram(
    "ferry_scheduler_pass_duration_seconds",
    "Time one scheduling pass took, from reading the state to the last write: how long a "
    "pending task waits for an agent once the leader sees it.",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
TASK_ASSIGNMENTS = Counter(
    "ferry_task_assignments_total",
    "Task assignments the leader wrote.",
    registry=REGISTRY,
)
LEADER = Gauge(
    "ferry_coordinator_leader",
    "1 on the coordinator replica that leads (runs the scheduler), else 0.",
    registry=REGISTRY,
)

# Replicator, leader side ----------------------------------------------------------------

READ_STREAMS = Gauge(
    "ferry_replication_read_streams",
    "ReadOperations streams open on this replicator, by leader index.",
    ("index",),
    registry=REGISTRY,
)
OPS_SENT = Counter(
    "ferry_replication_operations_sent_total",
    "Operations this replicator sent to followers, by leader index.",
    ("index",),
    registry=REGISTRY,
)


class TaskMetrics:
    """TaskMetrics are the agent's metrics of one task's connector and index, bound once
    so that each batch only adds numbers (no label lookup on the hot path)."""

    def __init__(self, connector: str, index: str) -> None:
        self.connector = connector
        self.index = index
        self.indexed = DOCS_INDEXED.labels(connector, index)
        self.deleted = DOCS_DELETED.labels(connector, index)
        self.failed = DOCS_FAILED.labels(connector, index)
        self.bytes = BYTES_INDEXED.labels(connector, index)
        self.batches = BATCHES_WRITTEN.labels(connector, index)
        self.write_seconds = STORE_WRITE.labels(connector, index)
        self.commits = CHECKPOINT_COMMITS.labels(connector, index)


class CheckpointLag:
    """CheckpointLag exports ``ferry_checkpoint_lag_seconds``: per connector and index, the
    seconds since the least recently checkpointed of the running tasks committed.

    A task :meth:`mark` s each commit (a ``time.monotonic()``) and :meth:`forget` s itself
    when it ends; the value is computed when Prometheus scrapes.
    """

    def __init__(self) -> None:
        self._marks: dict[object, tuple[tuple[str, str], float]] = {}

    def mark(self, owner: object, labels: tuple[str, str], at: float) -> None:
        self._marks[owner] = (labels, at)

    def forget(self, owner: object) -> None:
        self._marks.pop(owner, None)

    def collect(self) -> Iterator[Metric]:
        now = time.monotonic()
        oldest: dict[tuple[str, str], float] = {}
        for labels, at in list(self._marks.values()):
            oldest[labels] = min(at, oldest.get(labels, at))
        family = GaugeMetricFamily(
            "ferry_checkpoint_lag_seconds",
            "Seconds since the running task of this connector and index that checkpointed "
            "least recently last committed its checkpoint (or started).",
            labels=SOURCE,
        )
        for labels, at in sorted(oldest.items()):
            family.add_metric(labels, now - at)
        yield family


CHECKPOINT_LAG = CheckpointLag()
REGISTRY.register(CHECKPOINT_LAG)

# Replicator, follower side ---------------------------------------------------------------

ShardStats = Any
"""ShardStats is a ferry.v1.replication_pb2.ShardFollowStats (not imported here)."""

_GAUGE, _COUNTER = GaugeMetricFamily, CounterMetricFamily
_Family = type[GaugeMetricFamily] | type[CounterMetricFamily]
_SHARD_METRICS: tuple[tuple[_Family, str, str, Callable[[ShardStats], float]], ...] = (
    (_GAUGE, "ferry_replication_lag_operations", "Operations the leader shard has that this "
     "follower shard has not applied (leader max seq_no - follower global checkpoint).",
     lambda s: s.lag_operations),
    (_GAUGE, "ferry_replication_lag_seconds", "Age of the oldest operation received and not "
     "yet applied (0 when everything received is applied).", lambda s: s.lag_millis / 1000),
    (_GAUGE, "ferry_replication_write_buffer_operations", "Operations received and waiting "
     "to be applied.", lambda s: s.write_buffer_operation_count),
    (_GAUGE, "ferry_replication_write_buffer_bytes", "Bytes of operations received and "
     "waiting to be applied.", lambda s: s.write_buffer_size_in_bytes),
    (_GAUGE, "ferry_replication_outstanding_credit_operations", "Operations of credit "
     "granted to the leader and not yet used.", lambda s: s.outstanding_credit_operations),
    (_GAUGE, "ferry_replication_outstanding_credit_bytes", "Bytes of credit granted to the "
     "leader and not yet used.", lambda s: s.outstanding_credit_bytes),
    (_GAUGE, "ferry_replication_follower_global_checkpoint", "The follower shard's global "
     "checkpoint (every seq_no up to it is applied).", lambda s: s.follower_global_checkpoint),
    (_COUNTER, "ferry_replication_operations_applied_total", "Operations applied to the "
     "follower shard by its current shard task.", lambda s: s.operations_written),
    (_COUNTER, "ferry_replication_bootstraps_total", "Snapshot copies (bootstraps) of the "
     "follower shard, over its life.", lambda s: s.bootstraps),
    (_COUNTER, "ferry_replication_read_exceptions_total", "Failed reads from the leader "
     "(retried) by the shard's current task.", lambda s: s.failed_read_requests),
)  # fmt: skip
"""_SHARD_METRICS are the follower shard metrics: family type, name, help, value."""


class FollowerShards:
    """FollowerShards exports the live stats of the follower shard tasks of this process,
    labelled by follower index and shard. A replicator :meth:`add` s a function returning
    its tasks' ShardFollowStats while it runs, and :meth:`remove` s it when it stops; a
    stopped shard task's series go at the next scrape."""

    def __init__(self) -> None:
        self._sources: list[Callable[[], Sequence[ShardStats]]] = []

    def add(self, source: Callable[[], Sequence[ShardStats]]) -> None:
        self._sources.append(source)

    def remove(self, source: Callable[[], Sequence[ShardStats]]) -> None:
        if source in self._sources:
            self._sources.remove(source)

    def collect(self) -> Iterator[Metric]:
        stats = [s for source in list(self._sources) for s in source()]
        for family_type, name, text, value in _SHARD_METRICS:
            family = family_type(name, text, labels=("index", "shard"))
            for s in stats:
                family.add_metric((s.follower_index, str(s.shard)), value(s))
            yield family


FOLLOWER_SHARDS = FollowerShards()
REGISTRY.register(FOLLOWER_SHARDS)


# The endpoint ----------------------------------------------------------------------------


def parse_listen(listen: str, field: str = "metrics_listen") -> tuple[str, int]:
    """parse_listen splits "host:port" ("[::1]:9464" for IPv6); port 0 picks a free one."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise InvalidArgument.field(field, f"must be host:port, got {listen!r}")
    return host.strip("[]"), int(port)


class MetricsServer:
    """MetricsServer serves :data:`REGISTRY` at ``GET /metrics`` over HTTP on ``listen``.

    With an empty ``listen`` it does nothing (the endpoint is off). ``address`` is the
    bound host:port once started, so port 0 works; start-up logs it. :meth:`stop` is
    idempotent.
    """

    def __init__(self, listen: str, *, registry: CollectorRegistry = REGISTRY) -> None:
        self.listen = listen
        self._bind = parse_listen(listen) if listen else None
        self.registry = registry
        self.address = ""
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """port is the bound port (0 before start or when off)."""
        return int(self.address.rpartition(":")[2]) if self.address else 0

    async def start(self) -> None:
        if self._bind is None or self._runner is not None:
            return
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        host, port = self._bind
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            await runner.cleanup()
            raise InvalidArgument.field(
                "metrics_listen", f"cannot listen on {self.listen}: {exc.strerror or exc}"
            ) from exc
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        host = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.address = f"{host}:{bound_port}"
        log.info("metrics serving", extra={"metrics_address": self.address})

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        # Collectors read live state that the event loop changes: collect on the loop.
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
