"""Jobs, drain, maintenance and restart as every coordinator replica serves them.

Replicas only write requests into etcd (a new PENDING job, CANCELING, a drain
marker, the maintenance key); the leader's scheduler acts on them. Reads
merge job, task, assignment and claim records read at one revision.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence

import aetcd

from ferry import telemetry
from ferry.errors import FailedPrecondition, InvalidArgument, NotFound
from ferry.etcd import Keys
from ferry.names import dns1123_label_error
from ferry.sync import records
from ferry.sync.records import TERMINAL_JOB, TERMINAL_TASK
from ferry.sync.state import SyncState, read_state
from ferry.v1 import cluster_pb2, common_pb2, connectors_pb2
from ferry.v1 import jobs_pb2 as pb
from services.coordinator.connectors import ConnectorStore
from services.coordinator.scheduler import new_job

RESOURCE = "job"
MAX_PAGE = 1000
DEFAULT_PAGE = 100
MAX_REQUEST_ID_BYTES = 128
MIN_WATCH_INTERVAL = 0.1
RATE_WINDOW = 5.0
"""RATE_WINDOW is how far back (seconds) Watch looks to compute rates."""


def _check_id(job_id: str, field: str = "id") -> None:
    if not job_id or "/" in job_id or len(job_id) > 200:
        raise InvalidArgument.field(field, "must be a job id (non-empty, no '/')")


class JobService:
    """JobService is the API side of the sync engine, backed by etcd only."""

    def __init__(self, client: aetcd.Client, keys: Keys, connectors: ConnectorStore) -> None:
        self._client = client
        self._keys = keys
        self._connectors = connectors

    # Jobs ---------------------------------------------------------------------

    async def start(self, name: str, kind: pb.JobKind, request_id: str = "") -> pb.Job:
        """start queues an on-demand job; idempotent per request_id."""
        if kind not in (pb.JOB_KIND_UNSPECIFIED, pb.JOB_KIND_FULL, pb.JOB_KIND_INCREMENTAL):
            raise InvalidArgument.field("kind", f"unknown job kind {kind}")
        if (problem := dns1123_label_error(name)) is not None:
            raise InvalidArgument.field("connector", problem)
        if request_id and ("/" in request_id or len(request_id.encode()) > MAX_REQUEST_ID_BYTES):
            raise InvalidArgument.field(
                "request_id", f"must be at most {MAX_REQUEST_ID_BYTES} bytes without '/'"
            )
        connector = await self._connectors.get(name)
        if connector.state != connectors_pb2.CONNECTOR_STATE_RUNNING:
            state = connectors_pb2.ConnectorState.Name(connector.state)
            raise FailedPrecondition(
                f"connector {name!r} is {state}: resume it before starting a sync",
                type="STATE",
                subject=f"connector/{name}",
            )
        job = new_job(connector, kind or pb.JOB_KIND_FULL, pb.JOB_TRIGGER_ON_DEMAND, time.time())
        job.request_id = request_id
        # The RPC's server span: every task execution of the job links to it.
        job.traceparent, job.tracestate = telemetry.current_trace_context()
        tx = self._client.transactions
        key = self._keys.job(job.id)
        compare = [tx.mod(self._keys.connector(name)) == connector.revision]
        success = [tx.put(key.encode(), records.encode(job))]
        failure = []
        if request_id:
            request_key = self._keys.job_request(name, request_id).encode()
            compare.append(tx.create(request_key) == 0)
            success.append(tx.put(request_key, job.id.encode()))
            failure.append(tx.get(request_key))
        ok, responses = await self._client.transaction(
            compare=compare, success=success, failure=failure
        )
        if ok:
            job.revision = responses[0].response_put.header.revision
            return job
        if request_id and responses[0]:
            return await self.get(responses[0][0][0].decode())
        return await self.start(name, kind, request_id)  # the connector changed meanwhile

    async def _state(self, job_id: str = "", *, jobs: bool = True) -> SyncState:
        return await read_state(
            self._client, self._keys, job_id=job_id, connectors=False, jobs=jobs
        )

    async def get(self, job_id: str) -> pb.Job:
        _check_id(job_id)
        state = await self._state(job_id)
        record = state.jobs.get(job_id)
        if record is None:
            raise NotFound(RESOURCE, job_id)
        return records.view(record, state.assigned, state.claims)

    async def list_jobs(self, request: pb.ListJobsRequest) -> tuple[list[pb.Job], str]:
        """list returns one page of jobs, newest first, and the next page token."""
        if request.page_size < 0:
            raise InvalidArgument.field("page_size", "must not be negative")
        if request.page_token:
            _check_id(request.page_token, "page_token")
        size = min(request.page_size or DEFAULT_PAGE, MAX_PAGE)
        state = await self._state()
        wanted_states = set(request.states)
        ordered = reversed(state.ordered_jobs())  # newest first
        jobs: list[pb.Job] = []
        passed = not request.page_token
        for record in ordered:
            job = record.job
            if not passed:
                passed = job.id == request.page_token
                continue
            if request.connector and job.connector != request.connector:
                continue
            if request.index and job.index != request.index:
                continue
            if wanted_states and job.state not in wanted_states:
                continue
            if request.kind and job.kind != request.kind:
                continue
            if len(jobs) == size:
                return jobs, jobs[-1].id
            jobs.append(records.view(record, state.assigned, state.claims))
        return jobs, ""

    async def cancel(self, job_id: str, reason: str = "") -> pb.Job:
        """cancel asks the leader to stop a job; finished jobs are refused."""
        for _ in range(16):
            job = await self.get(job_id)
            if job.state in (pb.JOB_STATE_CANCELING, pb.JOB_STATE_CANCELED):
                return job
            if job.state in TERMINAL_JOB:
                raise FailedPrecondition(
                    f"job {job_id!r} already finished ({pb.JobState.Name(job.state)})",
                    type="STATE",
                    subject=f"job/{job_id}",
                )
            job.state = pb.JOB_STATE_CANCELING
            job.error = reason or "canceled by request"
            revision = job.revision
            del job.tasks[:]
            job.ClearField("counters")
            key = self._keys.job(job_id)
            tx = self._client.transactions
            ok, _ = await self._client.transaction(
                compare=[tx.mod(key) == revision],
                success=[tx.put(key.encode(), records.encode(job))],
                failure=[],
            )
            if ok:
                return await self.get(job_id)
        raise FailedPrecondition(f"job {job_id!r} keeps changing; retry", type="BUSY")

    async def watch(self, job_id: str, interval: float) -> AsyncIterator[pb.JobProgress]:
        """watch yields progress at most every ``interval`` seconds while it changes,
        with rates computed from the counters' growth over the last few seconds."""
        interval = max(interval or 1.0, MIN_WATCH_INTERVAL)
        history: list[tuple[float, dict[str, tuple[int, int]]]] = []
        last: pb.JobProgress | None = None
        while True:
            job = await self.get(job_id)
            now = time.monotonic()
            history.append(
                (now, {t.id: (t.counters.docs_seen, t.counters.bytes_indexed) for t in job.tasks})
            )
            while len(history) > 2 and now - history[1][0] >= RATE_WINDOW:
                history.pop(0)
            progress = _progress(job, history)
            changed = last is None or _comparable(progress) != _comparable(last)
            if changed:
                yield progress
                last = progress
            if job.state in TERMINAL_JOB:
                return
            await asyncio.sleep(interval)

    # Restart --------------------------------------------------------------------

    async def restart(self, name: str, only_failed: bool) -> list[str]:
        """restart re-runs a connector's tasks from their checkpoints.

        The newest job is used: a FAILED one goes back to RUNNING with its failed
        tasks (or, without only_failed, every unfinished task) pending again; for
        a running job, every running task (or only failed ones) is released and
        claimed again.
        """
        await self._connectors.get(name)
        state = await self._state()
        jobs = [r for r in state.ordered_jobs() if r.job.connector == name]
        if not jobs:
            return []
        record = jobs[-1]
        if record.job.state in (pb.JOB_STATE_COMPLETED, pb.JOB_STATE_CANCELED):
            return []
        tx = self._client.transactions
        restarted: list[str] = []
        ops = []
        compares = []
        for t in record.tasks:
            task = t.task
            if only_failed and task.state != pb.TASK_STATE_FAILED:
                continue
            if task.state == pb.TASK_STATE_COMPLETED:
                continue
            if task.state in TERMINAL_TASK:
                fresh = pb.Task()
                fresh.CopyFrom(task)
                fresh.state = pb.TASK_STATE_PENDING
                fresh.error = ""
                fresh.ClearField("end_time")
                ops.append(tx.put(t.key.encode(), records.encode(fresh)))
                compares.append(tx.mod(t.key) == t.revision)
                restarted.append(task.id)
            elif (agent := state.assigned.get(task.id)) is not None:
                ops.append(tx.delete(self._keys.assignment(agent, task.id).encode()))
                restarted.append(task.id)
        if record.job.state == pb.JOB_STATE_FAILED and restarted:
            job = pb.Job()
            job.CopyFrom(record.job)
            job.state = pb.JOB_STATE_RUNNING
            job.error = ""
            job.ClearField("end_time")
            key = self._keys.job(job.id)
            ops.append(tx.put(key.encode(), records.encode(job)))
            compares.append(tx.mod(key) == record.job.revision)
        if ops:
            ok, _ = await self._client.transaction(compare=compares, success=ops, failure=[])
            if not ok:
                raise FailedPrecondition(
                    f"job {record.job.id!r} changed meanwhile; retry", type="BUSY"
                )
        return restarted

    # Drain and maintenance ----------------------------------------------------------

    async def drain(self, agent: common_pb2.AgentInfo, on: bool) -> common_pb2.AgentInfo:
        key = self._keys.drain(agent.id).encode()
        if on:
            await self._client.put(key, b"drain")
        else:
            await self._client.delete(key)
        return _agent_view(agent, await self._placement())

    async def agent_views(
        self, agents: Sequence[common_pb2.AgentInfo]
    ) -> list[common_pb2.AgentInfo]:
        """agent_views adds the sync engine's view to each agent (see :func:`_agent_view`)."""
        state = await self._placement()
        return [_agent_view(a, state) for a in agents]

    async def cluster_view(
        self, agents: Sequence[common_pb2.AgentInfo]
    ) -> tuple[list[common_pb2.AgentInfo], cluster_pb2.MaintenanceStatus]:
        """cluster_view is agent_views and maintenance, from one read of etcd."""
        state = await self._placement()
        return [_agent_view(a, state) for a in agents], _maintenance(state)

    async def set_maintenance(self, enabled: bool, reason: str) -> cluster_pb2.MaintenanceStatus:
        key = self._keys.maintenance().encode()
        if enabled:
            await self._client.put(key, (reason or "maintenance").encode())
        else:
            await self._client.delete(key)
        return await self.maintenance()

    async def maintenance(self) -> cluster_pb2.MaintenanceStatus:
        return _maintenance(await self._placement())

    async def _placement(self) -> SyncState:
        """_placement reads the state without job and task records: agents, claims,
        drains and maintenance are all that agent views and maintenance show."""
        return await self._state(jobs=False)


def _agent_view(agent: common_pb2.AgentInfo, state: SyncState) -> common_pb2.AgentInfo:
    """_agent_view adds the sync engine's view: running tasks and drain state."""
    shown = common_pb2.AgentInfo()
    shown.CopyFrom(agent)
    running = sum(1 for c in state.claims.values() if c.agent_id == agent.id)
    shown.running_tasks = running
    if agent.id in state.drains:
        shown.state = (
            common_pb2.AGENT_STATE_DRAINED if running == 0 else common_pb2.AGENT_STATE_DRAINING
        )
    return shown


def _maintenance(state: SyncState) -> cluster_pb2.MaintenanceStatus:
    return cluster_pb2.MaintenanceStatus(
        enabled=state.maintenance,
        reason=state.maintenance_reason,
        running_tasks=len(state.claims),
    )


def _progress(
    job: pb.Job, history: list[tuple[float, dict[str, tuple[int, int]]]]
) -> pb.JobProgress:
    then, before = history[0]
    now, after = history[-1]
    elapsed = now - then
    progress = pb.JobProgress(job_id=job.id, state=job.state, error=job.error)
    progress.counters.CopyFrom(job.counters)
    progress.time.GetCurrentTime()
    progress.counters.docs_per_second = 0
    progress.counters.bytes_per_second = 0
    for task in job.tasks:
        counters = pb.SyncCounters()
        counters.CopyFrom(task.counters)
        if elapsed > 0 and task.state == pb.TASK_STATE_RUNNING and task.id in before:
            docs0, bytes0 = before[task.id]
            docs1, bytes1 = after[task.id]
            counters.docs_per_second = max(0, docs1 - docs0) / elapsed
            counters.bytes_per_second = max(0, bytes1 - bytes0) / elapsed
        progress.counters.docs_per_second += counters.docs_per_second
        progress.counters.bytes_per_second += counters.bytes_per_second
        progress.tasks.add(
            task_id=task.id,
            partition=task.partition,
            agent_id=task.agent_id,
            state=task.state,
            counters=counters,
            error=task.error,
        )
    return progress


def _comparable(progress: pb.JobProgress) -> bytes:
    copy = pb.JobProgress()
    copy.CopyFrom(progress)
    copy.ClearField("time")
    return copy.SerializeToString(deterministic=True)
