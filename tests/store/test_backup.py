"""Store copies (ferry.store.backup): exact, consistent, and fit for a fresh etcd once restored."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ferry.errors import FailedPrecondition, Fenced
from ferry.store import (
    DeleteOp,
    Fence,
    FieldKind,
    IndexSpec,
    LeaderInfo,
    Operation,
    OpKind,
    Query,
    Schema,
    Stamp,
    Store,
)
from ferry.store.backup import (
    CURRENT_GENERATION,
    PAST_GENERATION,
    StoreCopy,
    backup_store,
    restore_store,
)
from tests.store.conftest import OpenStore
from tests.store.support import all_hits, all_operations, docs


@pytest.fixture
def restored_url(store_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """restored_url names a second fresh, empty store of the same kind as store_url."""
    if store_url.startswith("sqlite"):
        yield "sqlite:///" + str(tmp_path / "restored" / "store.db")
        return
    server = request.getfixturevalue("postgres_server")
    name = f"r_{uuid.uuid4().hex[:16]}"
    yield server.create_database(name)
    server.drop_database(name)


async def _fill(store: Store) -> None:
    """_fill writes what a cluster's store holds: two connectors' generations, a fenced
    writer, deletes, full text, a retention lease and a follower index."""
    schema = Schema({"title": FieldKind.TEXT, "n": FieldKind.LONG}, 1)
    await store.create_index(IndexSpec("books", shards=3, schema=schema))
    fence = Fence("c1/range-0", 900)
    await store.fence(fence)
    await store.bulk(
        "books", docs("old-", 20, title="old tale"), fence=fence, stamp=Stamp("c1", 10)
    )
    await store.bulk(
        "books", docs("new-", 30, title="new tale"), fence=fence, stamp=Stamp("c1", 50)
    )
    await store.bulk("books", [DeleteOp("old-3"), DeleteOp("new-4")], fence=fence)
    await store.bulk("books", docs("other-", 5), stamp=Stamp("c2", 40))
    await store.bulk("books", docs("manual-", 4))
    await store.put_retention_lease("books", 1, "follower-x", 0, source="remote")
    await store.create_index(IndexSpec("copy", shards=1, leader=LeaderInfo("west", "books")))
    ops = [Operation(0, s, OpKind.INDEX, f"f-{s}", b'{"n": %d}' % s, 1.0) for s in range(4)]
    await store.apply_operations("copy", 0, ops)


async def _state(store: Store) -> dict[str, Any]:
    state: dict[str, Any] = {"indices": await store.list_indices()}
    for info in await store.list_indices():
        name = info.spec.name
        state[f"{name}/stats"] = await store.shard_stats(name)
        state[f"{name}/docs"] = {d.id: (d.source, d.seq_no) for d in await all_hits(store, name)}
        state[f"{name}/history"] = [
            await all_operations(store, name, shard) for shard in range(info.spec.shards)
        ]
        state[f"{name}/leases"] = await store.retention_leases(name)
    state["match"] = sorted(d.id for d in await all_hits(store, "books", Query(match="new")))
    return state


async def test_a_restored_copy_is_exact_and_its_fences_and_generations_start_over(
    store: Store, store_url: str, restored_url: str, open_store_at: OpenStore, tmp_path: Path
) -> None:
    await _fill(store)
    backup_dir = tmp_path / "backup"
    backup_dir.mkdir()
    copy = await backup_store(store_url, backup_dir)
    # Writes after the copy are not in it.
    await store.bulk("books", docs("late-", 3))

    assert copy.kind == store_url.split(":")[0]
    assert {(i.name, i.docs, i.follower) for i in copy.indices} == {
        ("books", 20 + 30 - 2 + 5 + 4, False),
        ("copy", 4, True),
    }
    assert all((backup_dir / f).is_file() for f in copy.files)

    # c1's job at generation 50 was running at backup time; c2 had none running.
    await restore_store(restored_url, backup_dir, copy, generations={"c1": 50})
    restored = await open_store_at(restored_url)
    expected = await _state(store)
    expected["books/docs"] = {
        k: v for k, v in expected["books/docs"].items() if not k.startswith("late-")
    }
    got = await _state(restored)
    for key in ("indices", "copy/stats", "copy/docs", "copy/history", "books/docs", "match"):
        assert got[key] == expected[key], key
    assert got["books/leases"] == expected["books/leases"]
    books_history = got["books/history"]
    assert sum(len(h) for h in books_history) == 20 + 30 + 2 + 5 + 4

    # Fences start over: the first claim of the fresh etcd (a low token) may write.
    await restored.fence(Fence("c1/range-0", 3))
    await restored.bulk("books", docs("after-", 1), fence=Fence("c1/range-0", 3))
    with pytest.raises(Fenced):
        await store.fence(Fence("c1/range-0", 3))  # the original still holds 900

    # The running job's documents are CURRENT, older ones PAST: its sweep (resumed with
    # generation CURRENT) deletes what the job did not rewrite, and keeps what it wrote.
    assert await restored.sweep("books", Stamp("c1", CURRENT_GENERATION)) == 20 - 1
    assert await restored.count("books", Query()) == 29 + 5 + 4 + 1
    # A job planned after the restore (any revision above CURRENT) sweeps everything older,
    # c2's documents included.
    assert await restored.sweep("books", Stamp("c2", CURRENT_GENERATION + 1)) == 5
    assert await restored.sweep("books", Stamp("c1", CURRENT_GENERATION + 1)) == 29
    assert await restored.count("books") == 4 + 1  # unstamped writes are never swept
    assert PAST_GENERATION < CURRENT_GENERATION


async def test_restore_refuses_a_store_that_holds_indices_unless_forced(
    store: Store, store_url: str, restored_url: str, open_store_at: OpenStore, tmp_path: Path
) -> None:
    await _fill(store)
    copy = await backup_store(store_url, tmp_path)
    target = await open_store_at(restored_url)
    await target.create_index(IndexSpec("in-the-way"))
    await target.stop()

    with pytest.raises(FailedPrecondition, match="already holds 1 indices") as refused:
        await restore_store(restored_url, tmp_path, copy, generations={})
    assert refused.value.subject == "store_url"

    await restore_store(restored_url, tmp_path, copy, generations={}, force=True)
    target = await open_store_at(restored_url)
    assert [i.spec.name for i in await target.list_indices()] == ["books", "copy"]


async def test_restore_refuses_a_store_of_the_other_kind(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    copy = await backup_store(store_url, tmp_path)
    other = StoreCopy(
        "postgresql" if copy.kind == "sqlite" else "sqlite", copy.files, copy.indices, {}
    )
    with pytest.raises(FailedPrecondition, match="store_url names a") as refused:
        await restore_store(store_url, tmp_path, other, generations={}, force=True)
    assert refused.value.type == "STORE_KIND"
