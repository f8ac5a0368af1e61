"""Faults under load, each ending with every index compared with its source document by document:
etcd unreachable while agents write (they stop by their lease deadline and resume after), and
the coordinator leader killed while it schedules dozens of tasks.

``FERRY_FAULT_OUTAGE_SECONDS`` sets the etcd outage: 8 s in ``make test``, 30 s in
``make test-faults``.
"""

from __future__ import annotations

import functools
import os
import signal
import sqlite3
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ferry.etcd import EmbeddedEtcd, Keys, free_port
from ferry.v1 import jobs_pb2
from tests.e2e.paced_source import PLUGIN
from tests.faults.test_leader_failover import leader_id
from tests.helpers import ServiceProcess, wait_until
from tests.scrape import Scrape, scrape_until
from tests.sync.support import SyncCluster, index_equals_generator, operations

pytestmark = pytest.mark.faults

TTL = 3.0
OUTAGE = float(os.environ.get("FERRY_FAULT_OUTAGE_SECONDS", "8"))


def _tasks_ended(agents: list[ServiceProcess]) -> list[Scrape]:
    """_tasks_ended waits until no agent runs a task any more (its ferry_tasks_running
    gauge), and returns each agent's metrics then."""
    return [
        scrape_until(
            agent.env["FERRY_METRICS_LISTEN"],
            lambda got: got.total("ferry_tasks_running") == 0,
            what=f"{agent.member_id} running no task",
        )
        for agent in agents
    ]


def _store_idle(store_url: str) -> None:
    """_store_idle returns once the store's write lock is free: a batch the store's writer
    thread was already writing when its task was cancelled has committed by then."""
    conn = sqlite3.connect(store_url.removeprefix("sqlite:///"), timeout=10, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def test_etcd_outage_under_load_stops_writes_by_the_deadline_and_loses_nothing(
    own_etcd: EmbeddedEtcd, services: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    def start(role: str, etcd_endpoints: str, **kwargs: Any) -> ServiceProcess:
        env = {
            "FERRY_CONNECTOR_PLUGINS": PLUGIN,
            "FERRY_METRICS_LISTEN": f"127.0.0.1:{free_port()}",
        }
        return services(role, etcd_endpoints, env=env, **kwargs)

    cluster = SyncCluster(start, own_etcd.endpoint, Keys(f"/load-{uuid.uuid4().hex[:8]}"), tmp_path)
    source = {"docs": 24_000, "doc_size": 256, "checkpoint_every": 200}
    try:
        cluster.coordinator()
        agents = [cluster.agent(checkpoint_docs=400), cluster.agent(checkpoint_docs=400)]
        cluster.create("load", "test-paced-generator", {**source, "pause_ms": 40}, tasks_max=4)
        job = cluster.sync("load")
        written = functools.partial(operations, cluster.store_url, "load")
        wait_until(lambda: written() > 2_000, timeout=30, what="the sync writing")

        os.kill(own_etcd.pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        for agent in agents:  # each stops by its local deadline, before etcd could expire it
            wait_until(lambda a=agent: '"session lost"' in a.log(), timeout=TTL + 3)
        assert time.monotonic() - stopped_at < TTL + 3
        ended = _tasks_ended(agents)
        # Ended by the session loss (cancelled: "stopped"), not failed or handed back.
        assert sum(m.total("ferry_task_runs_total", state="stopped") for m in ended) >= 1
        _store_idle(cluster.store_url)
        frozen = written()
        assert frozen < source["docs"], "the sync ended before the outage could matter"
        # The rest of the outage: nobody writes, although the sources still have data.
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - stopped_at)))
        assert written() == frozen
        os.kill(own_etcd.pid, signal.SIGCONT)

        done = cluster.wait_job(job.id, timeout=120)
        assert done.state == jobs_pb2.JOB_STATE_COMPLETED, done
        index_equals_generator(cluster.store_url, "load", **source)
    finally:
        os.kill(own_etcd.pid, signal.SIGCONT)
        cluster.close()


def test_leader_killed_during_heavy_scheduling_every_index_equals_its_source(
    etcd_server: EmbeddedEtcd, services: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    keys = Keys(f"/sched-{uuid.uuid4().hex[:8]}")
    cluster = SyncCluster(services, etcd_server.endpoint, keys, tmp_path)
    sources = {f"load-{i}": {"docs": 1_500 + 100 * i, "doc_size": 128} for i in range(12)}
    try:
        first, second = cluster.coordinator(), cluster.coordinator()
        for _ in range(2):
            cluster.agent(capacity=16)
        leader = wait_until(lambda: leader_id(first.address), what="a leader")
        dead, survivor = (first, second) if leader == first.member_id else (second, first)
        cluster.through(survivor)
        for name, source in sources.items():
            cluster.generator(name, tasks_max=4, **source)
        jobs = [cluster.sync(name).id for name in sources]  # 48 tasks to plan and assign
        dead.kill()

        wait_until(lambda: leader_id(survivor.address) == survivor.member_id, timeout=TTL + 5)
        for job_id in jobs:
            job = cluster.wait_job(job_id, timeout=120)
            assert job.state == jobs_pb2.JOB_STATE_COMPLETED, job
        for name, source in sources.items():
            index_equals_generator(cluster.store_url, name, **source)
    finally:
        cluster.close()
