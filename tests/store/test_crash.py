"""A writer process SIGKILLed mid-bulk leaves no torn batch and a consistent history."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ferry.store import IndexOp, IndexSpec, ItemResult, OpKind, Store
from tests.helpers import REPO
from tests.store.conftest import OpenStore
from tests.store.crash_writer import batch_ops
from tests.store.support import all_operations

DOCS_PER_BATCH = 2000
SHARDS = 2
KILL_AT = 5


@pytest.fixture
def writer_log(tmp_path: Path) -> Path:
    return tmp_path / "writer.log"


@pytest.fixture
def start_writer(writer_log: Path) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    """start_writer runs crash_writer on a store URL; a writer still alive after the test
    is killed."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(url: str) -> subprocess.Popen[bytes]:
        with open(writer_log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.store.crash_writer", url, "crash",
                 str(DOCS_PER_BATCH)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO,
            )  # fmt: skip
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


class WriteProbe:
    """WriteProbe tells whether another connection is inside a write transaction on the store.

    SQLite: the file's write lock is taken (BEGIN IMMEDIATE fails at once).
    PostgreSQL: another session's transaction has written (has a transaction id).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._pg: Any = None

    async def __aenter__(self) -> WriteProbe:
        if not self.url.startswith("sqlite:"):
            self._pg = await asyncpg.connect(self.url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._pg is not None:
            await self._pg.close()

    async def writing(self) -> bool:
        if self._pg is None:
            return await asyncio.to_thread(sqlite_write_locked, self.url[len("sqlite:///") :])
        busy = await self._pg.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
        )
        return bool(busy)


def sqlite_write_locked(path: str) -> bool:
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return True
        raise
    finally:
        conn.close()


async def whole_or_absent(store: Store, batch: int) -> bool:
    """whole_or_absent says whether a batch is there, failing if only part of it is."""
    got = await store.multi_get("crash", [op.id for op in batch_ops(batch, DOCS_PER_BATCH)])
    found = sum(d is not None for d in got)
    assert found in (0, DOCS_PER_BATCH), f"batch {batch} is torn: {found} of {len(got)} docs"
    assert all(d is None or d.source["batch"] == batch for d in got)
    return found == DOCS_PER_BATCH


def output(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else ""


def started_batches(log: Path) -> list[int]:
    return [int(k) for k in re.findall(r"^start (\d+)$", output(log), re.MULTILINE)]


def done_batches(log: Path) -> list[int]:
    return [int(k) for k in re.findall(r"^done (\d+)$", output(log), re.MULTILINE)]


async def test_killed_writer_leaves_whole_batches(
    store: Store,
    store_url: str,
    open_store_at: OpenStore,
    writer_log: Path,
    start_writer: Callable[[str], subprocess.Popen[bytes]],
) -> None:
    """A writer process doing bulk batches is SIGKILLed inside a batch's write transaction.

    After reopening, every batch is wholly present or wholly absent, the history is
    dense and holds exactly the present batches, and the store takes writes again.
    """
    await store.create_index(IndexSpec("crash", shards=SHARDS))
    proc = start_writer(store_url)

    # Until the kill, a reader never sees part of a batch; the kill lands inside a
    # write transaction of batch KILL_AT or later, not between two batches.
    deadline = time.monotonic() + 60
    async with WriteProbe(store_url) as probe:
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"writer exited {proc.returncode}: {output(writer_log)}")
            started = started_batches(writer_log)
            if started:
                await whole_or_absent(store, started[-1])
                if started[-1] >= KILL_AT and await probe.writing():
                    break
            assert time.monotonic() < deadline, f"writer too slow: {output(writer_log)}"
            await asyncio.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    started = started_batches(writer_log)
    done = set(done_batches(writer_log))
    store = await open_store_at(store_url)
    present = [b for b in range(max(started) + 1) if await whole_or_absent(store, b)]
    print(f"killed inside batch {max(started)}'s write; batches present: {len(present)}")
    assert done <= set(present), f"batches reported done but missing: {done - set(present)}"
    assert present == list(range(len(present))), f"batches present: {present}"

    stats = await store.shard_stats("crash")
    assert sum(s.docs for s in stats) == len(present) * DOCS_PER_BATCH
    history_ids: set[str] = set()
    for s in stats:
        history = await all_operations(store, "crash", s.shard)
        assert [op.seq_no for op in history] == list(range(s.max_seq_no + 1))
        assert s.global_checkpoint == s.max_seq_no
        assert s.docs == len(history)
        assert all(op.kind is OpKind.INDEX for op in history)
        history_ids.update(op.id for op in history)
    # No operation of a rolled-back batch survived in the history.
    assert history_ids == {f"b{b}-{i}" for b in present for i in range(DOCS_PER_BATCH)}

    # The store takes writes again, numbering on from where the history ends.
    result = await store.bulk("crash", [IndexOp(f"after-{i}", {"batch": -1}) for i in range(20)])
    after = await store.shard_stats("crash")
    for s_before, s_after in zip(stats, after, strict=True):
        new = [i for i in result.items if i.shard == s_before.shard]
        assert [i.seq_no for i in new] == list(
            range(s_before.max_seq_no + 1, s_before.max_seq_no + 1 + len(new))
        )
        assert all(i.result is ItemResult.CREATED for i in new)
        assert s_after.max_seq_no == s_after.global_checkpoint == s_before.max_seq_no + len(new)
