"""PostgreSQL only: many machines on one database, concurrent starts, the embedded server."""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ferry.errors import InvalidArgument, Unavailable
from ferry.store import (
    DeleteOp,
    FieldKind,
    IndexOp,
    IndexSpec,
    ItemResult,
    LeaderInfo,
    OpKind,
    Query,
    Schema,
    Stamp,
    Store,
    WriteOp,
    open_store,
)
from ferry.store._postgres_query import Search
from ferry.store._postgres_schema import load_index
from ferry.store.embedded_postgres import EmbeddedPostgres
from ferry.store.postgres import PostgresStore
from tests.store.conftest import OpenStore
from tests.store.support import all_operations, contents, decoded


@pytest.fixture
def pg_url(postgres_server: EmbeddedPostgres) -> Iterator[str]:
    """pg_url is a fresh database on the session's embedded PostgreSQL."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    yield postgres_server.create_database(name)
    postgres_server.drop_database(name)


@pytest.fixture
async def open_store_at(pg_url: str) -> AsyncIterator[OpenStore]:
    """open_store_at starts stores (each its own pool, like separate machines); all are
    stopped after the test, before pg_url's database is dropped."""
    opened: list[Store] = []

    async def open_at(url: str) -> Store:
        store = open_store(url)
        opened.append(store)
        await store.start()
        return store

    yield open_at
    for store in reversed(opened):
        await store.stop()


async def test_two_machines_writing_one_shard_keep_seq_nos_dense(
    pg_url: str, open_store_at: OpenStore
) -> None:
    """Two stores (two pools, like two machines) index and delete the same ids at once.

    Every seq_no is handed out once, without gaps; each deletion of a live
    document is reported DELETED exactly once; replaying the history gives
    the documents the index holds.
    """
    machines = [await open_store_at(pg_url) for _ in range(2)]
    await machines[0].create_index(IndexSpec("hot", shards=1))
    ids = [f"d{i}" for i in range(40)]

    async def write(store: Store, seed: int) -> list[tuple[WriteOp, ItemResult, int]]:
        rng = random.Random(seed)
        told = []
        for _ in range(60):
            ops: list[WriteOp] = [
                IndexOp(doc_id, {"by": seed}) if rng.random() < 0.6 else DeleteOp(doc_id)
                for doc_id in rng.sample(ids, 8)
            ]
            result = await store.bulk("hot", ops)
            told += [
                (op, item.result, item.seq_no) for op, item in zip(ops, result.items, strict=True)
            ]
        return told

    results = await asyncio.gather(*(write(m, n) for n, m in enumerate(machines * 2)))

    told = [entry for writer in results for entry in writer]
    seq_nos = sorted(seq_no for _, result, seq_no in told if result is not ItemResult.NOT_FOUND)
    assert seq_nos == list(range(len(seq_nos)))
    history = await all_operations(machines[1], "hot", 0)
    assert [op.seq_no for op in history] == seq_nos
    # The history says, op by op, what each writer was told.
    by_seq_no = {op.seq_no: op for op in history}
    for sent, result, seq_no in told:
        if result is ItemResult.NOT_FOUND:
            continue
        logged = by_seq_no[seq_no]
        assert logged.id == sent.id
        assert logged.kind is (OpKind.DELETE if isinstance(sent, DeleteOp) else OpKind.INDEX)
    # Replaying the history gives exactly the stored documents.
    replayed: dict[str, tuple[Any, int]] = {}
    for op in history:
        if op.kind is OpKind.INDEX:
            replayed[op.id] = (decoded(op.source), op.seq_no)
        else:
            assert replayed.pop(op.id, None) is not None, f"deleted a missing doc at {op.seq_no}"
    assert await contents(machines[0], "hot") == replayed
    [stats] = await machines[0].shard_stats("hot")
    assert stats.max_seq_no == stats.global_checkpoint == seq_nos[-1]
    assert stats.docs == len(replayed)


async def test_sweep_races_a_writer_on_another_machine(
    pg_url: str, open_store_at: OpenStore
) -> None:
    """A sweep on one machine while another rewrites the same documents with the new
    generation: what the writer rewrote survives, the rest goes, history stays dense."""
    sweeper, writer = await open_store_at(pg_url), await open_store_at(pg_url)
    await sweeper.create_index(IndexSpec("orders", shards=2))
    ids = [f"d{i:04d}" for i in range(2000)]
    await sweeper.bulk("orders", [IndexOp(i, {"gen": 1}) for i in ids], stamp=Stamp("c1", 1))
    rewritten = ids[::3]

    async def rewrite() -> None:
        for start in range(0, len(rewritten), 50):
            batch = rewritten[start : start + 50]
            await writer.bulk(
                "orders", [IndexOp(i, {"gen": 2}) for i in batch], stamp=Stamp("c1", 2)
            )

    # The sweep runs after or alongside the rewrite; either way it may only take gen 1.
    _, deleted = await asyncio.gather(rewrite(), sweeper.sweep("orders", Stamp("c1", 2), batch=100))
    # Whatever the sweep removed before it was rewritten came back with gen 2.
    docs = await contents(sweeper, "orders")
    assert set(rewritten) <= docs.keys()
    assert all(source == {"gen": 2} for source, _ in docs.values())
    assert deleted >= len(ids) - len(rewritten)
    for s in await sweeper.shard_stats("orders"):
        history = await all_operations(sweeper, "orders", s.shard)
        assert [op.seq_no for op in history] == list(range(s.max_seq_no + 1))


async def test_match_follows_writes_schema_changes_and_replication(
    pg_url: str, open_store_at: OpenStore
) -> None:
    """Full text keeps up with every path that changes documents (ferry_words):
    updates, deletes, sweeps, a text field added later, replication and bootstrap."""
    store = await open_store_at(pg_url)
    schema = Schema({"title": FieldKind.TEXT}, version=1)
    await store.create_index(IndexSpec("orders", shards=2, schema=schema))
    await store.bulk(
        "orders",
        [
            IndexOp("a", {"title": "red lamp", "body": "made of brass"}),
            IndexOp("b", {"title": "blue lamp", "body": "made of glass"}),
            IndexOp("c", {"title": "red chair", "body": "made of oak"}),
        ],
        stamp=Stamp("c1", 1),
    )

    async def matching(index: str, words: str) -> set[str]:
        return {h.id for h in (await store.search(index, Query(match=words), size=100)).hits}

    assert await matching("orders", "red") == {"a", "c"}
    assert await matching("orders", "brass") == set()  # body is no text field yet
    await store.bulk("orders", [IndexOp("a", {"title": "green lamp"}), DeleteOp("b")])
    assert await matching("orders", "red") == {"c"}
    assert await matching("orders", "lamp") == {"a"}

    await store.update_schema(
        "orders", Schema({"title": FieldKind.TEXT, "body": FieldKind.TEXT}, version=2)
    )
    assert await matching("orders", "oak") == {"c"}
    assert await matching("orders", "made red") == {"c"}
    assert await store.count("orders", Query(match="chair oak")) == 1

    # A follower gets words by replication and by bootstrap alike.
    follower_schema = Schema({"title": FieldKind.TEXT, "body": FieldKind.TEXT}, version=2)
    leader = LeaderInfo("here", "orders")
    for name in ("replayed", "copied"):
        await store.create_index(IndexSpec(name, shards=2, schema=follower_schema, leader=leader))
    for shard in range(2):
        ops = await all_operations(store, "orders", shard)
        await store.apply_operations("replayed", shard, ops[::-1])
        await store.begin_bootstrap("copied", shard)
        async with store.snapshot("orders", shard) as snap:
            async for batch in snap.batches(1):
                await store.apply_snapshot("copied", shard, batch)
            await store.finish_bootstrap("copied", shard, snap.seq_no)
    for name in ("orders", "replayed", "copied"):
        assert await matching(name, "oak") == {"c"}, name
        assert await matching(name, "lamp") == {"a"}, name
        assert await matching(name, "glass") == set(), name

    # A full sync that no longer sees c sweeps it, words and all.
    await store.bulk("orders", [IndexOp("a", {"title": "green lamp"})], stamp=Stamp("c1", 2))
    assert await store.sweep("orders", Stamp("c1", 2)) == 1
    assert await matching("orders", "oak") == set()


@pytest.mark.parametrize("match_any", [False, True], ids=["every-word", "any-word"])
async def test_match_goes_by_the_words_index(
    pg_url: str, open_store_at: OpenStore, match_any: bool
) -> None:
    """A match is one tsquery the GIN index on ferry_words can serve, for either operator."""
    store = await open_store_at(pg_url)
    schema = Schema({"title": FieldKind.TEXT}, version=1)
    await store.create_index(IndexSpec("orders", shards=2, schema=schema))
    await store.bulk("orders", [IndexOp(f"d{i}", {"title": f"lamp w{i}"}) for i in range(2000)])
    query = Query(match="w1 w2 (unicorn", match_any=match_any)
    conn = await asyncpg.connect(pg_url)
    try:
        search = Search(await load_index(conn, "orders"), query, ())
        await conn.execute("ANALYZE")
        async with conn.transaction():
            # With sequential scans off the planner takes the index whenever it can.
            await conn.execute("SET LOCAL enable_seqscan = off")
            plan = await conn.fetch(
                f"EXPLAIN SELECT count(*) FROM {search.rows()} WHERE {search.where()}",
                *search.params,
            )
    finally:
        await conn.close()
    assert any("ferry_words_match" in row[0] for row in plan), "\n".join(r[0] for r in plan)
    assert await store.count("orders", query) == (2 if match_any else 0)


async def test_concurrent_starts_on_a_fresh_database(pg_url: str) -> None:
    """Several machines starting at once on an empty database all create-or-find the tables."""
    stores = [PostgresStore(pg_url) for _ in range(6)]
    try:
        await asyncio.gather(*(s.start() for s in stores))
        await stores[0].create_index(IndexSpec("orders"))
        assert [i.spec.name for i in await stores[-1].list_indices()] == ["orders"]
    finally:
        await asyncio.gather(*(s.stop() for s in stores))


async def test_tables_share_the_database_tidily(pg_url: str, open_store_at: OpenStore) -> None:
    """The store's tables are all ferry_*; a table someone else keeps there is left alone."""
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("CREATE TABLE ops (id int)")
        await open_store_at(pg_url)
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
    finally:
        await conn.close()
    assert "ops" in tables
    assert all(t.startswith("ferry_") for t in tables - {"ops"}), tables


async def test_an_unreachable_server_is_unavailable(tmp_path: Path) -> None:
    store = open_store(f"postgresql://postgres@/postgres?host={tmp_path}/nowhere")

    with pytest.raises(Unavailable) as err:
        await store.start()
    assert err.value.retriable
    await store.stop()  # Nothing started: still fine.


def test_embedded_postgres_restart_keeps_data() -> None:
    """start, stop (twice), start again on the same directory: the data is still there."""
    # Not under pytest's tmp dir: as root the server runs as another user, and
    # a new pytest session locks /tmp/pytest-of-root to 0700.
    data_dir = Path(tempfile.mkdtemp(prefix="ferry-pg-restart-"))
    server = EmbeddedPostgres(data_dir / "data")
    try:
        server.start()
        first_pid = server.pid
        url = server.create_database("kept")

        async def write() -> None:
            async with open_store(url) as store:
                await store.create_index(IndexSpec("orders", shards=2))
                await store.bulk("orders", [IndexOp(f"d{i}", {"i": i}) for i in range(10)])

        asyncio.run(write())
        server.stop()
        server.stop()
        with pytest.raises(RuntimeError):
            _ = server.url

        with server:
            assert server.pid != first_pid
            assert server.url_for("kept") == url

            async def read() -> tuple[int, Any]:
                async with open_store(url) as store:
                    doc = await store.get("orders", "d7")
                    return await store.count("orders"), doc and doc.source

            assert asyncio.run(read()) == (10, {"i": 7})
        assert server._running_pid() is None
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.mark.parametrize("name", ["ferry\n", "Ferry", "1ferry", "a" * 64, "x; drop"])
def test_database_names_are_plain_identifiers(name: str, tmp_path: Path) -> None:
    # Checked before psql runs, so no server is needed; "ferry\n" passed a "$" anchor.
    with pytest.raises(InvalidArgument) as raised:
        EmbeddedPostgres(tmp_path / "never-started").create_database(name)
    assert raised.value.violations[0].field == "name"
