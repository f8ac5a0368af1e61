"""Machine loss: SIGKILL and SIGSTOP agents mid-sync; the job completes exactly."""

from __future__ import annotations

import signal
import time
from collections import Counter

from ferry.v1 import jobs_pb2
from tests.helpers import wait_until
from tests.sync.support import SyncCluster, index_equals_generator, operations

RUNNING = jobs_pb2.TASK_STATE_RUNNING
DOCS = 200_000
CHECKPOINT_DOCS = 2000
CHECKPOINT_EVERY = 500


def test_sigkill_of_the_busiest_agent_resumes_from_checkpoints(cluster: SyncCluster) -> None:
    for _ in range(3):
        cluster.agent(capacity=2, checkpoint_docs=CHECKPOINT_DOCS, checkpoint_interval=60)
    config = {"docs": DOCS, "doc_size": 512, "seed": 11, "checkpoint_every": CHECKPOINT_EVERY}
    cluster.generator("big", tasks_max=4, **config)
    job = cluster.sync("big")

    # Mid-sync: an agent runs two tasks, and every running task has committed a checkpoint.
    def under_way() -> tuple[str, set[str]] | None:
        tasks = [t for t in cluster.job(job.id).tasks if not t.sweep]
        running = [t for t in tasks if t.state == RUNNING]
        if len(running) < 3 or any(t.counters.docs_seen == 0 for t in running):
            return None
        busiest, count = Counter(t.agent_id for t in running).most_common(1)[0]
        return (busiest, {t.id for t in running if t.agent_id == busiest}) if count >= 2 else None

    victim_id, moved = wait_until(under_way, timeout=60, interval=0.02, what="tasks checkpointed")
    victim = next(a for a in cluster.agents if a.member_id == victim_id)
    victim.kill()
    killed_at = time.monotonic()

    def resumed_elsewhere() -> bool:
        tasks = {t.id: t for t in cluster.job(job.id).tasks}
        return all(
            (tasks[i].claims >= 2 and tasks[i].agent_id not in ("", victim_id))
            or tasks[i].state == jobs_pb2.TASK_STATE_COMPLETED
            for i in moved
        )

    wait_until(resumed_elsewhere, timeout=cluster.lease_ttl + 10, interval=0.05, what="resumed")
    resumed_after = time.monotonic() - killed_at

    done = cluster.wait_job(job.id, timeout=120)
    assert done.state == jobs_pb2.JOB_STATE_COMPLETED, done.error
    assert resumed_after <= cluster.lease_ttl + 2, f"resumed after {resumed_after:.2f}s"
    readers = [t for t in done.tasks if not t.sweep]
    assert {t.id for t in readers if t.claims >= 2} == moved
    # Counters carry over from the checkpoint: every document counted once.
    assert done.counters.docs_seen == DOCS
    index_equals_generator(cluster.store_url, "big", **config)
    # Proof it did not start over: what was written twice is bounded by what a task
    # reads between two commits (checkpoint_docs, rounded up to the source's checkpoint).
    rewritten = operations(cluster.store_url, "big") - DOCS
    assert 0 <= rewritten <= len(moved) * (CHECKPOINT_DOCS + CHECKPOINT_EVERY), rewritten


def test_sigstopped_agent_is_fenced_and_the_index_stays_exact(cluster: SyncCluster) -> None:
    """SIGSTOP the agent running the task until its lease expires and the task moves.

    With the embedded SQLite store a stopped writer may hold the database's write
    lock, so the new owner can claim the task in etcd but writes only once the
    zombie wakes (or dies); what matters is that the woken zombie writes nothing
    more and the index ends exact.
    """
    pair = [cluster.agent(capacity=1, checkpoint_docs=1000, checkpoint_interval=60) for _ in "ab"]
    config = {"docs": 200_000, "doc_size": 64, "seed": 12, "checkpoint_every": 500}
    cluster.generator("paused", tasks_max=1, **config)
    job = cluster.sync("paused")

    def runner() -> str:
        task = cluster.job(job.id).tasks[0]
        return task.agent_id if task.state == RUNNING and task.counters.docs_seen > 0 else ""

    holder = wait_until(runner, timeout=60, interval=0.02, what="first checkpoint")
    zombie, successor = sorted(pair, key=lambda a: a.member_id != holder)
    zombie.signal(signal.SIGSTOP)
    wait_until(
        lambda: cluster.job(job.id).tasks[0].agent_id == successor.member_id,
        timeout=cluster.lease_ttl + 10,
        what="the task claimed by the successor",
    )
    zombie.signal(signal.SIGCONT)

    done = cluster.wait_job(job.id, timeout=120)
    assert done.state == jobs_pb2.JOB_STATE_COMPLETED, done.error
    assert done.tasks[0].claims == 2
    assert done.counters.docs_seen == config["docs"]
    index_equals_generator(cluster.store_url, "paused", **config)

    # The woken agent stopped the task itself (its session's deadline had passed) or
    # had its writes refused as fenced; it never finished the task it lost.
    log = zombie.log()
    assert "session lost" in log or "task fenced" in log, log[-2000:]
    reader = done.tasks[0].id
    # (Re-registered, it may well run the job's later sweep task; not the task it lost.)
    assert not [line for line in log.splitlines() if '"task ended"' in line and reader in line]
