"""Rebalancing, incremental and full syncs, one job per index, cancel, drain, maintenance, cron."""

from __future__ import annotations

from collections import defaultdict

from ferry.v1 import connectors_pb2, jobs_pb2
from tests.helpers import wait_until
from tests.sync.support import (
    SyncCluster,
    claim_history,
    etcd_revision,
    generator_data,
    index_equals_generator,
)

RUNNING = jobs_pb2.TASK_STATE_RUNNING
COMPLETED = jobs_pb2.JOB_STATE_COMPLETED


def test_joining_agents_take_only_the_excess_and_no_task_runs_twice(
    cluster: SyncCluster,
) -> None:
    since = etcd_revision(cluster.etcd_endpoint)
    first = cluster.agent(capacity=8, checkpoint_docs=2000)
    config = {"docs": 60_000, "doc_size": 256, "seed": 5, "checkpoint_every": 500}
    # Paced: each task lasts at least 20 s however fast the machine, so the job cannot end
    # before the new agents have joined (it once did, in 5 s, on an unpaced source).
    cluster.create("spread", "test-paced-generator", {**config, "pause_ms": 1000}, tasks_max=6)
    job = cluster.sync("spread")
    wait_until(
        lambda: sum(t.state == RUNNING for t in cluster.job(job.id).tasks) == 6,
        timeout=30,
        what="6 tasks running on the first agent",
    )
    second = cluster.agent(capacity=8, checkpoint_docs=2000)
    third = cluster.agent(capacity=8, checkpoint_docs=2000)

    def spread() -> bool:
        agents = {t.agent_id for t in cluster.job(job.id).tasks if t.state == RUNNING}
        return {second.member_id, third.member_id} <= agents

    wait_until(spread, timeout=30, what="tasks moved to both new agents")
    done = cluster.wait_job(job.id, timeout=120)
    assert done.state == COMPLETED, done.error
    index_equals_generator(cluster.store_url, "spread", **config)
    assert done.counters.docs_seen == config["docs"]

    # From etcd's history of claim keys: a task is claimed again only after its
    # previous claim was released (never held by two agents at once).
    held: dict[str, str] = {}
    claims: dict[str, list[str]] = defaultdict(list)
    for kind, task, agent in claim_history(cluster.etcd_endpoint, cluster.keys, since):
        if kind == "PUT":
            assert task not in held, f"{task} claimed by {agent} while {held.get(task)} held it"
            held[task] = agent
            claims[task].append(agent)
        else:
            assert held.pop(task) == agent
    readers = [t for t in done.tasks if not t.sweep]
    stayed = [t for t in readers if claims[t.id] == [first.member_id]]
    moved = [t for t in readers if len(claims[t.id]) > 1]
    assert moved and stayed, claims
    # Tasks that did not move were never restarted; the excess moved, not everything.
    assert all(t.claims == 1 for t in stayed)
    assert len(stayed) >= 2, {t[-2:]: [a[-5:] for a in agents] for t, agents in claims.items()}


def test_incremental_applies_exactly_the_changes_and_full_removes_vanished(
    cluster: SyncCluster,
) -> None:
    cluster.agent(capacity=4)
    before = {"docs": 2000, "doc_size": 80, "seed": 9, "checkpoint_every": 100}
    cluster.generator("inc", tasks_max=3, **before)
    first = cluster.wait_job(cluster.sync("inc").id)
    assert first.state == COMPLETED, first.error
    index_equals_generator(cluster.store_url, "inc", **before)

    after = {**before, "docs": 2100, "version": 1, "updated_every": 10, "deleted_every": 7}
    cluster.update_config(
        "inc", **{k: after[k] for k in ("docs", "version", "updated_every", "deleted_every")}
    )
    old, new = generator_data(**before), generator_data(**after)
    deleted = [i for i in range(2000) if old.exists(i) and not new.exists(i)]
    changed = [
        i
        for i in range(2100)
        if new.exists(i) and (i >= 2000 or new.document(i).source != old.document(i).source)
    ]
    inc = cluster.wait_job(cluster.sync("inc", jobs_pb2.JOB_KIND_INCREMENTAL).id)
    assert inc.state == COMPLETED, inc.error
    index_equals_generator(cluster.store_url, "inc", **after)
    assert inc.counters.docs_seen == len(changed) + len(deleted)
    assert inc.counters.docs_indexed == len(changed)
    assert inc.counters.docs_deleted == len(deleted)
    assert not any(t.sweep for t in inc.tasks)

    # A FULL sync after more deletions removes the vanished documents by generation.
    final = {**after, "deleted_every": 5}
    cluster.update_config("inc", deleted_every=5)
    vanished = [i for i in range(2100) if new.exists(i) and not generator_data(**final).exists(i)]
    full = cluster.wait_job(cluster.sync("inc").id)
    assert full.state == COMPLETED, full.error
    index_equals_generator(cluster.store_url, "inc", **final)
    sweep = [t for t in full.tasks if t.sweep]
    assert len(sweep) == 1 and sweep[0].counters.docs_deleted == len(vanished)


def test_one_job_per_index_the_second_waits_pending(cluster: SyncCluster) -> None:
    cluster.agent(capacity=4)
    config = {"docs": 40_000, "doc_size": 64, "checkpoint_every": 500}
    cluster.generator("left", index="shared", seed=1, **config)
    cluster.generator("right", index="shared", seed=2, **config)
    a = cluster.sync("left")
    b = cluster.sync("right")
    seen: list[tuple[int, int]] = []  # (left's state, right's state) at every poll

    def right_completed() -> bool:
        ja, jb = cluster.job(a.id), cluster.job(b.id)
        seen.append((ja.state, jb.state))
        return jb.state == COMPLETED

    wait_until(right_completed, timeout=120, interval=0.02, what="the second job completed")
    running, pending = jobs_pb2.JOB_STATE_RUNNING, jobs_pb2.JOB_STATE_PENDING
    assert (running, running) not in seen
    assert all(right in (pending, running, COMPLETED) for _, right in seen), seen
    both_seen = (running, pending) in seen
    jb = cluster.job(b.id)
    ja = cluster.job(a.id)
    assert ja.state == COMPLETED and both_seen
    assert jb.start_time.ToNanoseconds() >= ja.end_time.ToNanoseconds()


def test_cancel_stops_every_task(cluster: SyncCluster) -> None:
    cluster.agent(capacity=4)
    cluster.generator("long", tasks_max=2, docs=2_000_000, doc_size=64, checkpoint_every=500)
    job = cluster.sync("long")
    wait_until(
        lambda: sum(t.counters.docs_seen for t in cluster.job(job.id).tasks) > 0,
        timeout=30,
        what="progress",
    )
    cluster.jobs.Cancel(jobs_pb2.CancelJobRequest(id=job.id, reason="test"), timeout=5)
    done = cluster.wait_job(job.id, timeout=30)
    assert done.state == jobs_pb2.JOB_STATE_CANCELED
    assert done.error == "test"
    assert all(t.state == jobs_pb2.TASK_STATE_CANCELED for t in done.tasks)
    assert done.counters.docs_seen < 2_000_000
    wait_until(lambda: cluster.maintenance_status().running_tasks == 0, what="no claims")


def test_drain_moves_every_task_off_the_agent(cluster: SyncCluster) -> None:
    drained = cluster.agent(capacity=4, checkpoint_docs=1000)
    other = cluster.agent(capacity=4, checkpoint_docs=1000)
    config = {"docs": 40_000, "doc_size": 64, "seed": 4, "checkpoint_every": 500}
    # Paced (each task lasts 12 s or more): no task may finish before the drain moves it.
    cluster.create("drain", "test-paced-generator", {**config, "pause_ms": 600}, tasks_max=4)
    job = cluster.sync("drain")

    def on_drained() -> set[str]:
        tasks = cluster.job(job.id).tasks
        if sum(t.state == RUNNING and t.counters.docs_seen > 0 for t in tasks) < 4:
            return set()
        return {t.id for t in tasks if t.agent_id == drained.member_id}

    moving = wait_until(on_drained, timeout=30, what="tasks running on the agent to drain")
    cluster.drain(drained.member_id)

    def off() -> bool:
        tasks = {t.id: t for t in cluster.job(job.id).tasks}
        return all(tasks[i].agent_id == other.member_id and tasks[i].claims >= 2 for i in moving)

    wait_until(off, timeout=30, what="tasks off the drained agent")
    states = {a.id: a.state for a in cluster.list_agents()}
    wait_until(
        lambda: {a.id: a.state for a in cluster.list_agents()}[drained.member_id] == 3,
        what="the agent DRAINED",
    )  # AGENT_STATE_DRAINED once its last task is handed back
    assert states[drained.member_id] in (2, 3)  # DRAINING or DRAINED, never ACTIVE
    done = cluster.wait_job(job.id, timeout=120)
    assert done.state == COMPLETED, done.error
    assert all(t.agent_id != drained.member_id for t in done.tasks)
    index_equals_generator(cluster.store_url, "drain", **config)


def test_maintenance_suspends_everything_and_resumes_from_checkpoints(
    cluster: SyncCluster,
) -> None:
    cluster.agent(capacity=4, checkpoint_docs=1000)
    config = {"docs": 20_000, "doc_size": 64, "seed": 8, "checkpoint_every": 500}
    # Paced (each task lasts 12 s or more): maintenance must catch both tasks running.
    cluster.create("maint", "test-paced-generator", {**config, "pause_ms": 600}, tasks_max=2)
    job = cluster.sync("maint")
    wait_until(
        lambda: sum(t.counters.docs_seen for t in cluster.job(job.id).tasks) > 0,
        timeout=30,
        what="progress",
    )
    status = cluster.maintenance(True)
    assert status.enabled
    wait_until(lambda: cluster.maintenance_status().running_tasks == 0, timeout=20, what="idle")
    suspended = cluster.wait_job(job.id, [jobs_pb2.JOB_STATE_SUSPENDED], timeout=10)
    assert all(t.state == jobs_pb2.TASK_STATE_SUSPENDED for t in suspended.tasks)
    seen = suspended.counters.docs_seen
    assert 0 < seen < config["docs"]

    cluster.maintenance(False)
    done = cluster.wait_job(job.id, timeout=120)
    assert done.state == COMPLETED, done.error
    assert done.counters.docs_seen == config["docs"]
    assert all(t.claims == 2 for t in done.tasks if not t.sweep)
    index_equals_generator(cluster.store_url, "maint", **config)


def test_cron_runs_scheduled_jobs(cluster: SyncCluster) -> None:
    cluster.agent(capacity=2)
    schedule = connectors_pb2.Schedule(full="* * * * * */2")
    cluster.generator("tick", schedule=schedule, docs=50)

    def scheduled() -> list[jobs_pb2.Job]:
        jobs = cluster.jobs.List(jobs_pb2.ListJobsRequest(connector="tick"), timeout=5).jobs
        done = [j for j in jobs if j.state == COMPLETED]
        return done if len(done) >= 2 else []

    done = wait_until(scheduled, timeout=30, what="two scheduled jobs")
    assert all(j.trigger == jobs_pb2.JOB_TRIGGER_SCHEDULED for j in done)
    ticks = sorted(j.scheduled_time.ToNanoseconds() for j in done)
    assert ticks[1] - ticks[0] >= 2 * 10**9
