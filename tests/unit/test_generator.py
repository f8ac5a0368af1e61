"""The generator source: deterministic documents, even task plans, resumable streams."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import pytest

from ferry.connectors import Checkpoint, Delete, Document, TaskPlan
from ferry.connectors.generator import GeneratorSource

Item = Document | Delete | Checkpoint


def source(**config: Any) -> GeneratorSource:
    normalised, problems = GeneratorSource.schema.validate(config)
    assert problems == []
    return GeneratorSource(normalised)


async def collect(
    gen: GeneratorSource, task: TaskPlan, cursor: Mapping[str, Any] | None = None
) -> list[Item]:
    return [item async for item in gen.stream(task, full=True, cursor=cursor)]


def ids(items: list[Item]) -> list[str]:
    return [i.id for i in items if isinstance(i, Document | Delete)]


def test_documents_are_deterministic_per_seed() -> None:
    a, b = source(seed=1, doc_size=200), source(seed=1, doc_size=200)
    assert [a.document(i) for i in range(20)] == [b.document(i) for i in range(20)]
    other = source(seed=2, doc_size=200)
    assert all(a.document(i).source != other.document(i).source for i in range(20))
    assert len({a.document(i).source["body"] for i in range(20)}) == 20
    doc = a.document(7)
    assert doc.id == "doc-7"
    assert (doc.source["n"], doc.source["seed"]) == (7, 1)


@pytest.mark.parametrize("size", [64, 200, 1024, 5000])
def test_document_size_is_about_doc_size(size: int) -> None:
    body = source(doc_size=size).document(0).source["body"]
    assert len(body) == size - 64


@pytest.mark.parametrize("docs", [0, 1, 3, 7, 10, 100, 1001])
@pytest.mark.parametrize("tasks_max", range(1, 8))
def test_plan_covers_every_document_once(docs: int, tasks_max: int) -> None:
    plans = GeneratorSource.plan_tasks({"docs": docs}, tasks_max)

    assert 1 <= len(plans) <= tasks_max
    assert len({p.partition for p in plans}) == len(plans)
    ranges = [(p.params["start"], p.params["end"]) for p in plans]
    assert ranges[0][0] == 0
    assert ranges[-1][1] == docs
    for (_, end), (start, _) in itertools.pairwise(ranges):
        assert start == end, ranges  # contiguous: no gap, no overlap
    for start, end in ranges:
        assert start <= end, ranges
        if docs:
            assert start < end, ranges  # no task is planned with nothing to do
    covered = [i for start, end in ranges for i in range(start, end)]
    assert covered == list(range(docs))


def test_plan_uses_every_task_when_there_is_enough_work() -> None:
    plans = GeneratorSource.plan_tasks({"docs": 100}, 4)
    assert [p.partition for p in plans] == ["range-0", "range-1", "range-2", "range-3"]
    assert [(p.params["start"], p.params["end"]) for p in plans] == [
        (0, 25),
        (25, 50),
        (50, 75),
        (75, 100),
    ]


async def test_stream_yields_every_document_of_its_range_and_checkpoints() -> None:
    gen = source(docs=10, checkpoint_every=4, doc_size=64)
    (task,) = GeneratorSource.plan_tasks(gen.config, 1)

    items = await collect(gen, task)

    assert ids(items) == [f"doc-{i}" for i in range(10)]
    cursors = [i.cursor for i in items if isinstance(i, Checkpoint)]
    assert cursors == [{"next": 4}, {"next": 8}, {"next": 10}]
    assert isinstance(items[-1], Checkpoint)
    assert items[0] == gen.document(0)


async def test_stream_resumes_from_a_checkpoint_without_repeating() -> None:
    gen = source(docs=20, checkpoint_every=3, doc_size=64)
    plans = GeneratorSource.plan_tasks(gen.config, 2)
    task = plans[1]  # documents 10..19
    full = await collect(gen, task)

    # Stop right after the second checkpoint, as a crashed task would.
    seen: list[Item] = []
    checkpoints = 0
    for item in full:
        seen.append(item)
        if isinstance(item, Checkpoint):
            checkpoints += 1
            if checkpoints == 2:
                break
    last = seen[-1]
    assert isinstance(last, Checkpoint)
    assert last.cursor == {"next": 16}
    # Cursors stored as protobuf Struct come back as floats.
    resumed = await collect(gen, task, cursor={"next": float(last.cursor["next"])})

    assert ids(seen) + ids(resumed) == ids(full) == [f"doc-{i}" for i in range(10, 20)]
    assert resumed[-1] == Checkpoint({"next": 20})


async def test_stream_from_the_end_yields_only_the_final_checkpoint() -> None:
    gen = source(docs=5, doc_size=64)
    (task,) = GeneratorSource.plan_tasks(gen.config, 1)
    assert await collect(gen, task, cursor={"next": 5}) == [Checkpoint({"next": 5})]


async def test_deleted_every_yields_deletes() -> None:
    gen = source(docs=10, deleted_every=3, doc_size=64)
    (task,) = GeneratorSource.plan_tasks(gen.config, 1)

    items = await collect(gen, task)

    deleted = [i.id for i in items if isinstance(i, Delete)]
    kept = [i.id for i in items if isinstance(i, Document)]
    assert deleted == ["doc-0", "doc-3", "doc-6", "doc-9"]
    assert kept == ["doc-1", "doc-2", "doc-4", "doc-5", "doc-7", "doc-8"]


def test_deleted_every_one_is_invalid() -> None:
    problems = GeneratorSource.validate({"deleted_every": 1})
    assert [p.field for p in problems] == ["config.deleted_every"]
    assert GeneratorSource.validate({"deleted_every": 2}) == []


def test_schema_defaults() -> None:
    normalised, problems = GeneratorSource.schema.validate({})
    assert problems == []
    assert normalised == {
        "docs": 1000,
        "doc_size": 1024,
        "seed": 0,
        "checkpoint_every": 500,
        "deleted_every": 0,
    }
