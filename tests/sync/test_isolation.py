"""Process isolation: a connector's source in a child process with a memory limit (SPEC §4.9)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import grpc
import pytest

from ferry.connectors.registry import PLUGINS_ENV
from ferry.v1 import connectors_pb2, jobs_pb2
from tests.connectors.sources import PLUGINS
from tests.helpers import wait_until
from tests.sync.support import (
    QUICK_RETRY,
    SyncCluster,
    bad_fields,
    index_documents,
    index_equals_generator,
)

PROCESS = connectors_pb2.ISOLATION_PROCESS


@pytest.fixture(autouse=True)
def test_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every process of the cluster (and the isolated children) can load the test sources."""
    monkeypatch.setenv(PLUGINS_ENV, PLUGINS)


def test_isolated_generator_syncs_exactly(cluster: SyncCluster) -> None:
    cluster.agent(capacity=2)
    config = {"docs": 5000, "checkpoint_every": 250}
    cluster.create("iso", "generator", config, tasks_max=2, isolation=PROCESS)
    job = cluster.sync_and_wait("iso")
    assert job.counters.docs_indexed == 5000
    index_equals_generator(cluster.store_url, "iso", **config)


def test_isolated_source_runs_outside_the_agent_process(cluster: SyncCluster) -> None:
    agent = cluster.agent()
    cluster.create("inside", "test-whoami", {})
    cluster.create("outside", "test-whoami", {}, isolation=PROCESS)
    cluster.sync_and_wait("inside")
    cluster.sync_and_wait("outside")
    pids = {
        name: index_documents(cluster.store_url, name)["me"]["pid"]
        for name in ("inside", "outside")
    }
    assert pids["inside"] == agent.pid
    assert pids["outside"] != agent.pid


def test_memory_hog_is_stopped_while_a_neighbour_completes(cluster: SyncCluster) -> None:
    agent = cluster.agent(capacity=2)
    limit = 160 * 2**20
    cluster.create(
        "hog",
        "test-memory-hog",
        {"mib_per_doc": 8},
        isolation=PROCESS,
        memory_limit_bytes=limit,
        error_policy=QUICK_RETRY,
    )
    config = {"docs": 20_000, "doc_size": 256}
    cluster.create("calm", "generator", config)
    hog = cluster.sync("hog")
    calm = cluster.sync("calm")

    ended = cluster.wait_job(hog.id)
    assert ended.state == jobs_pb2.JOB_STATE_FAILED
    [task] = ended.tasks
    assert "exceeded its memory limit of 160 MiB" in task.error, task.error
    # Restarted per the error policy (one retry) before it failed.
    wait_until(
        lambda: agent.log().count("exceeded its memory limit of 160 MiB") >= 2,
        what="the retry of the hog logged",
    )
    done = cluster.wait_job(calm.id)
    assert done.state == jobs_pb2.JOB_STATE_COMPLETED
    index_equals_generator(cluster.store_url, "calm", **config)
    # The agent itself never went down.
    assert agent.process is not None and agent.process.poll() is None
    assert {a.id for a in cluster.list_agents()} == {agent.member_id}


def test_crash_is_reported_with_its_signal(cluster: SyncCluster) -> None:
    cluster.agent()
    cluster.create("crash", "test-crasher", {"docs": 10}, isolation=PROCESS,
                   error_policy=QUICK_RETRY)  # fmt: skip
    job = cluster.wait_job(cluster.sync("crash").id)
    assert job.state == jobs_pb2.JOB_STATE_FAILED
    assert "connector process crashed: killed by SIGABRT" in job.tasks[0].error


def test_an_isolated_error_that_retrying_cannot_heal_fails_at_once(
    cluster: SyncCluster, tmp_path: Path
) -> None:
    # As in-process: the child says whether its error is retriable, and a config
    # error (a table that is not there) is not.
    agent = cluster.agent()
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE items (id integer PRIMARY KEY)")
    cluster.create("absent", "sqlite", {"path": str(db), "tables": ["missing"]},
                   isolation=PROCESS, error_policy=QUICK_RETRY)  # fmt: skip
    job = cluster.wait_job(cluster.sync("absent").id)
    assert job.state == jobs_pb2.JOB_STATE_FAILED
    assert "cannot read missing" in job.tasks[0].error, job.tasks[0].error
    assert "retrying from its checkpoint" not in agent.log()


def test_memory_limit_needs_process_isolation(cluster: SyncCluster) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        cluster.create("x", "generator", {}, memory_limit_bytes=2**20)
    assert set(bad_fields(raised.value)) == {"spec.memory_limit_bytes"}
