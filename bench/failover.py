"""Failover: an agent killed mid-sync, its task resumed on another agent.

SPEC §10: the task is running again elsewhere within the lease TTL + 2 s, and
no document is lost. One coordinator and two agents (capacity 1 each) with a
lease TTL of ``LEASE_TTL`` seconds; a one-task generator job long enough to
run about 20 s. Once ``Jobs.Get`` shows the task RUNNING (claimed once), the
agent holding it gets SIGKILL; the figure is the time from the kill until
``Jobs.Get`` shows the task RUNNING on the other agent, claimed a second
time. The job must then complete with every document in the index.

Each round starts a fresh agent in place of the killed one. The row reports
the slowest round: the bound must hold every time. Its raw limit is the bound
itself, TTL + 2 s.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._cluster import Cluster, Service, readers, wait_for
from bench.report import Row
from ferry.v1 import jobs_pb2

FIGURE = "failover, agent killed mid-sync"
LEASE_TTL = 3.0
SLACK_SECONDS = 2.0
DOCS = 900_000
DOC_BYTES = 256
ROUNDS = 3
SYNC_TIMEOUT = 600.0


def generator_config(docs: int) -> dict[str, Any]:
    """generator_config is the connector config of every round (each has its own index)."""
    return {"docs": docs, "doc_size": DOC_BYTES, "seed": 5, "checkpoint_every": 1000}


def running_task(cluster: Cluster, job_id: str) -> jobs_pb2.Task | None:
    """running_task is the job's one reading task while it is RUNNING, else None."""
    job = cluster.job(job_id)
    if job.state in (jobs_pb2.JOB_STATE_COMPLETED, jobs_pb2.JOB_STATE_FAILED):
        raise RuntimeError(
            f"job {job_id} ended {jobs_pb2.JobState.Name(job.state)} before the failover was "
            "measured: make it bigger"
        )
    for task in readers(job):
        if task.state == jobs_pb2.TASK_STATE_RUNNING:
            return task
    return None


def failover_round(cluster: Cluster, agents: list[Service], connector: str, docs: int) -> float:
    """failover_round kills the agent running a fresh job's task and returns the seconds
    until the other agent runs it; the killed agent is removed from ``agents``."""
    cluster.generator(connector, tasks_max=1, **generator_config(docs))
    job_id = cluster.sync(connector)

    def claimed() -> jobs_pb2.Task | None:
        # The claim shows (RUNNING) a moment before the owner records it in the task.
        task = running_task(cluster, job_id)
        return task if task is not None and task.claims else None

    first = wait_for(claimed, timeout=60, interval=0.02, what="task RUNNING")
    if first.claims != 1:
        raise RuntimeError(f"task {first.id} claimed {first.claims} times before the kill")
    holder = next(a for a in agents if a.member_id == first.agent_id)
    killed = time.monotonic()
    holder.kill()
    agents.remove(holder)
    survivor = {a.member_id for a in agents}

    def resumed() -> jobs_pb2.Task | None:
        task = running_task(cluster, job_id)
        if task is not None and task.agent_id in survivor and task.claims == 2:
            return task
        return None

    wait_for(resumed, timeout=LEASE_TTL * 10, interval=0.02, what=f"task {first.id} resumed")
    seconds = time.monotonic() - killed
    job = cluster.wait_job(job_id, timeout=SYNC_TIMEOUT)
    stored = cluster.index_count(connector)
    if stored != docs or job.counters.docs_indexed < docs:
        raise RuntimeError(
            f"documents lost: index {connector} holds {stored} of {docs} documents "
            f"({job.counters.docs_indexed} indexed)"
        )
    return seconds


def measure(directory: Path, *, docs: int = DOCS, rounds: int = ROUNDS) -> list[float]:
    """measure returns the failover seconds of each round."""
    times = []
    with Cluster(directory, lease_ttl=LEASE_TTL) as cluster:
        cluster.coordinator()
        agents = cluster.agents(2, capacity=1, checkpoint_interval=1.0)
        for i in range(rounds):
            if len(agents) < 2:
                agents += cluster.agents(2 - len(agents), capacity=1, checkpoint_interval=1.0)
            seconds = failover_round(cluster, agents, f"failover-{i}", docs)
            times.append(seconds)
            print(f"  failover round {i + 1}: resumed after {seconds:.2f} s", file=sys.stderr)
    return times


def run() -> list[Row]:
    """run measures the rounds in a temporary directory and returns the §10 row."""
    with tempfile.TemporaryDirectory(prefix="ferry-bench-failover-") as tmp:
        times = measure(Path(tmp))
    return [
        Row(
            figure=FIGURE,
            ferry=max(times),
            raw_limit=LEASE_TTL + SLACK_SECONDS,
            unit="s",
            target=1.0,
            lower_is_better=True,
        )
    ]
