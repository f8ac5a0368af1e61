"""The error policy, with a misbehaving source: in-process coordinator and agent, real etcd."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from google.protobuf import duration_pb2, struct_pb2

from ferry.config import AgentConfig, CoordinatorConfig
from ferry.connectors import (
    Checkpoint,
    ConfigSchema,
    Delete,
    Document,
    Field,
    FieldType,
    Registry,
    Source,
    TaskPlan,
)
from ferry.connectors.generator import GeneratorSource
from ferry.errors import FailedPrecondition
from ferry.etcd import EmbeddedEtcd, Keys
from ferry.store import open_store
from ferry.v1 import connectors_pb2, jobs_pb2
from services.agent.agent import Agent
from services.coordinator.coordinator import Coordinator
from tests.helpers import eventually


class FlakySource(Source):
    """FlakySource yields ``docs`` documents; every ``bad_every``-th has an id the store
    refuses, and the stream breaks at ``break_at`` on its first ``breaks`` openings."""

    name = "flaky"
    incremental = True
    schema = ConfigSchema(
        (
            Field(name="docs", type=FieldType.INTEGER, default=300),
            Field(name="bad_every", type=FieldType.INTEGER, default=0),
            Field(name="break_at", type=FieldType.INTEGER, default=-1),
            Field(name="breaks", type=FieldType.INTEGER, default=0),
            Field(name="key", type=FieldType.STRING, default=""),
            Field(name="fatal", type=FieldType.BOOLEAN, default=False),
        )
    )
    openings: ClassVar[dict[str, int]] = {}

    async def stream(
        self, task: TaskPlan, *, full: bool, cursor: Mapping[str, Any] | None
    ) -> AsyncIterator[Document | Delete | Checkpoint]:
        key = self.config["key"]
        opened = self.openings[key] = self.openings.get(key, 0) + 1
        start = int((cursor or {}).get("next", 0))
        for i in range(start, self.config["docs"]):
            if i == self.config["break_at"] and opened <= self.config["breaks"]:
                if self.config["fatal"]:
                    raise FailedPrecondition(f"table vanished at {i}")
                raise ConnectionError(f"source went away at {i}")
            bad = self.config["bad_every"] and i % self.config["bad_every"] == 0
            doc_id = "x" * 600 if bad else f"doc-{i}"
            yield Document(id=doc_id, source={"n": i})
            if (i + 1) % 50 == 0:
                yield Checkpoint({"next": i + 1})
        yield Checkpoint({"next": self.config["docs"]})


class FullOnly(FlakySource):
    """FullOnly cannot sync incrementally."""

    name = "full-only"
    incremental = False


@pytest.fixture
async def engine(
    etcd_server: EmbeddedEtcd, keys: Keys, tmp_path: Path
) -> AsyncIterator[tuple[Coordinator, str]]:
    registry = Registry([GeneratorSource, FlakySource, FullOnly])
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    common: dict[str, Any] = {
        "etcd_endpoints": etcd_server.endpoint,
        "etcd_prefix": keys.root,
        "listen": "127.0.0.1:0",
        "lease_ttl": 3.0,
        "store_url": store_url,
        "grace_period": 1.0,
    }
    async with (
        Coordinator(CoordinatorConfig(**common), registry=registry) as coordinator,
        Agent(AgentConfig(**common, checkpoint_interval=0.2), registry=registry),
    ):
        yield coordinator, store_url


def _seconds(value: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(value * 1e9))
    return d


async def _run(
    coordinator: Coordinator,
    name: str,
    policy: connectors_pb2.ErrorPolicy,
    type_: str = "flaky",
    **config: Any,
) -> jobs_pb2.Job:
    struct = struct_pb2.Struct()
    struct.update({"key": name, **config})
    spec = connectors_pb2.ConnectorSpec(
        name=name, type=type_, index=name, config=struct, error_policy=policy
    )
    await coordinator.store.create(spec)
    job = await coordinator.jobs.start(name, jobs_pb2.JOB_KIND_INCREMENTAL)

    async def finished() -> jobs_pb2.Job | None:
        current = await coordinator.jobs.get(job.id)
        done = (jobs_pb2.JOB_STATE_COMPLETED, jobs_pb2.JOB_STATE_FAILED)
        return current if current.state in done else None

    return await eventually(finished, timeout=30, what=f"job {job.id} finished")


async def _count(store_url: str, index: str) -> int:
    async with open_store(store_url) as store:
        return await store.count(index)


async def test_bad_documents_are_recorded_and_skipped(engine: tuple[Coordinator, str]) -> None:
    coordinator, store_url = engine
    job = await _run(coordinator, "skips", connectors_pb2.ErrorPolicy(), docs=300, bad_every=30)
    assert job.state == jobs_pb2.JOB_STATE_COMPLETED, job.error
    assert job.counters.docs_failed == 10
    assert job.counters.docs_indexed == 290
    assert await _count(store_url, "skips") == 290
    errors = job.tasks[0].recent_document_errors
    assert len(errors) == 10 and all("ops[" in e.message and "id" in e.message for e in errors)


async def test_fail_on_document_error_fails_the_job(engine: tuple[Coordinator, str]) -> None:
    coordinator, _ = engine
    policy = connectors_pb2.ErrorPolicy(fail_on_document_error=True)
    job = await _run(coordinator, "strict", policy, docs=300, bad_every=100)
    assert job.state == jobs_pb2.JOB_STATE_FAILED
    assert "document" in job.error and job.tasks[0].state == jobs_pb2.TASK_STATE_FAILED


async def test_error_rate_breaker_trips(engine: tuple[Coordinator, str]) -> None:
    coordinator, _ = engine
    policy = connectors_pb2.ErrorPolicy(max_error_rate=0.2)
    job = await _run(coordinator, "breaker", policy, docs=300, bad_every=3)
    assert job.state == jobs_pb2.JOB_STATE_FAILED
    assert "max_error_rate" in job.error


async def test_transient_errors_are_retried_from_the_checkpoint(
    engine: tuple[Coordinator, str],
) -> None:
    coordinator, store_url = engine
    policy = connectors_pb2.ErrorPolicy(max_retries=3, initial_backoff=_seconds(0.05))
    job = await _run(coordinator, "retry", policy, docs=300, break_at=175, breaks=2)
    assert job.state == jobs_pb2.JOB_STATE_COMPLETED, job.error
    assert FlakySource.openings["retry"] == 3
    assert job.counters.docs_seen == 300  # counted once despite two restarts
    assert await _count(store_url, "retry") == 300


async def test_retries_run_out(engine: tuple[Coordinator, str]) -> None:
    coordinator, _ = engine
    policy = connectors_pb2.ErrorPolicy(max_retries=1, initial_backoff=_seconds(0.05))
    job = await _run(coordinator, "gives-up", policy, docs=300, break_at=100, breaks=5)
    assert job.state == jobs_pb2.JOB_STATE_FAILED
    assert "source went away" in job.error
    assert FlakySource.openings["gives-up"] == 2


async def test_errors_that_retrying_cannot_heal_fail_at_once(
    engine: tuple[Coordinator, str],
) -> None:
    coordinator, _ = engine
    policy = connectors_pb2.ErrorPolicy(max_retries=5, initial_backoff=_seconds(0.05))
    job = await _run(coordinator, "fatal", policy, docs=300, break_at=100, breaks=5, fatal=True)
    assert job.state == jobs_pb2.JOB_STATE_FAILED
    assert "table vanished at 100" in job.error
    assert FlakySource.openings["fatal"] == 1


async def test_incremental_job_of_a_full_only_type_fails_clearly(
    engine: tuple[Coordinator, str],
) -> None:
    coordinator, _ = engine
    job = await _run(coordinator, "full-only", connectors_pb2.ErrorPolicy(), "full-only")
    assert job.state == jobs_pb2.JOB_STATE_FAILED
    assert "cannot sync incrementally; run a FULL sync" in job.error
    assert "full-only" not in FlakySource.openings
