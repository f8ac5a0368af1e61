"""The generator source: deterministic documents, even task plans, resumable full and
incremental streams."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from typing import Any

import pytest

from ferry.connectors import Checkpoint, Delete, Document, TaskPlan
from ferry.connectors.generator import GeneratorSource
from ferry.errors import InvalidArgument

Item = Document | Delete | Checkpoint
Index = dict[str, dict[str, Any]]
Cursors = dict[str, dict[str, Any]]


def source(**config: Any) -> GeneratorSource:
    normalised, problems = GeneratorSource.schema.validate(config)
    assert problems == []
    assert GeneratorSource.validate(normalised) == []
    return GeneratorSource(normalised)


async def collect(
    gen: GeneratorSource,
    task: TaskPlan,
    cursor: Mapping[str, Any] | None = None,
    *,
    full: bool = True,
) -> list[Item]:
    return [item async for item in gen.stream(task, full=full, cursor=cursor)]


def ids(items: list[Item]) -> list[str]:
    return [i.id for i in items if isinstance(i, Document | Delete)]


def cursors_of(items: list[Item]) -> list[dict[str, Any]]:
    return [i.cursor for i in items if isinstance(i, Checkpoint)]


def as_stored(cursor: dict[str, Any]) -> dict[str, Any]:
    """as_stored is the cursor as a protobuf Struct gives it back: every number a float."""
    return json.loads(json.dumps(cursor), parse_int=float)


def until_checkpoint(items: list[Item], n: int) -> list[Item]:
    """until_checkpoint is what a task crashing right after its n-th checkpoint saw."""
    seen = [i for i, item in enumerate(items) if isinstance(item, Checkpoint)]
    return items[: seen[n - 1] + 1]


def test_documents_are_deterministic_per_seed() -> None:
    a, b = source(seed=1, doc_size=200), source(seed=1, doc_size=200)
    assert [a.document(i) for i in range(20)] == [b.document(i) for i in range(20)]
    other = source(seed=2, doc_size=200)
    assert all(a.document(i).source != other.document(i).source for i in range(20))
    assert len({a.document(i).source["body"] for i in range(20)}) == 20
    doc = a.document(7)
    assert doc.id == "doc-7"
    assert (doc.source["n"], doc.source["seed"], doc.source["v"]) == (7, 1, 0)


def test_version_changes_only_updated_documents() -> None:
    v1 = source(seed=1, doc_size=100, updated_every=3, version=1)
    v2 = source(seed=1, doc_size=100, updated_every=3, version=2)
    plain = source(seed=1, doc_size=100)
    for i in range(12):
        if i % 3 == 0:
            assert v1.document(i).source["v"] == 1
            assert v2.document(i).source["v"] == 2
            assert len({v1.document(i).source["body"], v2.document(i).source["body"]}) == 2
            assert v1.document(i) != plain.document(i)
        else:
            assert v1.document(i) == v2.document(i) == plain.document(i)
    # Version 0 is the content documents had before versions existed.
    assert source(seed=1, doc_size=100, updated_every=3).document(3) == plain.document(3)


def test_exists_follows_docs_and_deleted_every() -> None:
    gen = source(docs=10, deleted_every=3)
    assert [i for i in range(-1, 12) if gen.exists(i)] == [1, 2, 4, 5, 7, 8]
    assert [i for i in range(12) if source(docs=10).exists(i)] == list(range(10))


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
    assert [p.estimate for p in plans] == [end - start for start, end in ranges]
    assert [p.params.get("last", False) for p in plans] == [False] * (len(plans) - 1) + [True]


def test_plan_uses_every_task_when_there_is_enough_work() -> None:
    plans = GeneratorSource.plan_tasks({"docs": 100}, 4)
    assert [p.partition for p in plans] == ["range-0", "range-1", "range-2", "range-3"]
    assert [(p.params["start"], p.params["end"]) for p in plans] == [
        (0, 25),
        (25, 50),
        (50, 75),
        (75, 100),
    ]
    assert [p.estimate for p in plans] == [25, 25, 25, 25]


async def test_stream_yields_every_document_of_its_range_and_checkpoints() -> None:
    gen = source(docs=10, checkpoint_every=4, doc_size=64)
    (task,) = GeneratorSource.plan_tasks(gen.config, 1)

    items = await collect(gen, task)

    assert ids(items) == [f"doc-{i}" for i in range(10)]
    base = {
        "docs": 10,
        "seed": 0,
        "doc_size": 64,
        "version": 0,
        "updated_every": 0,
        "deleted_every": 0,
    }
    assert cursors_of(items) == [{"next": 4}, {"next": 8}, {"base": base}]
    assert isinstance(items[-1], Checkpoint)
    assert items[0] == gen.document(0)


async def test_stream_resumes_from_a_checkpoint_without_repeating() -> None:
    gen = source(docs=20, checkpoint_every=3, doc_size=64)
    plans = GeneratorSource.plan_tasks(gen.config, 2)
    task = plans[1]  # documents 10..19
    full = await collect(gen, task)

    seen = until_checkpoint(full, 2)
    last = seen[-1]
    assert isinstance(last, Checkpoint)
    assert last.cursor == {"next": 16}
    resumed = await collect(gen, task, cursor=as_stored(last.cursor))

    assert ids(seen) + ids(resumed) == ids(full) == [f"doc-{i}" for i in range(10, 20)]
    assert resumed[-1] == full[-1] == Checkpoint({"base": gen.dataset.as_cursor()})


async def test_stream_from_the_end_yields_only_the_final_checkpoint() -> None:
    gen = source(docs=5, doc_size=64)
    (task,) = GeneratorSource.plan_tasks(gen.config, 1)
    assert await collect(gen, task, cursor={"next": 5}) == [
        Checkpoint({"base": gen.dataset.as_cursor()})
    ]


async def test_full_stream_yields_exactly_the_existing_documents() -> None:
    gen = source(docs=30, deleted_every=3, updated_every=4, version=2, doc_size=64)
    (task,) = GeneratorSource.plan_tasks(gen.config, 1)

    items = await collect(gen, task)

    assert not any(isinstance(i, Delete) for i in items)  # vanished docs go by generation
    assert [i for i in items if isinstance(i, Document)] == [
        gen.document(i) for i in range(30) if i % 3
    ]


async def test_full_stream_ignores_a_base_and_its_position() -> None:
    gen = source(docs=6, doc_size=64, checkpoint_every=2)
    (task,) = GeneratorSource.plan_tasks(gen.config, 1)
    stale = {"base": source(docs=3, doc_size=64).dataset.as_cursor(), "next": 4}
    assert ids(await collect(gen, task, cursor=stale)) == [f"doc-{i}" for i in range(6)]


async def test_stream_is_lazy() -> None:
    gen = source(docs=10**10, doc_size=64, checkpoint_every=10**9)
    (task,) = GeneratorSource.plan_tasks(gen.config, 1)
    seen: list[Item] = []
    async for item in gen.stream(task, full=True, cursor=None):
        seen.append(item)
        if len(seen) == 3:
            break
    assert seen == [gen.document(i) for i in range(3)]


def test_deleted_every_one_is_invalid() -> None:
    problems = GeneratorSource.validate({"deleted_every": 1})
    assert [p.field for p in problems] == ["config.deleted_every"]
    assert GeneratorSource.validate({"deleted_every": 2}) == []
    assert GeneratorSource.validate({"updated_every": 1}) == []


def test_schema_defaults() -> None:
    normalised, problems = GeneratorSource.schema.validate({})
    assert problems == []
    assert normalised == {
        "docs": 1000,
        "doc_size": 1024,
        "seed": 0,
        "checkpoint_every": 500,
        "deleted_every": 0,
        "version": 0,
        "updated_every": 0,
    }


# --- incremental syncs -----------------------------------------------------------------

BASE = {"docs": 40, "seed": 1, "doc_size": 64}

# (P_prev, P_now): every way an operator changes the source between runs.
CHANGES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "unchanged": (BASE, BASE),
    "grow": (BASE, {**BASE, "docs": 57}),
    "grow from empty": ({**BASE, "docs": 0}, {**BASE, "docs": 9}),
    "shrink": (BASE, {**BASE, "docs": 13}),
    "shrink to one": (BASE, {**BASE, "docs": 1}),
    "shrink to empty": (BASE, {**BASE, "docs": 0}),
    "bump version": (
        {**BASE, "updated_every": 3, "version": 1},
        {**BASE, "updated_every": 3, "version": 2},
    ),
    "start updating": (BASE, {**BASE, "updated_every": 4, "version": 1}),
    "stop updating": ({**BASE, "updated_every": 4, "version": 2}, BASE),
    "update every document": (BASE, {**BASE, "updated_every": 1, "version": 1}),
    "start deleting": (BASE, {**BASE, "deleted_every": 3}),
    "delete other": ({**BASE, "deleted_every": 3}, {**BASE, "deleted_every": 5}),
    "stop deleting": ({**BASE, "deleted_every": 5}, BASE),
    "reseed": (BASE, {**BASE, "seed": 2}),
    "shrink, bump, delete other": (
        {**BASE, "updated_every": 2, "version": 1, "deleted_every": 4},
        {**BASE, "docs": 25, "updated_every": 2, "version": 3, "deleted_every": 3},
    ),
    "grow, update all, delete fewer": (
        {**BASE, "docs": 30, "deleted_every": 2},
        {**BASE, "docs": 50, "deleted_every": 7, "updated_every": 1, "version": 1},
    ),
}


async def sync(
    params: Mapping[str, Any],
    tasks_max: int,
    index: Index,
    cursors: Cursors | None,
    *,
    checkpoint_every: int = 4,
) -> tuple[list[str], Cursors]:
    """sync runs every task of a plan into index; full when cursors is None.

    It returns the ids the run yielded and each task's final cursor.
    """
    gen = source(**params, checkpoint_every=checkpoint_every)
    yielded: list[str] = []
    final: Cursors = {}
    for task in GeneratorSource.plan_tasks(gen.config, tasks_max):
        cursor = None if cursors is None else cursors.get(task.partition)
        async for item in gen.stream(task, full=cursors is None, cursor=cursor):
            if isinstance(item, Document):
                index[item.id] = item.source
                yielded.append(item.id)
            elif isinstance(item, Delete):
                del index[item.id]  # a Delete for a missing id would be a bug
                yielded.append(item.id)
            else:
                final[task.partition] = as_stored(item.cursor)
    return yielded, final


async def full_index(params: Mapping[str, Any]) -> Index:
    index: Index = {}
    await sync(params, 1, index, None)
    return index


@pytest.mark.parametrize("tasks_max", range(1, 5))
@pytest.mark.parametrize("change", CHANGES)
async def test_incremental_sync_applies_exactly_the_changes(change: str, tasks_max: int) -> None:
    prev, now = CHANGES[change]
    index: Index = {}
    _, cursors = await sync(prev, tasks_max, index, None)
    before = dict(index)
    assert before == await full_index(prev)
    expected = await full_index(now)

    yielded, final = await sync(now, tasks_max, index, cursors)

    assert index == expected
    changed = {k for k in before.keys() | expected.keys() if before.get(k) != expected.get(k)}
    assert sorted(yielded) == sorted(changed)  # each changed id once, nothing else
    if change == "unchanged":
        assert yielded == []
    base = source(**now).dataset.as_cursor()
    assert all(c == {"base": base} for c in final.values())
    assert len(json.dumps(final)) < 8 * 1024


async def test_incremental_sync_without_a_cursor_is_a_full_sync() -> None:
    gen = source(docs=12, deleted_every=5, doc_size=64, checkpoint_every=5)
    (task,) = GeneratorSource.plan_tasks(gen.config, 1)
    assert await collect(gen, task, None, full=False) == await collect(gen, task)


async def test_incremental_sync_resumes_from_a_mid_run_checkpoint() -> None:
    prev, now = CHANGES["shrink, bump, delete other"]
    _, cursors = await sync(prev, 1, {}, None)
    gen = source(**now, checkpoint_every=3)
    (task,) = GeneratorSource.plan_tasks(gen.config, 1)
    whole = await collect(gen, task, cursors[task.partition], full=False)

    seen = until_checkpoint(whole, 4)
    last = seen[-1]
    assert isinstance(last, Checkpoint)
    # Positions 0..11 scanned: a checkpoint every 3 positions, changed or not.
    assert last.cursor == {"base": source(**prev).dataset.as_cursor(), "next": 12}
    resumed = await collect(gen, task, as_stored(last.cursor), full=False)

    assert seen + resumed == whole
    assert ids(resumed) and ids(seen)
    assert resumed[-1] == Checkpoint({"base": gen.dataset.as_cursor()})


async def test_incremental_sync_after_an_insert_scans_only_the_new_documents() -> None:
    # Ten billion positions would never finish: only the five new ones are scanned.
    prev = source(docs=10**10 - 5, doc_size=64).dataset.as_cursor()
    gen = source(docs=10**10, doc_size=64)
    (task,) = GeneratorSource.plan_tasks(gen.config, 1)
    items = await collect(gen, task, {"base": prev}, full=False)
    assert ids(items) == [f"doc-{i}" for i in range(10**10 - 5, 10**10)]


@pytest.mark.parametrize(
    ("cursor", "field"),
    [
        ({"base": "v1"}, "cursor.base"),
        ({"base": {"docs": 3}}, "cursor.base.seed"),
        ({"base": {**source().dataset.as_cursor(), "version": 1.5}}, "cursor.base.version"),
        ({"base": source().dataset.as_cursor(), "next": float("inf")}, "cursor.next"),
    ],
)
async def test_a_malformed_cursor_is_invalid(cursor: dict[str, Any], field: str) -> None:
    gen = source(docs=3, doc_size=64)
    (task,) = GeneratorSource.plan_tasks(gen.config, 1)
    with pytest.raises(InvalidArgument) as err:
        await collect(gen, task, cursor, full=False)
    assert [v.field for v in err.value.violations] == [field]
