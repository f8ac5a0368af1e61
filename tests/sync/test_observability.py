"""Tracing and metrics of real processes during a real ``ferry sync`` (SPEC §8.2).

The coordinator and the agent export their spans over OTLP/gRPC to a receiver
this test runs, and serve Prometheus metrics that the test scrapes while the
sync runs.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.proto.trace.v1 import trace_pb2

from ferry.etcd import free_port
from ferry.v1 import jobs_pb2
from tests.helpers import ferry
from tests.otlp import Exported, Receiver, etcd_spans, receiving
from tests.scrape import Scrape, scrape_until
from tests.sync.support import SyncCluster

SERVER = trace_pb2.Span.SPAN_KIND_SERVER


@dataclass(frozen=True)
class Observed:
    """Observed is where the coordinator sends its spans and serves its metrics."""

    spans: Receiver
    coordinator_metrics: str


@pytest.fixture(autouse=True)
def observed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Observed]:
    """observed runs an OTLP receiver and gives the coordinator a metrics address; autouse,
    so that it comes before the ``cluster`` fixture starts the coordinator."""
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("FERRY_METRICS_LISTEN", address)  # each process reads it at start
    for receiver in receiving(monkeypatch):
        yield Observed(receiver, address)


def ferry_sync(cluster: SyncCluster, name: str) -> str:
    """ferry_sync runs ``ferry sync NAME`` (the CLI, as a process) and returns the job id."""
    done = ferry("sync", name, "--coordinator", cluster.coordinators[0].address, "-o", "json")
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["id"])


def test_task_spans_link_to_the_start_call_across_the_hand_off_through_etcd(
    observed: Observed, cluster: SyncCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    otlp = observed.spans
    monkeypatch.delenv("FERRY_METRICS_LISTEN")
    cluster.agent(checkpoint_docs=1000)
    docs = 3000
    cluster.generator("traced", docs=docs, doc_size=200, checkpoint_every=500)
    job_id = ferry_sync(cluster, "traced")
    job = cluster.wait_job(job_id)
    assert job.state == jobs_pb2.JOB_STATE_COMPLETED
    task_ids = {t.id for t in job.tasks}
    assert len(task_ids) == 2, "a reader and the FULL job's sweep"

    [start] = otlp.wait_for(
        lambda s: (
            s.service == "ferry-coordinator"
            and s.span.name == "/ferry.v1.Jobs/Start"
            and s.span.kind == SERVER
        ),
        what="the coordinator's Jobs/Start server span",
    )
    tasks = otlp.wait_for(
        lambda s: s.span.name == "task" and s.attribute("ferry.job") == job_id,
        len(task_ids),
        what="the job's task spans",
    )
    spans = otlp.spans()
    for task in tasks:
        assert task.service == "ferry-agent"
        assert task.attribute("ferry.task") in task_ids
        # The agent's task spans are in their own traces, linked to the triggering call.
        assert task.span.trace_id != start.span.trace_id
        links = [(link.trace_id, link.span_id) for link in task.span.links]
        assert (start.span.trace_id, start.span.span_id) in links

        def children(name: str, task: Exported = task) -> list[Exported]:
            return [
                s
                for s in spans
                if s.span.name == name
                and s.span.trace_id == task.span.trace_id
                and s.span.parent_span_id == task.span.span_id
            ]

        assert len(children("task.claim")) == 1
        assert children("task.claim")[0].attribute("ferry.fencing_token")
        if task.attribute("ferry.sweep"):
            continue
        batches = children("task.batch")
        assert batches and sum(int(b.attribute("ferry.docs_indexed")) for b in batches) == docs  # type: ignore[call-overload]
        assert all(b.attribute("ferry.index") == "traced" for b in batches)
        assert children("task.checkpoint"), "the reader committed checkpoints"

    assert etcd_spans(otlp) == [], "etcd's watch and keepalive streams stay out of traces"


def test_metrics_of_the_agent_and_the_coordinator_during_a_sync(
    observed: Observed, cluster: SyncCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    coordinator_metrics = observed.coordinator_metrics
    agent_metrics = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("FERRY_METRICS_LISTEN", agent_metrics)
    cluster.agent(checkpoint_docs=2000, checkpoint_interval=0.2)
    monkeypatch.delenv("FERRY_METRICS_LISTEN")
    docs = 60_000
    cluster.generator("measured", docs=docs, doc_size=100, checkpoint_every=1000)
    labels = {"connector": "measured", "index": "measured"}
    job_id = ferry_sync(cluster, "measured")

    # The counter rises between two scrapes while the job runs.
    indexed = "ferry_documents_indexed_total"
    during: list[Scrape] = []

    def risen(got: Scrape) -> bool:
        if 0 < got.total(indexed, **labels) < docs:
            during.append(got)
        return any(a.total(indexed) < b.total(indexed) for a, b in itertools.pairwise(during))

    scrape_until(agent_metrics, risen, what="documents indexed rising mid-sync", timeout=30)
    assert any(
        m.total("ferry_tasks_running", connector="measured") == 1
        and len(m.values("ferry_checkpoint_lag_seconds", **labels)) == 1
        for m in during
    ), "a running task shows, with its checkpoint lag"
    assert cluster.wait_job(job_id).state == jobs_pb2.JOB_STATE_COMPLETED

    completed = {"connector": "measured", "state": "completed"}
    agent = scrape_until(
        agent_metrics,
        lambda got: got.total("ferry_task_runs_total", **completed) == 2,
        what="both tasks counted as completed",
    )
    assert agent.total("ferry_documents_indexed_total", **labels) == docs
    assert agent.total("ferry_documents_failed_total", **labels) == 0
    assert agent.total("ferry_indexed_bytes_total", **labels) > docs * 50
    batches = agent.total("ferry_batches_written_total", **labels)
    assert batches >= docs / 1000
    assert agent.total("ferry_store_write_duration_seconds_count", **labels) == batches
    assert agent.total("ferry_checkpoint_commits_total", **labels) >= 1
    assert agent.total("ferry_tasks_running", connector="measured") == 0
    assert agent.values("ferry_checkpoint_lag_seconds", **labels) == [], "no task runs now"
    assert agent.total("ferry_etcd_lease_renewal_failures_total") == 0
    assert agent.values("process_resident_memory_bytes")

    coordinator = scrape_until(
        coordinator_metrics,
        lambda got: got.total("ferry_jobs", state="completed") == 1,
        what="the leader's gauge of completed jobs",
    )
    assert coordinator.values("ferry_coordinator_leader") == [1.0]
    assert coordinator.total("ferry_jobs", state="running") == 0
    assert coordinator.total("ferry_tasks", state="completed") == 2
    ended = {"kind": "full", "state": "completed"}
    assert coordinator.total("ferry_job_duration_seconds_count", **ended) == 1
    assert coordinator.total("ferry_scheduler_passes_total") > 0
    assert coordinator.total("ferry_task_assignments_total") >= 2
    # Renewals every ttl/3 = 1 s: by now each process has renewed its lease.
    for address in (agent_metrics, coordinator_metrics):
        scrape_until(
            address,
            lambda got: got.total("ferry_etcd_lease_renewal_duration_seconds_count") > 0,
            what=f"a lease renewal timed on {address}",
        )
