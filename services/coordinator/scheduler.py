"""The leader's scheduler: cron, job lifecycle, task assignment, rebalancing, drain.

Each pass reads the whole sync state at one etcd revision (:func:`read_state`),
decides with a pure function (:func:`decide`) and writes the result in
transactions guarded by the leader's election key, so a deposed leader's late
pass changes nothing. Passes run when anything under the cluster's prefix
changes, and at least once a second for cron; an agent's checkpoint commit,
which only moves a task's counters and cursor, does not wake the scheduler.

Assignment never double-books a task: a task is assigned only while nobody
holds its claim, and moving a task (rebalance, drain, suspension) only deletes
its assignment; the agent checkpoints, releases the claim, and the task is
assigned again in a later pass.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import aetcd
from croniter import croniter
from google.protobuf import timestamp_pb2
from opentelemetry import trace

from ferry import metrics, telemetry
from ferry.connectors import Registry
from ferry.etcd import Keys, cancel_watch, prefix_end
from ferry.sync import records
from ferry.sync.records import TERMINAL_JOB, TERMINAL_TASK, JobRecord, TaskRecord
from ferry.sync.state import SyncState, loads, read_state
from ferry.tasks import wait_event
from ferry.v1 import common_pb2, connectors_pb2
from ferry.v1 import jobs_pb2 as pb
from services.coordinator.leader import Leadership, ManagementLoop

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

JOB_HISTORY = 10
"""JOB_HISTORY is how many finished jobs each connector keeps."""
TXN_OPS = 100
"""TXN_OPS keeps each transaction below etcd's default --max-txn-ops (128)."""
MAX_MOVES = 1000
"""MAX_MOVES bounds the tasks one rebalancing pass moves."""


@dataclass(frozen=True)
class Put:
    key: str
    value: bytes


@dataclass(frozen=True)
class Delete:
    key: str
    prefix: bool = False


@dataclass(frozen=True)
class Unchanged:
    """Unchanged is a compare: the key's mod revision is still ``revision`` (0: absent)."""

    key: str
    revision: int


@dataclass
class Change:
    """Change is one transaction of a pass, applied only if ``expect`` still holds."""

    what: str
    ops: list[Put | Delete] = field(default_factory=list)
    expect: list[Unchanged] = field(default_factory=list)
    observe: Callable[[], None] | None = None
    """observe records the change's metrics once it applied (a job's duration)."""


def _timestamp(now: float) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(int(now * 1e9))
    return ts


def latest_tick(expr: str, after: float, now: float) -> float | None:
    """latest_tick is the last tick of ``expr`` in (after, now], or None.

    Many missed ticks (an outage) collapse into the latest one: runs never pile up.
    """
    if croniter(expr, after).get_next(float) > now:
        return None
    tick = float(croniter(expr, now).get_prev(float))
    following = float(croniter(expr, tick).get_next(float))
    return following if following <= now else tick


def eligible(agent: common_pb2.AgentInfo, spec: connectors_pb2.ConnectorSpec) -> bool:
    """eligible says the agent may run the connector's tasks: type installed, labels match."""
    if spec.type not in agent.connector_types:
        return False
    return all(agent.labels.get(k) == v for k, v in spec.agent_selector.items())


@dataclass
class Decision:
    changes: list[Change] = field(default_factory=list)
    assigned: int = 0
    revoked: int = 0


class Planner:
    """Planner turns one SyncState into the changes that move the cluster forward."""

    def __init__(self, keys: Keys, registry: Registry, *, history: int = JOB_HISTORY) -> None:
        self.keys = keys
        self.registry = registry
        self.history = history
        self._balanced_for: frozenset[str] | None = None
        """The agents the last rebalance balanced for: tasks move again only when they
        change (an agent joins, leaves, is drained), not whenever a task completes."""

    def decide(self, state: SyncState, now: float) -> Decision:
        decision = Decision()
        self._schedule(state, now, decision)
        revoked = self._jobs(state, now, decision)
        self._assign(state, revoked, decision)
        self._prune(state, decision)
        return decision

    # Cron -----------------------------------------------------------------

    def _schedule(self, state: SyncState, now: float, decision: Decision) -> None:
        if state.maintenance:
            return
        for name, connector in state.connectors.items():
            if connector.state != connectors_pb2.CONNECTOR_STATE_RUNNING:
                continue
            kinds = (
                ("full", connector.spec.schedule.full, pb.JOB_KIND_FULL),
                ("incremental", connector.spec.schedule.incremental, pb.JOB_KIND_INCREMENTAL),
            )
            for kind_name, expr, kind in kinds:
                if not expr:
                    continue
                key = self.keys.schedule(name, kind_name)
                last = state.schedules.get(f"{name}/{kind_name}")
                if last is None:  # first sight: count from now, do not run at once
                    decision.changes.append(
                        Change(f"schedule {name} {kind_name}", [Put(key, b"%f" % now)])
                    )
                    continue
                tick = latest_tick(expr, last, now)
                if tick is None:
                    continue
                change = Change(f"cron {name} {kind_name}", [Put(key, b"%f" % tick)])
                busy = any(
                    r.job.connector == name
                    and r.job.kind == kind
                    and r.job.state not in TERMINAL_JOB
                    for r in state.jobs.values()
                )
                if not busy:
                    job = new_job(connector, kind, pb.JOB_TRIGGER_SCHEDULED, now)
                    job.scheduled_time.CopyFrom(_timestamp(tick))
                    attributes = {"ferry.job": job.id, "ferry.connector": name}
                    with tracer.start_as_current_span("schedule", attributes=attributes):
                        # The job's trigger: its task executions link to this span.
                        job.traceparent, job.tracestate = telemetry.current_trace_context()
                    change.ops.append(Put(self.keys.job(job.id), records.encode(job)))
                    log.info("scheduled job", extra={"job": job.id, "tick": tick})
                decision.changes.append(change)

    # Job lifecycle ----------------------------------------------------------

    def _jobs(self, state: SyncState, now: float, decision: Decision) -> set[str]:
        """_jobs moves every job along; returns the task ids whose assignment it revokes."""
        revoked: set[str] = set()
        ordered = state.ordered_jobs()
        busy = {
            r.job.index for r in ordered if r.job.generation and r.job.state not in TERMINAL_JOB
        }
        for record in ordered:
            job = record.job
            if job.state in TERMINAL_JOB:
                continue
            connector = state.connectors.get(job.connector)
            if connector is None:
                self._stop(
                    state,
                    record,
                    pb.JOB_STATE_CANCELED,
                    "connector deleted",
                    now,
                    decision,
                    revoked,
                )
                continue
            if (
                job.state == pb.JOB_STATE_CANCELING
                or connector.state == connectors_pb2.CONNECTOR_STATE_STOPPED
            ):
                reason = job.error or "connector stopped"
                self._stop(state, record, pb.JOB_STATE_CANCELED, reason, now, decision, revoked)
                continue
            active = (
                connector.state == connectors_pb2.CONNECTOR_STATE_RUNNING and not state.maintenance
            )
            if not job.generation:
                if active and job.index not in busy:
                    busy.add(job.index)
                    self._plan(state, record, connector, now, decision)
                continue
            failed = next(
                (t.task for t in record.tasks if t.task.state == pb.TASK_STATE_FAILED), None
            )
            if failed is not None:
                reason = f"task {failed.id} ({failed.partition}) failed: {failed.error}"
                self._stop(state, record, pb.JOB_STATE_FAILED, reason, now, decision, revoked)
                continue
            if not active:
                reason = "maintenance" if state.maintenance else "connector paused"
                if job.state != pb.JOB_STATE_SUSPENDED:
                    self._set_job(record, now, decision, state=pb.JOB_STATE_SUSPENDED, error=reason)
                revoked |= self._revoke(state, record, decision)
                continue
            started = any(t.task.claims for t in record.tasks) or any(
                t.task.id in state.claims for t in record.tasks
            )
            if job.state == pb.JOB_STATE_SUSPENDED:
                self._set_job(
                    record,
                    now,
                    decision,
                    state=pb.JOB_STATE_RUNNING if started else pb.JOB_STATE_PENDING,
                    error="",
                )
                continue
            if job.state == pb.JOB_STATE_PENDING and started:
                self._set_job(record, now, decision, state=pb.JOB_STATE_RUNNING, start=True)
                continue
            readers = [t for t in record.tasks if not t.task.sweep]
            if all(t.task.state == pb.TASK_STATE_COMPLETED for t in readers):
                sweeps = [t for t in record.tasks if t.task.sweep]
                if job.kind == pb.JOB_KIND_FULL and not sweeps:
                    self._add_sweep(record, decision)
                elif all(t.task.state == pb.TASK_STATE_COMPLETED for t in sweeps):
                    self._finish(state, record, pb.JOB_STATE_COMPLETED, "", now, decision)
        return revoked

    def _plan(
        self,
        state: SyncState,
        record: JobRecord,
        connector: connectors_pb2.Connector,
        now: float,
        decision: Decision,
    ) -> None:
        job = record.job
        source = self.registry.types.get(connector.spec.type)
        if source is None:
            self._finish(
                state,
                record,
                pb.JOB_STATE_FAILED,
                f"connector type {connector.spec.type!r} is not installed on the leader",
                now,
                decision,
            )
            return
        config, problems = source.schema.validate(records.from_struct(connector.spec.config))
        try:
            if problems:
                raise ValueError("; ".join(str(p) for p in problems))
            plans = list(source.plan_tasks(config, connector.spec.tasks_max or 1))
        except Exception as exc:  # noqa: BLE001 — a plugin's plan_tasks failing fails its job
            self._finish(state, record, pb.JOB_STATE_FAILED, f"plan_tasks: {exc}", now, decision)
            return
        # A plan half-written by a deposed leader is thrown away first.
        decision.changes.append(
            Change(f"clear {job.id}", [Delete(self.keys.tasks(job.id), prefix=True)])
        )
        ops: list[Put | Delete] = []
        for n, plan in enumerate(plans):
            task = pb.Task(
                id=records.task_id(job.id, n),
                job_id=job.id,
                partition=plan.partition,
                state=pb.TASK_STATE_PENDING,
                params=records.to_struct(plan.params),
            )
            task.counters.docs_total_estimate = plan.estimate
            ops.append(Put(self.keys.task(job.id, task.id), records.encode(task)))
        for start in range(0, len(ops), TXN_OPS):
            decision.changes.append(Change(f"plan {job.id}", ops[start : start + TXN_OPS]))
        # The job counts as planned (holding its index) only once every task exists.
        planned = pb.Job()
        planned.CopyFrom(job)
        planned.generation = state.revision
        planned.connector_revision = connector.revision
        planned.update_time.CopyFrom(_timestamp(now))
        decision.changes.append(
            Change(
                f"planned {job.id} ({len(plans)} tasks)",
                [Put(self.keys.job(job.id), records.encode(planned))],
                [Unchanged(self.keys.job(job.id), job.revision)],
            )
        )

    def _add_sweep(self, record: JobRecord, decision: Decision) -> None:
        job = record.job
        task = pb.Task(
            id=records.task_id(job.id, len(record.tasks)),
            job_id=job.id,
            partition=records.SWEEP_PARTITION,
            state=pb.TASK_STATE_PENDING,
            sweep=True,
        )
        key = self.keys.task(job.id, task.id)
        decision.changes.append(
            Change(f"sweep {job.id}", [Put(key, records.encode(task))], [Unchanged(key, 0)])
        )

    def _set_job(
        self,
        record: JobRecord,
        now: float,
        decision: Decision,
        *,
        state: pb.JobState,
        error: str | None = None,
        start: bool = False,
    ) -> None:
        job = pb.Job()
        job.CopyFrom(record.job)
        del job.tasks[:]
        job.state = state
        if error is not None:
            job.error = error
        if start and not job.HasField("start_time"):
            job.start_time.CopyFrom(_timestamp(now))
        job.update_time.CopyFrom(_timestamp(now))
        observe = None
        if state in TERMINAL_JOB:
            job.end_time.CopyFrom(_timestamp(now))
            histogram = metrics.JOB_DURATION.labels(
                _label(pb.JobKind.Name(job.kind)), _label(pb.JobState.Name(state))
            )
            took = max(0.0, now - job.create_time.ToNanoseconds() / 1e9)
            observe = functools.partial(histogram.observe, took)
        decision.changes.append(
            Change(
                f"job {job.id} {pb.JobState.Name(state)}",
                [Put(self.keys.job(job.id), records.encode(job))],
                [Unchanged(self.keys.job(job.id), record.job.revision)],
                observe,
            )
        )

    def _revoke(self, state: SyncState, record: JobRecord, decision: Decision) -> set[str]:
        revoked = set()
        ops: list[Put | Delete] = []
        for t in record.tasks:
            agent = state.assigned.get(t.task.id)
            if agent:
                ops.append(Delete(self.keys.assignment(agent, t.task.id)))
                revoked.add(t.task.id)
        if ops:
            decision.changes.append(Change(f"revoke {record.job.id}", ops))
            decision.revoked += len(ops)
        return revoked

    def _stop(
        self,
        state: SyncState,
        record: JobRecord,
        final: pb.JobState,
        reason: str,
        now: float,
        decision: Decision,
        revoked: set[str],
    ) -> None:
        """_stop revokes a job's tasks and finishes it once none still runs."""
        revoked |= self._revoke(state, record, decision)
        if any(t.task.id in state.claims for t in record.tasks):
            if final == pb.JOB_STATE_CANCELED and record.job.state != pb.JOB_STATE_CANCELING:
                self._set_job(record, now, decision, state=pb.JOB_STATE_CANCELING, error=reason)
            return
        self._finish(state, record, final, reason, now, decision)

    def _finish(
        self,
        state: SyncState,
        record: JobRecord,
        final: pb.JobState,
        reason: str,
        now: float,
        decision: Decision,
    ) -> None:
        ended = pb.TASK_STATE_CANCELED
        for t in record.tasks:
            if t.task.state in TERMINAL_TASK or t.task.id in state.claims:
                continue
            task = pb.Task()
            task.CopyFrom(t.task)
            task.state = ended
            task.end_time.CopyFrom(_timestamp(now))
            decision.changes.append(
                Change(
                    f"task {task.id} CANCELED",
                    [Put(t.key, records.encode(task))],
                    [Unchanged(t.key, t.revision)],
                )
            )
        self._set_job(record, now, decision, state=final, error=reason)

    # Assignment -------------------------------------------------------------

    def _assign(self, state: SyncState, revoked: set[str], decision: Decision) -> None:
        assigned = {t: a for t, a in state.assigned.items() if t not in revoked}
        tasks: dict[str, tuple[JobRecord, TaskRecord]] = {
            t.task.id: (r, t) for r in state.jobs.values() for t in r.tasks
        }
        stale: list[Put | Delete] = []
        for task_id, agent in list(assigned.items()):
            found = tasks.get(task_id)
            gone = agent not in state.agents
            finished = (
                found is None
                or found[0].job.state in TERMINAL_JOB
                or found[1].task.state in TERMINAL_TASK
            )
            if gone or finished or agent in state.drains:
                stale.append(Delete(self.keys.assignment(agent, task_id)))
                del assigned[task_id]
        if stale:
            for start in range(0, len(stale), TXN_OPS):
                decision.changes.append(Change("unassign", stale[start : start + TXN_OPS]))
            decision.revoked += len(stale)
        if state.maintenance:
            return
        agents = {a.id: a for a in state.agents.values() if a.id not in state.drains}
        load = loads(assigned, state.claims)
        per_job: dict[tuple[str, str], int] = Counter(
            (a, tasks[t][0].job.id) for t, a in assigned.items() if t in tasks
        )
        waiting: list[tuple[JobRecord, TaskRecord, connectors_pb2.ConnectorSpec]] = []
        releasing = 0
        for record in state.ordered_jobs():
            job = record.job
            if job.state not in (pb.JOB_STATE_PENDING, pb.JOB_STATE_RUNNING) or not job.generation:
                continue
            connector = state.connectors.get(job.connector)
            if connector is None or connector.state != connectors_pb2.CONNECTOR_STATE_RUNNING:
                continue
            for t in record.tasks:
                if t.task.state in TERMINAL_TASK or t.task.id in assigned:
                    continue
                if t.task.id in state.claims:
                    releasing += 1
                    continue
                waiting.append((record, t, connector.spec))
        ops: list[Put | Delete] = []
        # Which agents may run a connector's tasks depends only on the connector:
        # work it out once per connector, not once per task (10k tasks, 50 agents).
        fits: dict[str, list[common_pb2.AgentInfo]] = {}
        for record, t, spec in waiting:
            if spec.name not in fits:
                fits[spec.name] = [a for a in agents.values() if eligible(a, spec)]
            best = None
            for candidate in fits[spec.name]:
                if load[candidate.id] >= candidate.max_concurrent_tasks:
                    continue
                rank = (load[candidate.id], per_job[(candidate.id, record.job.id)], candidate.id)
                if best is None or rank < best[0]:
                    best = (rank, candidate.id)
            if best is None:
                continue
            agent_id = best[1]
            load[agent_id] += 1
            per_job[(agent_id, record.job.id)] += 1
            assigned[t.task.id] = agent_id
            ops.append(Put(self.keys.assignment(agent_id, t.task.id), record.job.id.encode()))
        decision.assigned += len(ops)
        members = frozenset(agents)
        if not waiting and not releasing and members != self._balanced_for:
            moves = self._rebalance(state, agents, assigned, tasks, load, decision)
            if not moves:
                self._balanced_for = members
            ops += moves
        for start in range(0, len(ops), TXN_OPS):
            decision.changes.append(Change("assign", ops[start : start + TXN_OPS]))

    def _rebalance(
        self,
        state: SyncState,
        agents: Mapping[str, common_pb2.AgentInfo],
        assigned: dict[str, str],
        tasks: Mapping[str, tuple[JobRecord, TaskRecord]],
        load: Counter[str],
        decision: Decision,
    ) -> list[Put | Delete]:
        """_rebalance moves only the excess: tasks leave the most loaded agent for one
        that has spare capacity and is at least two tasks lighter, until none is."""
        moves: list[Put | Delete] = []
        by_agent: dict[str, list[str]] = {}
        for task_id, agent in assigned.items():
            if agent in agents and task_id in tasks and not tasks[task_id][1].task.sweep:
                by_agent.setdefault(agent, []).append(task_id)
        while len(moves) < MAX_MOVES:
            heavy = max(agents, key=lambda a: (load[a], a), default=None)
            if heavy is None:
                break
            moved = False
            for task_id in sorted(by_agent.get(heavy, ())):
                spec = state.connectors[tasks[task_id][0].job.connector].spec
                light = min(
                    (
                        a
                        for a in agents.values()
                        if a.id != heavy
                        and load[a.id] + 1 < load[heavy]
                        and load[a.id] < a.max_concurrent_tasks
                        and eligible(a, spec)
                    ),
                    key=lambda a: (load[a.id], a.id),
                    default=None,
                )
                if light is None:
                    continue
                moves.append(Delete(self.keys.assignment(heavy, task_id)))
                by_agent[heavy].remove(task_id)
                load[heavy] -= 1
                load[light.id] += 1
                moved = True
                break
            if not moved:
                break
        if moves:
            log.info("rebalancing", extra={"moves": len(moves)})
            decision.revoked += len(moves)
        return moves

    # History --------------------------------------------------------------

    def _prune(self, state: SyncState, decision: Decision) -> None:
        finished: dict[str, list[pb.Job]] = {}
        for record in state.jobs.values():
            if record.job.state in TERMINAL_JOB:
                finished.setdefault(record.job.connector, []).append(record.job)
        for connector, jobs in finished.items():
            jobs.sort(key=lambda j: (j.end_time.ToNanoseconds(), j.id), reverse=True)
            for job in jobs[self.history :]:
                ops: list[Put | Delete] = [
                    Delete(self.keys.job(job.id)),
                    Delete(self.keys.tasks(job.id), prefix=True),
                ]
                if job.request_id:
                    ops.append(Delete(self.keys.job_request(connector, job.request_id)))
                decision.changes.append(Change(f"prune {job.id}", ops))


def new_job(
    connector: connectors_pb2.Connector,
    kind: pb.JobKind,
    trigger: pb.JobTrigger,
    now: float,
) -> pb.Job:
    """new_job is a PENDING job record for the connector."""
    ts = _timestamp(now)
    return pb.Job(
        id=records.new_job_id(connector.spec.name),
        connector=connector.spec.name,
        index=connector.spec.index,
        kind=kind,
        trigger=trigger,
        state=pb.JOB_STATE_PENDING,
        create_time=ts,
        update_time=ts,
        connector_revision=connector.revision,
    )


async def apply(
    client: aetcd.Client, changes: Iterable[Change], guard: aetcd.transactions.BaseCompare
) -> int:
    """apply runs each change as one guarded transaction; returns how many applied."""
    tx = client.transactions
    applied = 0
    for change in changes:
        compare = [guard]
        for e in change.expect:
            compare.append(tx.mod(e.key) == e.revision if e.revision else tx.create(e.key) == 0)
        ops = [
            tx.put(op.key.encode(), op.value)
            if isinstance(op, Put)
            else tx.delete(op.key.encode(), prefix_end(op.key) if op.prefix else None)
            for op in change.ops
        ]
        ok, _ = await client.transaction(compare=compare, success=ops, failure=[])
        if ok:
            applied += 1
            if change.observe is not None:
                change.observe()
        else:
            log.debug("change not applied (state moved on)", extra={"change": change.what})
    return applied


def wakes(keys: Keys, event: aetcd.rtypes.Event) -> bool:
    """wakes says a watch event may change a pass's decision.

    A task record rewritten with nothing but progress (a checkpoint commit, many
    a second across a busy cluster) does not: a pass reads and decodes every
    record, so running one per checkpoint would keep the leader busy for nothing.
    """
    if event.kind != aetcd.rtypes.EventKind.PUT or event.prev_kv is None:
        return True
    if not event.kv.key.startswith(keys.all_tasks().encode()):
        return True
    return not records.progress_only(event.prev_kv.value, event.kv.value)


def scheduler_loop(
    registry: Registry, *, interval: float = 1.0, min_pause: float = 0.05
) -> ManagementLoop:
    """scheduler_loop runs a pass on every change under the cluster prefix that
    :func:`wakes` it, and every ``interval`` seconds for cron."""

    async def schedule_jobs(leadership: Leadership) -> None:
        client, keys = leadership.client, leadership.keys
        planner = Planner(keys, registry)
        changed = asyncio.Event()
        root = keys.root + "/"
        watch = await client.watch_prefix(root.encode(), prev_kv=True)

        async def listen() -> None:
            async for event in watch:
                if wakes(keys, event):
                    changed.set()

        listener = asyncio.create_task(listen(), name="scheduler-watch")
        metrics.LEADER.set(1)
        try:
            while True:
                changed.clear()
                started = time.monotonic()
                state = await read_state(client, keys)
                # Deciding over thousands of tasks takes a good fraction of a second:
                # off the event loop, so that this replica keeps serving the API.
                decision = await asyncio.to_thread(_decide, planner, state)
                if decision.changes:
                    await apply(client, decision.changes, leadership.election.guard())
                metrics.SCHEDULER_PASSES.inc()
                metrics.SCHEDULER_PASS.observe(time.monotonic() - started)
                metrics.TASK_ASSIGNMENTS.inc(decision.assigned)
                if decision.assigned or decision.revoked:
                    log.info(
                        "assignment pass",
                        extra={"assigned": decision.assigned, "revoked": decision.revoked},
                    )
                if listener.done():
                    listener.result()  # a broken watch ends the loop; the supervisor restarts it
                await wait_event(changed, interval)
                await asyncio.sleep(min_pause)
        finally:
            metrics.LEADER.set(0)
            metrics.JOBS.clear()  # only the leader reports the cluster's jobs and tasks
            metrics.TASKS.clear()
            listener.cancel()
            await cancel_watch(watch)

    return schedule_jobs


def _decide(planner: Planner, state: SyncState) -> Decision:
    """_decide is planner.decide(state, now), after exporting how many jobs and tasks the
    state holds in each state."""
    jobs: Counter[int] = Counter(r.job.state for r in state.jobs.values())
    tasks: Counter[int] = Counter(t.task.state for r in state.jobs.values() for t in r.tasks)
    for gauge, names, counts in (
        (metrics.JOBS, pb.JobState.items(), jobs),
        (metrics.TASKS, pb.TaskState.items(), tasks),
    ):
        for name, value in names:
            if value:  # not UNSPECIFIED
                gauge.labels(_label(name)).set(counts[value])
    return planner.decide(state, time.time())


def _label(name: str) -> str:
    """_label is an enum value's name as a metric label: JOB_STATE_RUNNING is "running"."""
    return name.rsplit("_", 1)[-1].lower()
