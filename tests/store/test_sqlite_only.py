"""What only the SQLite backend promises: WAL, one file shared by processes, a free event loop."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ferry.errors import FailedPrecondition, InvalidArgument, Unavailable
from ferry.store import (
    FieldKind,
    Filter,
    FilterOp,
    IndexOp,
    IndexSpec,
    Query,
    Schema,
    ShardStats,
    _sqlite_schema,
)
from ferry.store.sqlite import SqliteStore
from tests.helpers import REPO
from tests.store.support import all_hits, all_operations


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "store.db"


@pytest.fixture
async def sqlite_store(db_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(str(db_path))
    await store.start()
    yield store
    await store.stop()


def raw_connection(path: Path) -> sqlite3.Connection:
    """raw_connection is a plain connection to the store's file, as another process would have."""
    return sqlite3.connect(path, isolation_level=None, timeout=0)


async def test_file_is_wal_with_a_schema_version(sqlite_store: SqliteStore, db_path: Path) -> None:
    await sqlite_store.start()  # a second start changes nothing

    # mode=ro fails on a missing file: the store created it, and its parent directories.
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == _sqlite_schema.SCHEMA_VERSION
    conn.close()
    await sqlite_store.stop()
    await sqlite_store.stop()  # idempotent
    with pytest.raises(FailedPrecondition, match="not started"):
        await sqlite_store.list_indices()


async def test_a_file_from_a_newer_ferry_is_refused(db_path: Path) -> None:
    async with SqliteStore(str(db_path)):
        pass
    conn = raw_connection(db_path)
    conn.execute(f"PRAGMA user_version = {_sqlite_schema.SCHEMA_VERSION + 1}")
    conn.close()

    with pytest.raises(FailedPrecondition, match="schema version"):
        await SqliteStore(str(db_path)).start()


WRITER = """
import asyncio, os, sys, time
from ferry.store import IndexOp, open_store

async def main(url, name, batches, size, go):
    async with open_store(url) as store:
        print("ready", flush=True)
        deadline = time.monotonic() + 60
        while not os.path.exists(go) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # every writer starts at once: their turns interleave
        for b in range(batches):
            await store.bulk("hot", [IndexOp(f"{name}-{b}-{i}", {"by": name}) for i in range(size)])

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]))
"""


async def test_processes_sharing_the_file_number_one_shard_densely(
    sqlite_store: SqliteStore, db_path: Path
) -> None:
    await sqlite_store.create_index(IndexSpec("hot", shards=1))
    batches, size, writers = 40, 100, 3
    go = db_path.parent / "go"

    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WRITER,
            f"sqlite:///{db_path}",
            f"p{n}",
            str(batches),
            str(size),
            str(go),
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for n in range(writers)
    ]
    for proc in procs:  # each has opened the store; now all start writing together
        assert proc.stdout is not None
        assert (await asyncio.wait_for(proc.stdout.readline(), 60)).strip() == b"ready"
    go.touch()
    # Writes from this process too, interleaved with theirs.
    for b in range(batches):
        await sqlite_store.bulk("hot", [IndexOp(f"here-{b}-{i}", {}) for i in range(size)])
    for proc in procs:
        _, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()

    total = (writers + 1) * batches * size
    history = await all_operations(sqlite_store, "hot", 0)
    assert [op.seq_no for op in history] == list(range(total))
    assert len({op.id for op in history}) == total
    writer_of = [op.id.split("-")[0] for op in history]
    switches = sum(a != b for a, b in itertools.pairwise(writer_of))
    assert switches > 2 * writers, f"the writers took turns only {switches} times"
    [stats] = await sqlite_store.shard_stats("hot")
    assert stats == ShardStats(0, total, total - 1, total - 1, 0)


async def test_reads_go_on_while_another_process_holds_the_write_lock(
    sqlite_store: SqliteStore, db_path: Path
) -> None:
    await sqlite_store.create_index(IndexSpec("orders"))
    await sqlite_store.bulk("orders", [IndexOp(f"d{i}", {"n": i}) for i in range(10)])
    other = raw_connection(db_path)
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE shards SET doc_count = doc_count")  # a write in progress

    write = asyncio.create_task(sqlite_store.bulk("orders", [IndexOp("late", {})]))
    async with asyncio.timeout(5):
        assert await sqlite_store.count("orders") == 10
        assert (await sqlite_store.get("orders", "d3")) is not None
        assert len(await all_hits(sqlite_store, "orders", size=3)) == 10
    assert not write.done(), "the write waits for the lock"

    other.execute("COMMIT")
    other.close()
    async with asyncio.timeout(10):
        [item] = (await write).items
    assert item.seq_no == 10


async def test_a_lock_held_too_long_is_unavailable(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sqlite_schema, "BUSY_TIMEOUT_S", 0.2)
    async with SqliteStore(str(db_path)) as store:
        await store.create_index(IndexSpec("orders"))
        other = raw_connection(db_path)
        other.execute("BEGIN IMMEDIATE")

        with pytest.raises(Unavailable) as err:
            await store.bulk("orders", [IndexOp("a", {})])
        assert err.value.retriable

        other.execute("ROLLBACK")
        other.close()
        [item] = (await store.bulk("orders", [IndexOp("a", {})])).items
        assert item.seq_no == 0


async def test_the_event_loop_keeps_running_during_a_large_bulk(sqlite_store: SqliteStore) -> None:
    await sqlite_store.create_index(IndexSpec("big", schema=Schema({"body": FieldKind.TEXT}, 1)))
    ops = [IndexOp(f"doc-{i:06d}", {"n": i, "body": f"word{i % 97} " * 100}) for i in range(10_000)]
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)
    started = time.monotonic()
    await sqlite_store.bulk("big", ops)
    finished = time.monotonic()
    task.cancel()

    during = [t for t in ticks if started <= t <= finished]
    gaps = [b - a for a, b in itertools.pairwise(ticks) if b >= started and a <= finished]
    assert len(during) >= 5, f"{len(during)} ticks in a {finished - started:.2f}s bulk"
    assert max(gaps) < 0.25, f"the loop stalled for {max(gaps):.3f}s"
    assert await sqlite_store.count("big") == 10_000


async def test_full_text_follows_schema_changes(sqlite_store: SqliteStore) -> None:
    await sqlite_store.create_index(IndexSpec("notes"))
    await sqlite_store.bulk(
        "notes", [IndexOp("a", {"title": "blue whale"}), IndexOp("b", {"title": "red fox"})]
    )
    with pytest.raises(InvalidArgument) as err:
        await sqlite_store.count("notes", Query(match="whale"))
    assert [v.field for v in err.value.violations] == ["query.match"]

    await sqlite_store.update_schema("notes", Schema({"title": FieldKind.TEXT}, 1))
    # Documents written before the field became text are found too.
    assert [d.id for d in await all_hits(sqlite_store, "notes", Query(match="whale"))] == ["a"]
    await sqlite_store.bulk("notes", [IndexOp("a", {"title": "grey seal"})])
    assert await sqlite_store.count("notes", Query(match="whale")) == 0
    await sqlite_store.update_schema(
        "notes", Schema({"title": FieldKind.TEXT, "body": FieldKind.TEXT}, 2)
    )
    await sqlite_store.bulk("notes", [IndexOp("c", {"title": "x", "body": "a seal pup"})])
    assert {d.id for d in await all_hits(sqlite_store, "notes", Query(match="seal"))} == {"a", "c"}


def op_rows(db_path: Path) -> int:
    conn = raw_connection(db_path)
    [count] = conn.execute("SELECT count(*) FROM ops").fetchone()
    conn.close()
    return int(count)


async def test_history_below_min_retained_keeps_only_current_ops(
    sqlite_store: SqliteStore, db_path: Path
) -> None:
    """Nothing reads history below min_retained_seq_no, so an op there goes as soon as its
    document changes (trimming only scans from min_retained_seq_no up, and would miss it)."""
    await sqlite_store.create_index(IndexSpec("orders"))
    await sqlite_store.bulk("orders", [IndexOp(f"d{i}", {"v": 1}) for i in range(5)])
    await sqlite_store.bulk("orders", [IndexOp("d4", {"v": 2})])
    assert await sqlite_store.trim_history("orders") == 1  # op 4, d4 v1
    [stats] = await sqlite_store.shard_stats("orders")
    assert stats.min_retained_seq_no == 5
    assert op_rows(db_path) == 5  # 0-3 (d0-d3, current, kept for snapshots) and 5

    [item] = (await sqlite_store.bulk("orders", [IndexOp("d0", {"v": 2})])).items

    assert item.seq_no == 6
    assert op_rows(db_path) == 5, "op 0 (d0 v1) went with the write that superseded it"
    assert [op.seq_no for op in await all_operations(sqlite_store, "orders", 0, 5)] == [5, 6]
    assert await sqlite_store.trim_history("orders") == 0
    assert op_rows(db_path) == 5
    d0 = await sqlite_store.get("orders", "d0")
    assert d0 is not None and (d0.source, d0.seq_no) == ({"v": 2}, 6)


async def test_ids_and_paths_sqlite_could_trip_on(sqlite_store: SqliteStore) -> None:
    await sqlite_store.create_index(IndexSpec("odd"))
    # A lone surrogate cannot be stored as UTF-8: a clear error, not a crash.
    with pytest.raises(InvalidArgument) as err:
        await sqlite_store.bulk("odd", [IndexOp("ok", {}), IndexOp("bad\udc80", {})])
    assert [v.field for v in err.value.violations] == ["ops[1].id"]
    with pytest.raises(InvalidArgument):
        await sqlite_store.get("odd", "bad\udc80")
    # Field paths with characters JSON paths treat specially are quoted, not spliced.
    await sqlite_store.bulk(
        "odd",
        [IndexOp("a", {"x-y": {"@z": 1}}), IndexOp("b", {"x-y": {"@z": 2}}), IndexOp("c", {})],
    )
    term = Filter("x-y.@z", FilterOp.TERM, 2)
    assert [d.id for d in await all_hits(sqlite_store, "odd", Query((term,)))] == ["b"]
    exists = Filter("x-y.@z", FilterOp.EXISTS)
    assert await sqlite_store.count("odd", Query((exists,))) == 2
