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
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from ferry.etcd import EmbeddedEtcd, Keys
from ferry.v1 import jobs_pb2
from tests.e2e.paced_source import PLUGIN
from tests.faults.test_leader_failover import leader_id
from tests.helpers import ServiceProcess, wait_until
from tests.sync.support import SyncCluster, index_equals_generator, operations

pytestmark = pytest.mark.faults

TTL = 3.0
OUTAGE = float(os.environ.get("FERRY_FAULT_OUTAGE_SECONDS", "8"))


def _settled(read: Callable[[], int]) -> int:
    """_settled is read()'s value once two reads half a second apart agree (a batch already
    inside the store when the deadline passed may still commit)."""
    last = read()

    def same() -> int | None:
        nonlocal last
        time.sleep(0.5)
        now = read()
        agreed, last = now == last, now
        return now if agreed else None

    value: int = wait_until(same, timeout=10, what="writes settled")
    return value


def test_etcd_outage_under_load_stops_writes_by_the_deadline_and_loses_nothing(
    own_etcd: EmbeddedEtcd, services: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    start = functools.partial(services, env={"FERRY_CONNECTOR_PLUGINS": PLUGIN})
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
        frozen = _settled(written)
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
