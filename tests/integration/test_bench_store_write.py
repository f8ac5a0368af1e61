"""The store write benchmark measures real writes: a tiny run, then both sides are counted."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from bench._store import documents
from bench.store_write import measure
from ferry.store import open_store
from ferry.store.model import encode_source


async def test_store_write_benchmark_measures_both_sides(tmp_path: Path) -> None:
    raw, ferry = await measure(tmp_path, docs=300, batch=100, rounds=2)

    assert len(raw) == len(ferry) == 2
    assert all(rate > 0 for rate in [*raw, *ferry])
    # Each round wrote every document on both sides (measure checks the counts too).
    async with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        assert await store.count("bench-1") == 300
        stored = await store.get("bench-1", "doc-00000299")
    assert stored is not None and stored.source["n"] == 299
    with closing(sqlite3.connect(tmp_path / "raw.db")) as conn:
        (count,) = conn.execute("SELECT count(*) FROM raw_1").fetchone()
    assert count == 300


def test_documents_are_about_one_kilobyte() -> None:
    sizes = [len(encode_source(op.source)) for op in documents(200)]
    assert 900 <= min(sizes) and max(sizes) <= 1100
    assert len({op.id for op in documents(200)}) == 200
