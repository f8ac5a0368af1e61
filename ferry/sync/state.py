"""SyncState: one consistent read of everything the sync engine decides on.

The leader's scheduler and the API's job views both read connectors, jobs,
tasks, agents, assignments, claims, drain markers and maintenance in a single
etcd transaction, so they never see a task assigned to an agent that (at the
same revision) had not registered yet.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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

    def ordered_jobs(self) -> list[JobRecord]:
        """ordered_jobs is every job, oldest first (ties by id): the order jobs get
        their index and their tasks get agents."""
        return sorted(
            self.jobs.values(), key=lambda r: (r.job.create_time.ToNanoseconds(), r.job.id)
        )


def loads(assigned: Mapping[str, str], claims: Mapping[str, Claimed]) -> Counter[str]:
    """loads counts, per agent, the tasks assigned to it plus those it still holds
    while releasing them (their claim is its, their assignment is gone or elsewhere)."""
    load = Counter(assigned.values())
    for task_id, claim in claims.items():
        if assigned.get(task_id) != claim.agent_id:
            load[claim.agent_id] += 1
    return load


async def read_state(
    client: aetcd.Client,
    keys: Keys,
    *,
    job_id: str = "",
    connectors: bool = True,
    jobs: bool = True,
) -> SyncState:
    """read_state reads the sync state at one etcd revision.

    ``job_id`` narrows jobs and tasks to that one job (agents, assignments and
    claims are still read whole: they say where its tasks run); without
    ``connectors`` the connector records are skipped, without ``jobs`` the job
    and task records (the bulk of the state, on a busy cluster).
    """
    tx = client.transactions

    def whole(prefix: str) -> aetcd.transactions.Get:
        return tx.get(prefix.encode(), prefix_end(prefix))

    state = SyncState()

    def add_connector(_key: str, value: bytes, meta: Any) -> None:
        connector = decode_connector(value, meta.mod_revision)
        state.connectors[connector.spec.name] = connector

    def add_job(_key: str, value: bytes, meta: Any) -> None:
        job = decode_job(value, meta.mod_revision)
        state.jobs[job.id] = JobRecord(job)

    task_rows: list[tuple[bytes, bytes, int]] = []

    def add_agent(_key: str, value: bytes, _meta: Any) -> None:
        info = decode_info(value, common_pb2.AgentInfo())
        state.agents[info.id] = info

    def add_assignment(key: str, _value: bytes, _meta: Any) -> None:
        agent, _, task = key.partition("/")
        state.assigned[task] = agent

    def add_claim(key: str, value: bytes, meta: Any) -> None:
        state.claims[key] = Claimed(value.decode(), meta.create_revision)

    def add_schedule(key: str, value: bytes, _meta: Any) -> None:
        state.schedules[key] = float(value.decode() or 0)

    def add_maintenance(_key: str, value: bytes, _meta: Any) -> None:
        state.maintenance = True
        state.maintenance_reason = value.decode()

    # (request, the prefix stripped from each key, what a row adds to the state)
    reads: list[tuple[Any, str, Callable[[str, bytes, Any], None]]] = [
        (whole(keys.agents()), keys.agents(), add_agent),
        (whole(keys.all_assignments()), keys.all_assignments(), add_assignment),
        (whole(keys.claims(CLAIM_KIND)), keys.claims(CLAIM_KIND), add_claim),
        (whole(keys.drains()), keys.drains(), lambda key, _v, _m: state.drains.add(key)),
        (whole(keys.schedules()), keys.schedules(), add_schedule),
        (tx.get(keys.maintenance().encode()), "", add_maintenance),
    ]
    if jobs:
        reads += [
            (
                tx.get(keys.job(job_id).encode()) if job_id else whole(keys.jobs()),
                keys.jobs(),
                add_job,
            ),
            (
                whole(keys.tasks(job_id) if job_id else keys.all_tasks()),
                "",
                lambda key, value, meta: task_rows.append((key.encode(), value, meta.mod_revision)),
            ),
        ]
    if connectors:
        reads.append((whole(keys.connectors()), keys.connectors(), add_connector))
    _, responses = await client.transaction(compare=[], success=[r[0] for r in reads], failure=[])
    for (_request, prefix, add), rows in zip(reads, responses, strict=True):
        for value, meta in rows:
            state.revision = max(state.revision, meta.header.revision)
            add(meta.key.decode()[len(prefix) :], value, meta)
    for job, tasks in task_records(task_rows).items():
        if job in state.jobs:
            state.jobs[job].tasks = tasks
    return state
