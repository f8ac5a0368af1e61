"""SyncCluster: a real coordinator and real agents over one etcd and one SQLite store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import duration_pb2, struct_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ferry import etcd as ferry_etcd
from ferry.connectors.generator import GeneratorSource
from ferry.etcd import Keys
from ferry.store import open_store
from ferry.sync.records import CLAIM_KIND
from ferry.v1 import (
    agents_pb2,
    agents_pb2_grpc,
    cluster_pb2,
    cluster_pb2_grpc,
    connectors_pb2,
    connectors_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
)
from tests.helpers import ServiceProcess, wait_until

FINISHED = (jobs_pb2.JOB_STATE_COMPLETED, jobs_pb2.JOB_STATE_FAILED, jobs_pb2.JOB_STATE_CANCELED)
QUICK_RETRY = connectors_pb2.ErrorPolicy(
    max_retries=1,
    initial_backoff=duration_pb2.Duration(nanos=100_000_000),
    max_backoff=duration_pb2.Duration(nanos=200_000_000),
)
"""QUICK_RETRY retries a failed task once, after at most 0.2 s."""


class SyncCluster:
    """SyncCluster starts processes under one key root and drives them over gRPC."""

    def __init__(
        self,
        start: Callable[..., ServiceProcess],
        etcd_endpoint: str,
        keys: Keys,
        tmp_path: Path,
        *,
        lease_ttl: float = 3.0,
        store_name: str = "store",
    ) -> None:
        self._start = start
        self.etcd_endpoint = etcd_endpoint
        self.keys = keys
        self.store_url = f"sqlite:///{tmp_path / f'{store_name}.db'}"
        self.lease_ttl = lease_ttl
        self.coordinators: list[ServiceProcess] = []
        self.agents: list[ServiceProcess] = []
        self._channel: grpc.Channel | None = None

    def _common(self) -> list[str]:
        return ["--etcd-prefix", self.keys.root, "--store-url", self.store_url]

    def coordinator(self, *extra: str) -> ServiceProcess:
        proc = self._start(
            "coordinator",
            self.etcd_endpoint,
            args=[*self._common(), *extra],
            lease_ttl=self.lease_ttl,
        )
        self.coordinators.append(proc.wait_serving())
        return proc

    def agent(
        self,
        *,
        capacity: int = 4,
        labels: str = "",
        checkpoint_docs: int = 1000,
        checkpoint_interval: float = 1.0,
        member_id: str = "",
        wait: bool = True,
    ) -> ServiceProcess:
        args = [
            *self._common(),
            "--max-concurrent-tasks", str(capacity),
            "--checkpoint-docs", str(checkpoint_docs),
            "--checkpoint-interval", str(checkpoint_interval),
        ]  # fmt: skip
        if labels:
            args += ["--labels", labels]
        proc = self._start(
            "agent", self.etcd_endpoint, args=args, lease_ttl=self.lease_ttl, member_id=member_id
        )
        self.agents.append(proc)
        if wait:
            proc.wait_serving()
            wait_until(
                lambda: proc.member_id in {a.id for a in self.list_agents()},
                what=f"{proc.member_id} registered",
            )
        return proc

    # gRPC -------------------------------------------------------------------------

    def through(self, coordinator: ServiceProcess) -> None:
        """through makes every later call go to ``coordinator`` (e.g. the survivor of a
        failover)."""
        self.close()
        self._channel = grpc.insecure_channel(coordinator.address)

    @property
    def channel(self) -> grpc.Channel:
        if self._channel is None:
            self._channel = grpc.insecure_channel(self.coordinators[0].address)
        return self._channel

    @property
    def connectors(self) -> connectors_pb2_grpc.ConnectorsStub:
        return connectors_pb2_grpc.ConnectorsStub(self.channel)

    @property
    def jobs(self) -> jobs_pb2_grpc.JobsStub:
        return jobs_pb2_grpc.JobsStub(self.channel)

    @property
    def cluster(self) -> cluster_pb2_grpc.ClusterStub:
        return cluster_pb2_grpc.ClusterStub(self.channel)

    @property
    def agents_api(self) -> agents_pb2_grpc.AgentsStub:
        return agents_pb2_grpc.AgentsStub(self.channel)

    def list_agents(self) -> list[Any]:
        return list(self.agents_api.List(agents_pb2.ListAgentsRequest(), timeout=5).agents)

    def generator(
        self,
        name: str,
        *,
        index: str = "",
        tasks_max: int = 1,
        selector: dict[str, str] | None = None,
        schedule: connectors_pb2.Schedule | None = None,
        error_policy: connectors_pb2.ErrorPolicy | None = None,
        **config: Any,
    ) -> connectors_pb2.Connector:
        return self.create(
            name,
            "generator",
            config,
            index=index,
            tasks_max=tasks_max,
            selector=selector,
            schedule=schedule,
            error_policy=error_policy,
        )

    def create(
        self,
        name: str,
        type_: str,
        config: dict[str, Any],
        *,
        index: str = "",
        tasks_max: int = 1,
        selector: dict[str, str] | None = None,
        schedule: connectors_pb2.Schedule | None = None,
        error_policy: connectors_pb2.ErrorPolicy | None = None,
        rules: connectors_pb2.SyncRules | None = None,
        **spec_fields: Any,
    ) -> connectors_pb2.Connector:
        """create stores a connector of any type; spec_fields set other ConnectorSpec
        fields (isolation, memory_limit_bytes)."""
        struct = struct_pb2.Struct()
        struct.update(config)
        spec = connectors_pb2.ConnectorSpec(
            name=name,
            type=type_,
            index=index or name,
            config=struct,
            tasks_max=tasks_max,
            agent_selector=selector or {},
            **spec_fields,
        )
        for field, value in (
            ("schedule", schedule),
            ("error_policy", error_policy),
            ("rules", rules),
        ):
            if value is not None:
                getattr(spec, field).CopyFrom(value)
        return self.connectors.Create(connectors_pb2.CreateConnectorRequest(spec=spec), timeout=5)

    def update_config(self, name: str, **config: Any) -> connectors_pb2.Connector:
        current = self.connectors.Get(connectors_pb2.GetConnectorRequest(name=name), timeout=5)
        current.spec.config.update(config)
        return self.connectors.Update(
            connectors_pb2.UpdateConnectorRequest(spec=current.spec), timeout=5
        )

    def sync(self, name: str, kind: int = jobs_pb2.JOB_KIND_FULL) -> jobs_pb2.Job:
        return self.jobs.Start(jobs_pb2.StartJobRequest(connector=name, kind=kind), timeout=5)

    def sync_and_wait(
        self, name: str, kind: int = jobs_pb2.JOB_KIND_FULL, *, timeout: float = 60.0
    ) -> jobs_pb2.Job:
        """sync_and_wait runs one job to its end and asserts it COMPLETED."""
        job = self.wait_job(self.sync(name, kind).id, timeout=timeout)
        assert job.state == jobs_pb2.JOB_STATE_COMPLETED, (
            f"job {job.id} ended {jobs_pb2.JobState.Name(job.state)}: "
            + "; ".join(f"{t.id}: {t.error}" for t in job.tasks if t.error)
        )
        return job

    def job(self, job_id: str) -> jobs_pb2.Job:
        return self.jobs.Get(jobs_pb2.GetJobRequest(id=job_id), timeout=5)

    def wait_job(
        self, job_id: str, states: Iterable[int] = FINISHED, *, timeout: float = 60.0
    ) -> jobs_pb2.Job:
        wanted = set(states)
        job = wait_until(
            lambda: (j := self.job(job_id)).state in wanted and j,
            timeout=timeout,
            interval=0.1,
            what=f"job {job_id} in {sorted(jobs_pb2.JobState.Name(s) for s in wanted)}",
        )
        return job

    def maintenance(self, enabled: bool) -> cluster_pb2.MaintenanceStatus:
        return self.cluster.SetMaintenance(
            cluster_pb2.SetMaintenanceRequest(enabled=enabled), timeout=5
        )

    def maintenance_status(self) -> cluster_pb2.MaintenanceStatus:
        return self.cluster.GetMaintenance(cluster_pb2.GetMaintenanceRequest(), timeout=5)

    def drain(self, agent_id: str) -> None:
        self.agents_api.Drain(agents_pb2.DrainAgentRequest(id=agent_id), timeout=5)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()


def bad_fields(call: grpc.RpcError) -> dict[str, str]:
    """bad_fields is an INVALID_ARGUMENT's BadRequest violations, field → description."""
    assert call.code() == grpc.StatusCode.INVALID_ARGUMENT, call  # type: ignore[attr-defined]
    status = rpc_status.from_call(call)  # type: ignore[arg-type]
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    return {v.field: v.description for v in bad_request.field_violations}


def index_equals_generator(store_url: str, index: str, **config: Any) -> None:
    """index_equals_generator asserts the index holds exactly the generator's documents."""
    asyncio.run(_compare(store_url, index, config))


def generator_data(**config: Any) -> GeneratorSource:
    """generator_data is the generator source a connector of this config reads."""
    normalised, problems = GeneratorSource.schema.validate(config)
    assert problems == []
    return GeneratorSource(normalised)


async def _compare(store_url: str, index: str, config: dict[str, Any]) -> None:
    source = generator_data(**config)
    expected_ids = [i for i in range(int(source.config["docs"])) if source.exists(i)]
    async with open_store(store_url) as store:
        count = await store.count(index)
        assert count == len(expected_ids), (
            f"index has {count} documents, source {len(expected_ids)}"
        )
        for start in range(0, len(expected_ids), 2000):
            chunk = expected_ids[start : start + 2000]
            got = await store.multi_get(index, [f"doc-{i}" for i in chunk])
            for i, doc in zip(chunk, got, strict=True):
                assert doc is not None, f"doc-{i} missing"
                assert doc.source == source.document(i).source, f"doc-{i} differs"


def index_documents(store_url: str, index: str) -> dict[str, dict[str, Any]]:
    """index_documents is every document of the index, id → source."""

    async def read() -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        async with open_store(store_url) as store:
            cursor = ""
            while True:
                page = await store.search(index, size=1000, cursor=cursor)
                found.update((doc.id, doc.source) for doc in page.hits)
                if not page.next_cursor:
                    return found
                cursor = page.next_cursor

    return asyncio.run(read())


def operations(store_url: str, index: str) -> int:
    """operations is how many writes the index's history holds (re-writes included)."""

    async def count() -> int:
        async with open_store(store_url) as store:
            return sum(s.max_seq_no + 1 for s in await store.shard_stats(index))

    return asyncio.run(count())


def claim_history(etcd_endpoint: str, keys: Keys, since: int) -> list[tuple[str, str, str]]:
    """claim_history is every task-claim event since revision ``since``, in order:
    (PUT or DELETE, task id, agent id)."""
    return asyncio.run(_claim_history(etcd_endpoint, keys, since))


async def _claim_history(etcd_endpoint: str, keys: Keys, since: int) -> list[tuple[str, str, str]]:
    prefix = keys.claims(CLAIM_KIND)
    sentinel = prefix + "~end"
    client = ferry_etcd.connect(etcd_endpoint)
    try:
        await client.put(sentinel.encode(), b"")
        watch = await client.watch_prefix(prefix.encode(), start_revision=since, prev_kv=True)
        events = []
        async for event in watch:
            key = event.kv.key.decode()
            if key == sentinel:
                break
            holder = event.kv.value if event.kind == "PUT" else event.prev_kv.value  # type: ignore[union-attr]
            events.append((event.kind, key[len(prefix) :], holder.decode()))
        await ferry_etcd.cancel_watch(watch)
        return events
    finally:
        await client.close()


def etcd_revision(etcd_endpoint: str) -> int:
    """etcd_revision is etcd's current revision."""

    async def current() -> int:
        client = ferry_etcd.connect(etcd_endpoint)
        try:
            status = await ferry_etcd.probe(client)
            assert status.healthy, status.error
            return status.revision
        finally:
            await client.close()

    return asyncio.run(current())
