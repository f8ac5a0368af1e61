"""Cluster: real Ferry processes for the sync and replication benchmarks, driven over gRPC.

One embedded etcd, one SQLite index store, a coordinator, agents and
replicators started as ``python -m ferry.cli.main ROLE`` child processes,
each on a free port with its log in the cluster's directory. The driver
creates generator connectors, starts jobs and polls them, as an operator's
client would.

The module name starts with "_" so that ``python -m bench`` does not take it
for a benchmark.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import grpc
from google.protobuf import struct_pb2
from grpc_health.v1 import health_pb2

from ferry.children import terminate
from ferry.etcd import EmbeddedEtcd, free_port
from ferry.store import open_store
from ferry.v1 import (
    agents_pb2,
    agents_pb2_grpc,
    connectors_pb2,
    connectors_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
)

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent
FINISHED = frozenset(
    {jobs_pb2.JOB_STATE_COMPLETED, jobs_pb2.JOB_STATE_FAILED, jobs_pb2.JOB_STATE_CANCELED}
)
KEY_ROOT = "/bench"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"


def wait_for(
    condition: Callable[[], T | None], *, timeout: float, interval: float = 0.05, what: str
) -> T:
    """wait_for polls ``condition`` until it returns something truthy; RuntimeError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


class Service:
    """Service is one ``ferry ROLE`` child process listening on a free loopback port."""

    def __init__(self, role: str, member_id: str, args: list[str], log_dir: Path) -> None:
        self.role = role
        self.member_id = member_id
        self.address = f"127.0.0.1:{free_port()}"
        self.log_path = log_dir / f"{member_id}.log"
        self.cmd = [
            sys.executable, "-m", "ferry.cli.main", role,
            "--listen", self.address, "--id", member_id, "--log-level", "warning", *args,
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO
            )
        return self

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.member_id} was not started")
        return self.process.pid

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return "(no log)"

    def serving(self) -> bool:
        """serving is True once the process answers grpc.health.v1 with SERVING."""
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"{self.member_id} exited: {self.log_tail()}")
        try:
            with grpc.insecure_channel(self.address) as channel:
                check = channel.unary_unary(
                    HEALTH_CHECK,
                    request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                    response_deserializer=health_pb2.HealthCheckResponse.FromString,
                )
                reply = check(health_pb2.HealthCheckRequest(), timeout=1)
        except grpc.RpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    def wait_serving(self, timeout: float = 30.0) -> Service:
        """wait_serving waits until the process serves; RuntimeError if it exits first or
        ``timeout`` passes. Returns self."""
        wait_for(self.serving, timeout=timeout, what=f"{self.member_id} serving")
        return self

    def peak_rss_mb(self) -> float:
        """peak_rss_mb is the process's peak resident set (VmHWM), in MiB; Linux only."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmHWM in /proc/{self.pid}/status")

    def kill(self) -> None:
        """kill sends SIGKILL and reaps the process: a crash, nothing handed back."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 15.0) -> None:
        """stop sends SIGTERM and waits, then SIGKILL; idempotent."""
        if self.process is not None:
            terminate(self.process, timeout)


class Cluster:
    """Cluster is an etcd, a SQLite index store and the Ferry processes over them.

    Use it as a context manager: leaving it stops every process it started,
    agents first, then the coordinator, then etcd.
    """

    def __init__(self, directory: Path, *, lease_ttl: float = 3.0) -> None:
        self.directory = directory
        self.lease_ttl = lease_ttl
        self.store_url = f"sqlite:///{directory / 'store.db'}"
        self.etcd = EmbeddedEtcd(directory / "etcd")
        self.services: list[Service] = []
        self._ids = itertools.count(1)
        self._channel: grpc.Channel | None = None

    def __enter__(self) -> Cluster:
        self.etcd.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        for service in reversed(self.services):
            service.stop()
        self.etcd.stop()

    # Processes --------------------------------------------------------------------

    def launch(self, role: str, args: Sequence[str] = ()) -> Service:
        """launch starts a ``ferry ROLE`` process over the cluster's etcd and store, with
        ``args`` added; it does not wait for it to serve (:meth:`Service.wait_serving`)."""
        common = [
            "--etcd-endpoints", self.etcd.endpoint, "--etcd-prefix", KEY_ROOT,
            "--store-url", self.store_url, "--lease-ttl", str(self.lease_ttl),
            "--grace-period", "2",
        ]  # fmt: skip
        service = Service(role, f"{role}-{next(self._ids)}", [*common, *args], self.directory)
        self.services.append(service.start())
        return service

    def coordinator(self) -> Service:
        """coordinator starts a coordinator and waits until it serves."""
        return self.launch("coordinator").wait_serving()

    def replicator(self) -> Service:
        """replicator starts a replicator (over the cluster's store) and waits until it serves."""
        return self.launch("replicator").wait_serving()

    def agents(
        self,
        count: int = 1,
        *,
        capacity: int = 1,
        batch_docs: int = 1000,
        checkpoint_docs: int = 10_000,
        checkpoint_interval: float = 2.0,
    ) -> list[Service]:
        """agents starts ``count`` agents at once and waits until each has registered."""
        args = [
            "--max-concurrent-tasks", str(capacity), "--batch-docs", str(batch_docs),
            "--checkpoint-docs", str(checkpoint_docs),
            "--checkpoint-interval", str(checkpoint_interval),
        ]  # fmt: skip
        started = [self.launch("agent", args) for _ in range(count)]
        for service in started:
            service.wait_serving()
        wanted = {s.member_id for s in started}
        wait_for(
            lambda: wanted <= self.registered_agents(), timeout=30, what=f"{sorted(wanted)} listed"
        )
        return started

    # gRPC ---------------------------------------------------------------------------

    @property
    def channel(self) -> grpc.Channel:
        if self._channel is None:
            coordinator = next(s for s in self.services if s.role == "coordinator")
            self._channel = grpc.insecure_channel(coordinator.address)
        return self._channel

    def registered_agents(self) -> set[str]:
        reply = agents_pb2_grpc.AgentsStub(self.channel).List(
            agents_pb2.ListAgentsRequest(), timeout=5
        )
        return {a.id for a in reply.agents}

    def generator(self, name: str, *, tasks_max: int = 1, **config: Any) -> None:
        """generator creates a generator connector indexing into an index of its own name."""
        self.connector(name, "generator", config, tasks_max=tasks_max)

    def connector(
        self, name: str, type_: str, config: dict[str, Any], *, tasks_max: int = 1
    ) -> None:
        """connector creates a connector of any type indexing into an index of its own name."""
        struct = struct_pb2.Struct()
        struct.update(config)
        spec = connectors_pb2.ConnectorSpec(
            name=name, type=type_, index=name, config=struct, tasks_max=tasks_max
        )
        connectors_pb2_grpc.ConnectorsStub(self.channel).Create(
            connectors_pb2.CreateConnectorRequest(spec=spec), timeout=10
        )

    def sync(self, connector: str) -> str:
        """sync starts a FULL job of the connector and returns its id."""
        job = jobs_pb2_grpc.JobsStub(self.channel).Start(
            jobs_pb2.StartJobRequest(connector=connector, kind=jobs_pb2.JOB_KIND_FULL), timeout=10
        )
        return str(job.id)

    def job(self, job_id: str) -> jobs_pb2.Job:
        return jobs_pb2_grpc.JobsStub(self.channel).Get(
            jobs_pb2.GetJobRequest(id=job_id), timeout=10
        )

    def wait_job(self, job_id: str, *, timeout: float, interval: float = 0.05) -> jobs_pb2.Job:
        """wait_job polls the job until it finishes; RuntimeError unless it COMPLETED."""

        def finished() -> jobs_pb2.Job | None:
            job = self.job(job_id)
            return job if job.state in FINISHED else None

        job = wait_for(finished, timeout=timeout, interval=interval, what=f"job {job_id} to finish")
        if job.state != jobs_pb2.JOB_STATE_COMPLETED:
            raise RuntimeError(
                f"job {job_id} ended {jobs_pb2.JobState.Name(job.state)}: {job.error}"
            )
        return job

    def timed_sync(self, connector: str, expected: int, *, timeout: float) -> float:
        """timed_sync runs a FULL job of the connector, timed from ``Jobs.Start`` until it
        COMPLETED (the sweep included), and checks that the job indexed and the index holds
        ``expected`` documents; RuntimeError otherwise. Documents per second."""
        start = time.perf_counter()
        job_id = self.sync(connector)
        job = self.wait_job(job_id, timeout=timeout)
        elapsed = time.perf_counter() - start
        if job.counters.docs_indexed != expected:
            raise RuntimeError(
                f"job {job_id} indexed {job.counters.docs_indexed} of {expected} documents"
            )
        stored = self.index_count(connector)
        if stored != expected:
            raise RuntimeError(f"index {connector} holds {stored} documents, expected {expected}")
        return expected / elapsed

    def index_count(self, index: str) -> int:
        """index_count is how many documents the index holds, read from the store."""

        async def count() -> int:
            async with open_store(self.store_url) as store:
                return await store.count(index)

        return asyncio.run(count())


def alternate(
    sides: Mapping[str, Callable[[str], float]], *, rounds: int, what: str, unit: str
) -> dict[str, list[float]]:
    """alternate runs every side once a round, labelled with the round's number: in the
    order given on even rounds, reversed on odd ones, so that neither side always goes
    first. Returns each side's rates, printing them as they come."""
    names = list(sides)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for i in range(rounds):
        for name in names if i % 2 == 0 else names[::-1]:
            measured = sides[name](str(i))
            rates[name].append(measured)
            print(f"  {what} round {i + 1}: {name:5} {measured:8.0f} {unit}", file=sys.stderr)
    return rates


def readers(job: jobs_pb2.Job) -> Iterable[jobs_pb2.Task]:
    """readers are the job's tasks that read the source (not the final sweep)."""
    return (t for t in job.tasks if not t.sweep)


def environ_int(name: str, default: int) -> int:
    """environ_int reads a benchmark size override, e.g. FERRY_BENCH_MEMORY_DOCS."""
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, got {value!r}") from None
