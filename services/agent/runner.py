"""TaskRunner: one task, from claim to release, with fencing at every write.

The life of a task on an agent:

1. **Claim** ``claims/tasks/{task}`` under the agent's session lease; its
   create revision is the fencing token.
2. **Fence the store**: register the token for the task's scope
   (connector/partition), so that from now on the store refuses the writes
   of any earlier owner — a paused or partitioned zombie.
3. **Stream** from the last checkpoint, writing batches with the fence and the
   job's generation stamp, and **commit** the cursor with the counters at the
   source's checkpoints every N documents or T seconds, in an etcd
   transaction that holds only while the claim does.
4. **Finish** (COMPLETED or FAILED), or, when the leader revokes the
   assignment (rebalance, drain, pause, cancel), commit the last checkpoint
   and **release** the claim so that another agent can take over.

Losing the claim anywhere (etcd or the store answering "fenced") stops the
task at once without another write; so does losing the agent's session,
which the agent handles by cancelling every runner.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aetcd
from google.protobuf import json_format
from opentelemetry import trace

from ferry import metrics, secrets, telemetry
from ferry.config import AgentConfig
from ferry.connectors import Checkpoint, Delete, Document, Registry, Source, TaskPlan
from ferry.connectors.rules import Rules
from ferry.errors import AlreadyExists, Fenced, FerryError, InvalidArgument, NotFound
from ferry.etcd import Claim, ClaimTaken, Keys, Session, acquire
from ferry.store import Store
from ferry.store.model import (
    DeleteOp,
    Fence,
    IndexOp,
    IndexSpec,
    ItemResult,
    Stamp,
    WriteOp,
)
from ferry.sync import records
from ferry.sync.records import TERMINAL_JOB, TERMINAL_TASK
from ferry.tasks import backoff, closing, raise_if_cancelling, wait_event
from ferry.v1 import connectors_pb2
from ferry.v1 import jobs_pb2 as pb
from services.agent import isolation

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

RECENT_ERRORS = 10
"""RECENT_ERRORS bounds Task.recent_document_errors."""
BREAKER_MIN_DOCS = 20
"""The error-rate breaker trips only once this many documents were seen."""
DEFAULT_RETRIES = 3
DEFAULT_INITIAL_BACKOFF = 0.5
DEFAULT_MAX_BACKOFF = 30.0


@dataclass(frozen=True)
class RunnerContext:
    """RunnerContext is what every runner of one agent shares."""

    client: aetcd.Client
    keys: Keys
    store: Store
    registry: Registry
    agent_id: str
    settings: AgentConfig
    """settings: checkpoint_docs, checkpoint_interval and batch_docs."""


class TaskFailed(Exception):
    """TaskFailed ends a task as FAILED with its message (beyond the error policy)."""


class Revoked(Exception):
    """Revoked says the leader took the task away: checkpoint and release."""


@dataclass
class Policy:
    retries: int
    initial_backoff: float
    max_backoff: float
    max_error_rate: float
    fail_on_document_error: bool

    @classmethod
    def of(cls, policy: connectors_pb2.ErrorPolicy) -> Policy:
        def seconds(field: str, default: float) -> float:
            if not policy.HasField(field):
                return default
            return float(getattr(policy, field).ToTimedelta().total_seconds()) or default

        return cls(
            retries=policy.max_retries or DEFAULT_RETRIES,
            initial_backoff=seconds("initial_backoff", DEFAULT_INITIAL_BACKOFF),
            max_backoff=seconds("max_backoff", DEFAULT_MAX_BACKOFF),
            max_error_rate=policy.max_error_rate,
            fail_on_document_error=policy.fail_on_document_error,
        )

    def backoff(self, attempt: int) -> float:
        """backoff is the delay before retry number ``attempt``: see :func:`ferry.tasks.backoff`."""
        return backoff(attempt, self.initial_backoff, self.max_backoff)


class TaskRunner:
    """TaskRunner runs one assigned task; :meth:`revoke` asks it to hand the task back."""

    def __init__(self, ctx: RunnerContext, job_id: str, task_id: str) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.task_id = task_id
        self.revoked = asyncio.Event()
        self.claim: Claim | None = None
        self.task = pb.Task()
        self.connector = ""

    def revoke(self) -> None:
        self.revoked.set()

    # The whole life ---------------------------------------------------------------

    async def run(self, session: Session) -> None:
        """run is one execution of the task, traced as a "task" span linked to the span
        that triggered its job (the Jobs/Start call, or the scheduler's cron tick)."""
        ctx = self.ctx
        attributes = {"ferry.job": self.job_id, "ferry.task": self.task_id}
        with tracer.start_as_current_span("task", attributes=attributes) as span:
            try:
                claim = await self._claim(session)
            except Revoked:
                span.add_event("revoked before claimed")
                return
            self.claim = claim
            try:
                await self._run_claimed(claim, span)
            except Fenced as exc:
                # A newer owner exists: we are the zombie. Write nothing more.
                log.warning(
                    "task fenced; stopping", extra={"task": self.task_id, "error": str(exc)}
                )
                span.add_event("fenced")
                return
            finally:
                if self.claim is not None and session.alive:
                    try:
                        await self.claim.release(ctx.client)
                    except Exception as exc:  # noqa: BLE001 — the lease expiry releases it anyway
                        log.warning(
                            "claim release failed",
                            extra={"task": self.task_id, "error": repr(exc)},
                        )

    async def _claim(self, session: Session) -> Claim:
        key = self.ctx.keys.claim(records.CLAIM_KIND, self.task_id)
        with tracer.start_as_current_span("task.claim") as span:
            attempts = 0
            while True:
                if self.revoked.is_set():
                    raise Revoked
                attempts += 1
                try:
                    claim = await acquire(self.ctx.client, session, key, self.ctx.agent_id.encode())
                except ClaimTaken:
                    # The previous owner is still releasing, or its lease has not expired.
                    await wait_event(self.revoked, 0.1)
                    continue
                span.set_attributes(
                    {"ferry.fencing_token": claim.token, "ferry.attempts": attempts}
                )
                return claim

    async def _run_claimed(self, claim: Claim, span: trace.Span) -> None:
        ctx = self.ctx
        client, keys = ctx.client, ctx.keys
        tx = client.transactions
        _, (job_rows, task_rows) = await client.transaction(
            compare=[],
            success=[
                tx.get(keys.job(self.job_id).encode()),
                tx.get(keys.task(self.job_id, self.task_id).encode()),
            ],
            failure=[],
        )
        if not job_rows or not task_rows:
            return
        job = records.decode_job(job_rows[0][0])
        task = records.decode_task(task_rows[0][0])
        trigger = telemetry.stored_span_context(job.traceparent, job.tracestate)
        if trigger is not None:
            span.add_link(trigger)  # across the hand-off through etcd: the job's trigger
        if job.state in TERMINAL_JOB or task.state in TERMINAL_TASK:
            await self._drop_assignment()
            return
        got = await client.get(keys.connector(job.connector).encode())
        if got is None:
            return
        connector = records.decode_connector(got.value, got.mod_revision)
        self.connector = job.connector
        scope = records.fence_scope(job.connector, task.partition)
        fence = Fence(scope, claim.token)
        await _ensure_index(ctx.store, job.index)
        await ctx.store.fence(fence)
        task.state = pb.TASK_STATE_RUNNING
        task.agent_id = ctx.agent_id
        task.fencing_token.scope = scope
        task.fencing_token.token = claim.token
        task.claims += 1
        task.error = ""
        if not task.HasField("start_time"):
            task.start_time.GetCurrentTime()
        self.task = task
        await self._put_task()
        log.info(
            "task claimed",
            extra={
                "task": task.id,
                "token": claim.token,
                "claims": task.claims,
                "partition": task.partition,
            },
        )
        span.set_attributes(
            {
                "ferry.connector": job.connector,
                "ferry.index": job.index,
                "ferry.partition": task.partition,
                "ferry.fencing_token": claim.token,
                "ferry.sweep": task.sweep,
            }
        )
        work = _Work(self, job, connector, fence)
        outcome = "error"
        metrics.TASKS_RUNNING.labels(job.connector).inc()
        try:
            try:
                if task.sweep:
                    await work.sweep()
                else:
                    await work.stream()
            except Revoked:
                span.add_event("revoked")
                await self._hand_back(work)
                outcome = "handed_back"
                return
            except TaskFailed as exc:
                span.set_status(trace.StatusCode.ERROR, str(exc))
                await self._end(pb.TASK_STATE_FAILED, str(exc), work)
                outcome = "failed"
                return
            await self._end(pb.TASK_STATE_COMPLETED, "", work)
            outcome = "completed"
        except Fenced:
            outcome = "fenced"
            raise
        except asyncio.CancelledError:
            outcome = "stopped"
            raise
        finally:
            metrics.TASKS_RUNNING.labels(job.connector).dec()
            metrics.TASK_RUNS.labels(job.connector, outcome).inc()
            metrics.CHECKPOINT_LAG.forget(work)

    # Records ------------------------------------------------------------------------

    async def _put_task(self, extra: list[Any] | None = None) -> None:
        assert self.claim is not None
        tx = self.ctx.client.transactions
        key = self.ctx.keys.task(self.job_id, self.task_id)
        await self.claim.guarded(
            self.ctx.client, [tx.put(key.encode(), records.encode(self.task)), *(extra or [])]
        )

    async def _drop_assignment(self) -> None:
        await self.ctx.client.delete(
            self.ctx.keys.assignment(self.ctx.agent_id, self.task_id).encode()
        )

    async def _end(self, state: pb.TaskState, error: str, work: _Work) -> None:
        tx = self.ctx.client.transactions
        self.task.state = state
        self.task.error = secrets.redact(error)
        self.task.end_time.GetCurrentTime()
        extra = [tx.delete(self.ctx.keys.assignment(self.ctx.agent_id, self.task_id).encode())]
        if state == pb.TASK_STATE_COMPLETED:
            extra += work.offset_ops(final=True)
        await self._put_task(extra)
        log.info(
            "task ended",
            extra={
                "task": self.task_id,
                "state": pb.TaskState.Name(state),
                "error": error,
                "docs_seen": self.task.counters.docs_seen,
            },
        )

    async def _hand_back(self, work: _Work) -> None:
        """_hand_back records where the task stands for its next owner, then returns.

        The batch after the last checkpoint is dropped, not written: the next
        owner reads it again from the checkpoint.
        """
        work.settle()
        got = await self.ctx.client.get(self.ctx.keys.job(self.job_id).encode())
        job_state = records.decode_job(got.value).state if got else pb.JOB_STATE_CANCELED
        if job_state in TERMINAL_JOB or job_state == pb.JOB_STATE_CANCELING:
            self.task.state = pb.TASK_STATE_CANCELED
            self.task.end_time.GetCurrentTime()
        elif job_state == pb.JOB_STATE_SUSPENDED:
            self.task.state = pb.TASK_STATE_SUSPENDED
        else:
            self.task.state = pb.TASK_STATE_PENDING
        self.task.agent_id = ""
        self.task.counters.docs_per_second = 0
        self.task.counters.bytes_per_second = 0
        await self._put_task()
        log.info(
            "task handed back",
            extra={"task": self.task_id, "state": pb.TaskState.Name(self.task.state)},
        )


class _Work:
    """_Work is the streaming part of a claimed task: batches, checkpoints, errors."""

    def __init__(
        self,
        runner: TaskRunner,
        job: pb.Job,
        connector: connectors_pb2.Connector,
        fence: Fence,
    ) -> None:
        self.runner = runner
        self.ctx = runner.ctx
        self.job = job
        self.connector = connector
        self.fence = fence
        self.stamp = Stamp(records.stamp_scope(job.connector), job.generation)
        self.policy = Policy.of(connector.spec.error_policy)
        self.rules = Rules(connector.spec.rules)
        task = runner.task
        self.full = job.kind != pb.JOB_KIND_INCREMENTAL
        self.cursor: dict[str, Any] | None = None
        self.counters = pb.SyncCounters()
        self.counters.CopyFrom(task.counters)
        self.at_checkpoint = pb.SyncCounters()
        self.at_checkpoint.CopyFrom(task.counters)  # the counters as of self.cursor
        self.batch: list[WriteOp] = []
        self.last_commit = time.monotonic()
        self.rate_mark = (time.monotonic(), self.counters.docs_seen, self.counters.bytes_indexed)
        self.metrics = metrics.TaskMetrics(job.connector, job.index)

    @property
    def task(self) -> pb.Task:
        return self.runner.task

    async def sweep(self) -> None:
        deleted = await self.ctx.store.sweep(self.job.index, self.stamp, fence=self.fence)
        self.task.counters.docs_deleted += deleted
        self.metrics.deleted.inc(deleted)
        trace.get_current_span().set_attribute("ferry.docs_deleted", deleted)

    def offset_ops(self, *, final: bool) -> list[Any]:
        """offset_ops writes the connector's offset for this partition: the cursor the
        next INCREMENTAL job starts from. FULL jobs set it only when a task completes."""
        if self.task.sweep or self.cursor is None or (self.full and not final):
            return []
        offset = connectors_pb2.TaskOffset(partition=self.task.partition)
        offset.cursor.CopyFrom(records.to_struct(self.cursor))
        offset.update_time.GetCurrentTime()
        key = self.ctx.keys.checkpoint(self.job.connector, self.task.partition)
        value = json_format.MessageToJson(offset, preserving_proto_field_name=True, indent=None)
        return [self.ctx.client.transactions.put(key.encode(), value.encode())]

    async def _start_cursor(self) -> dict[str, Any] | None:
        """_start_cursor is where the task resumes: its last committed checkpoint, else
        (INCREMENTAL only) the connector's offset for the partition, else the start."""
        if self.task.HasField("cursor"):
            return records.from_struct(self.task.cursor)
        if self.full:
            return None
        key = self.ctx.keys.checkpoint(self.job.connector, self.task.partition)
        got = await self.ctx.client.get(key.encode())
        if got is None:
            return None
        offset = json_format.Parse(
            got.value, connectors_pb2.TaskOffset(), ignore_unknown_fields=True
        )
        return records.from_struct(offset.cursor)

    async def _source_config(self) -> tuple[type[Source], dict[str, Any], dict[str, Any]]:
        """_source_config is the source class, its config (validated, secrets resolved)
        and its advanced rules."""
        spec = self.connector.spec
        source_cls = self.ctx.registry.get(spec.type)
        if source_cls is None:
            raise TaskFailed(f"connector type {spec.type!r} is not installed on this agent")
        config, problems = source_cls.schema.validate(records.from_struct(spec.config))
        if problems:
            raise TaskFailed("invalid config: " + "; ".join(str(p) for p in problems))
        try:
            # ${file:...} references read files: off the event loop.
            config = await asyncio.to_thread(secrets.resolve, config)
        except secrets.SecretError as exc:
            raise TaskFailed(str(exc)) from None
        return source_cls, config, records.from_struct(spec.rules.advanced)

    async def stream(self) -> None:
        """stream reads the task's share from its checkpoint, retrying per the error policy."""
        source_cls, config, advanced = await self._source_config()
        if not self.full and not source_cls.incremental:
            raise TaskFailed(
                f"connector type {source_cls.name!r} cannot sync incrementally; run a FULL sync"
            )
        plan = TaskPlan(
            partition=self.task.partition,
            params=records.from_struct(self.task.params),
            estimate=self.task.counters.docs_total_estimate,
        )
        open_items: Callable[[dict[str, Any] | None], AsyncIterator[isolation.Item]]
        if self.connector.spec.isolation == connectors_pb2.ISOLATION_PROCESS:
            request = isolation.Request(
                source_type=source_cls.name,
                config=config,
                advanced=advanced,
                plan=plan,
                full=self.full,
                cursor=None,
                memory_limit=self.connector.spec.memory_limit_bytes
                or self.ctx.settings.isolated_memory_mb * 2**20,
                secrets=secrets.known(),
                member_id=self.ctx.agent_id,
            )

            def open_items(cursor: dict[str, Any] | None) -> AsyncIterator[isolation.Item]:
                return isolation.stream(dataclasses.replace(request, cursor=cursor))
        else:
            source = source_cls(config, advanced_rules=advanced)

            def open_items(cursor: dict[str, Any] | None) -> AsyncIterator[isolation.Item]:
                return isolation.pinged(source, plan, self.full, cursor)

        self.cursor = await self._start_cursor()
        # A sweep has no checkpoints: only streaming tasks count in the checkpoint lag.
        self._mark_checkpoint(self.last_commit)
        attempt = 0
        progress = self.task.counters.docs_seen
        while True:
            items = open_items(self.cursor)
            try:
                async with closing(items):
                    await self._stream_once(items)
                return
            except (Revoked, TaskFailed, Fenced, asyncio.CancelledError):
                raise
            except Exception as exc:  # the error policy decides
                raise_if_cancelling()
                if self.task.counters.docs_seen > progress:
                    attempt = 0  # a checkpoint was committed since the last failure
                    progress = self.task.counters.docs_seen
                attempt += 1
                reason = secrets.redact(f"{type(exc).__name__}: {exc}")
                if attempt > self.policy.retries or (
                    isinstance(exc, FerryError | isolation.IsolatedSourceError)
                    and not exc.retriable
                ):
                    # A source's config or precondition error will not heal by retrying.
                    raise TaskFailed(reason) from exc
                delay = self.policy.backoff(attempt)
                log.warning(
                    "task error; retrying from its checkpoint",
                    extra={
                        "task": self.task.id,
                        "attempt": attempt,
                        "in": round(delay, 2),
                        "error": reason,
                    },
                )
                if await wait_event(self.runner.revoked, delay):
                    raise Revoked from exc
                # Start over from the last committed checkpoint, counters included.
                self.counters.CopyFrom(self.task.counters)
                self.at_checkpoint.CopyFrom(self.task.counters)
                self.batch.clear()
                self.cursor = await self._start_cursor()

    async def _stream_once(self, items: AsyncIterator[isolation.Item]) -> None:
        settings = self.ctx.settings
        revoked = self.runner.revoked
        # Bound once: this loop runs for every document (the batch list is only ever
        # emptied in place, see _flush).
        counters, batch, batch_docs = self.counters, self.batch, settings.batch_docs
        includes = self.rules.includes if self.rules else None
        async for item in items:
            if revoked.is_set():
                raise Revoked
            if isinstance(item, Document):
                counters.docs_seen += 1
                if includes is None or includes(item.source):
                    batch.append(IndexOp(item.id, item.source))
                elif not self.full:
                    # Excluded now: if an earlier sync indexed it, it must go. (A FULL
                    # job's sweep removes it, since this job does not re-write it.)
                    batch.append(DeleteOp(item.id))
            elif isinstance(item, Delete):
                counters.docs_seen += 1
                batch.append(DeleteOp(item.id))
            elif isinstance(item, Checkpoint):
                await self._flush()
                self.cursor = dict(item.cursor)
                self.at_checkpoint.CopyFrom(self.counters)
                due = (
                    self.counters.docs_seen - self.task.counters.docs_seen
                    >= settings.checkpoint_docs
                    or time.monotonic() - self.last_commit >= settings.checkpoint_interval
                )
                if due:
                    await self._commit()
                continue
            if len(batch) >= batch_docs:
                await self._flush()
        if revoked.is_set():
            raise Revoked
        await self._flush()
        self.at_checkpoint.CopyFrom(self.counters)
        self.settle()

    def settle(self) -> None:
        """settle puts the latest checkpoint (cursor and its counters) into the task record."""
        self.task.counters.CopyFrom(self.at_checkpoint)
        if self.cursor is not None:
            self.task.cursor.CopyFrom(records.to_struct(self.cursor))

    async def _flush(self) -> None:
        """_flush writes the batch; a bad document is recorded and skipped per the policy."""
        m, counters = self.metrics, self.counters
        while self.batch:
            attributes: dict[str, str | int] = {
                "ferry.index": self.job.index,
                "ferry.ops": len(self.batch),
            }
            with tracer.start_as_current_span("task.batch", attributes=attributes) as span:
                started = time.monotonic()
                try:
                    result = await self.ctx.store.bulk(
                        self.job.index, self.batch, fence=self.fence, stamp=self.stamp
                    )
                except InvalidArgument as exc:
                    bad = _bad_op(exc, len(self.batch))
                    if bad is None:
                        raise
                    op = self.batch.pop(bad)
                    span.set_status(trace.StatusCode.ERROR, "a document was refused")
                    self._document_error(op.id, str(exc))
                    continue
                m.write_seconds.observe(time.monotonic() - started)
                # Counted, then added once: a += on the protobuf counters for each document
                # took about 0.3 us a document.
                results = Counter(item.result for item in result.items)
                indexed = results[ItemResult.CREATED] + results[ItemResult.UPDATED]
                deleted = results[ItemResult.DELETED]
                counters.docs_indexed += indexed
                counters.docs_deleted += deleted
                counters.bytes_indexed += result.source_bytes
                span.set_attributes({"ferry.docs_indexed": indexed, "ferry.docs_deleted": deleted})
                m.indexed.inc(indexed)
                m.deleted.inc(deleted)
                m.bytes.inc(result.source_bytes)
                m.batches.inc()
                self.batch.clear()

    def _document_error(self, doc_id: str, message: str) -> None:
        self.counters.docs_failed += 1
        self.metrics.failed.inc()
        errors = self.task.recent_document_errors
        error = errors.add(doc_id=doc_id, message=secrets.redact(message)[:1000])
        error.time.GetCurrentTime()
        if len(errors) > RECENT_ERRORS:
            del errors[0]
        if self.policy.fail_on_document_error:
            raise TaskFailed(f"document {doc_id!r}: {message}")
        seen = self.counters.docs_seen
        rate = self.counters.docs_failed / seen if seen else 1.0
        if (
            self.policy.max_error_rate
            and seen >= BREAKER_MIN_DOCS
            and rate > self.policy.max_error_rate
        ):
            raise TaskFailed(
                f"error rate {rate:.1%} exceeds max_error_rate {self.policy.max_error_rate:.1%} "
                f"({self.counters.docs_failed} of {seen} documents failed)"
            )

    async def _commit(self) -> None:
        """_commit stores the cursor with the counters as of it, guarded by the claim."""
        now = time.monotonic()
        since, docs0, bytes0 = self.rate_mark
        if now > since:
            self.counters.docs_per_second = (self.counters.docs_seen - docs0) / (now - since)
            self.counters.bytes_per_second = (self.counters.bytes_indexed - bytes0) / (now - since)
        self.rate_mark = (now, self.counters.docs_seen, self.counters.bytes_indexed)
        self.at_checkpoint.docs_per_second = self.counters.docs_per_second
        self.at_checkpoint.bytes_per_second = self.counters.bytes_per_second
        self.settle()
        self.task.checkpoint_time.GetCurrentTime()
        attributes = {"ferry.docs_seen": self.at_checkpoint.docs_seen}
        with tracer.start_as_current_span("task.checkpoint", attributes=attributes):
            await self.runner._put_task(self.offset_ops(final=False))
        self.last_commit = now
        self.metrics.commits.inc()
        self._mark_checkpoint(now)

    def _mark_checkpoint(self, at: float) -> None:
        metrics.CHECKPOINT_LAG.mark(self, (self.metrics.connector, self.metrics.index), at)


async def _ensure_index(store: Store, name: str) -> None:
    """_ensure_index creates a connector's target index on first use, with one shard."""
    try:
        await store.get_index(name)
    except NotFound:
        try:
            await store.create_index(IndexSpec(name))
        except AlreadyExists:
            pass  # another task of the job created it first


def _bad_op(exc: InvalidArgument, size: int) -> int | None:
    """_bad_op is the index of the op a store error names ("ops[3].source"), if any."""
    for violation in exc.violations:
        head = violation.field.split(".", 1)[0]
        if head.startswith("ops[") and head.endswith("]"):
            index = head[4:-1]
            if index.isdigit() and int(index) < size:
                return int(index)
    return None
