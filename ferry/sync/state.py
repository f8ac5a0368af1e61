"""SyncState: one consistent read of everything the sync engine decides on.

The leader's scheduler and the API's job views both read connectors, jobs,
tasks, agents, assignments, claims, drain markers and maintenance in a single
etcd transaction, so they never see a task assigned to an agent that (at the
same revision) had not registered yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aetcd

from ferry.etcd import Keys, prefix_end
from ferry.member import decode_info
from ferry.sync.records import (
    CLAIM_KIND,
    Claimed,
    JobRecord,
    decode_connector,
    decode_job,
    task_records,
)
from ferry.v1 import common_pb2, connectors_pb2


@dataclass
class SyncState:
    revision: int = 0
    connectors: dict[str, connectors_pb2.Connector] = field(default_factory=dict)
    jobs: dict[str, JobRecord] = field(default_factory=dict)
    agents: dict[str, common_pb2.AgentInfo] = field(default_factory=dict)
    assigned: dict[str, str] = field(default_factory=dict)
    """assigned maps task id to the agent it is assigned to."""
    claims: dict[str, Claimed] = field(default_factory=dict)
    """claims maps task id to its current holder."""
    drains: set[str] = field(default_factory=set)
    maintenance: bool = False
    maintenance_reason: str = ""
    schedules: dict[str, float] = field(default_factory=dict)
    """schedules maps "connector/kind" to the last cron tick acted on (epoch seconds)."""

    def load(self, agent_id: str) -> int:
        """load counts the tasks an agent is assigned or still holds (releasing)."""
        return sum(1 for a in self.assigned.values() if a == agent_id) + sum(
            1
            for task, c in self.claims.items()
            if c.agent_id == agent_id and self.assigned.get(task) != agent_id
        )


async def read_state(
    client: aetcd.Client, keys: Keys, *, jobs: bool = True, connectors: bool = True
) -> SyncState:
    """read_state reads the whole sync state at one etcd revision."""
    tx = client.transactions

    def whole(prefix: str) -> aetcd.transactions.Get:
        return tx.get(prefix.encode(), prefix_end(prefix))

    prefixes = [
        keys.connectors() if connectors else None,
        keys.jobs() if jobs else None,
        keys.all_tasks() if jobs else None,
        keys.agents(),
        keys.all_assignments(),
        keys.claims(CLAIM_KIND),
        keys.drains(),
        keys.schedules(),
    ]
    ops = [whole(p) for p in prefixes if p is not None]
    ops.append(tx.get(keys.maintenance().encode()))
    _, responses = await client.transaction(compare=[], success=ops, failure=[])
    results = iter(responses)
    state = SyncState()
    revision = 0

    def rows(prefix: str | None) -> list[tuple[bytes, bytes, int, int, int]]:
        nonlocal revision
        if prefix is None:
            return []
        out = []
        for value, meta in next(results):
            revision = max(revision, meta.header.revision)
            out.append((meta.key, value, meta.mod_revision, meta.create_revision, meta.lease))
        return out

    connectors_p, jobs_p, tasks_p, agents_p, assign_p, claims_p, drains_p, sched_p = prefixes
    for _key, value, mod, _c, _l in rows(connectors_p):
        connector = decode_connector(value, mod)
        state.connectors[connector.spec.name] = connector
    for _key, value, mod, _c, _l in rows(jobs_p):
        job = decode_job(value, mod)
        state.jobs[job.id] = JobRecord(job)
    by_job = task_records((k, v, m) for k, v, m, _c, _l in rows(tasks_p))
    for job_id, tasks in by_job.items():
        if job_id in state.jobs:
            state.jobs[job_id].tasks = tasks
    for _key, value, _m, _c, _l in rows(agents_p):
        info = decode_info(value, common_pb2.AgentInfo())
        state.agents[info.id] = info
    assign_prefix = keys.all_assignments()
    for key, _v, _m, _c, _l in rows(assign_p):
        agent, _, task = key.decode()[len(assign_prefix) :].partition("/")
        state.assigned[task] = agent
    claim_prefix = keys.claims(CLAIM_KIND)
    for key, value, _m, create, _l in rows(claims_p):
        state.claims[key.decode()[len(claim_prefix) :]] = Claimed(value.decode(), create)
    drain_prefix = keys.drains()
    state.drains = {key.decode()[len(drain_prefix) :] for key, *_ in rows(drains_p)}
    sched_prefix = keys.schedules()
    for key, value, *_ in rows(sched_p):
        state.schedules[key.decode()[len(sched_prefix) :]] = float(value.decode() or 0)
    maintenance = next(results)
    if maintenance:
        state.maintenance = True
        state.maintenance_reason = maintenance[0][0].decode()
        revision = max(revision, maintenance[0][1].header.revision)
    state.revision = revision
    return state
