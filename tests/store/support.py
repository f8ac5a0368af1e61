"""Helpers the store tests share: reading whole histories, documents and snapshots."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ferry.errors import FerryError, InvalidArgument
from ferry.store import (
    Document,
    IndexOp,
    Operation,
    Query,
    Sort,
    Store,
)
from ferry.store.store import MATCH_ALL


async def all_operations(
    store: Store, index: str, shard: int, from_seq_no: int = 0
) -> list[Operation]:
    """all_operations reads a shard's history from from_seq_no to its end, page by page."""
    ops: list[Operation] = []
    while True:
        page = await store.read_operations(index, shard, from_seq_no, max_ops=5000)
        if not page:
            return ops
        ops.extend(page)
        from_seq_no = page[-1].seq_no + 1


async def all_hits(
    store: Store,
    index: str,
    query: Query = MATCH_ALL,
    *,
    sort: Sequence[Sort] = (),
    size: int = 1000,
) -> list[Document]:
    """all_hits follows search cursors to the end; each page holds at most ``size`` hits."""
    hits: list[Document] = []
    cursor = ""
    for _ in range(10_000):
        page = await store.search(index, query, sort=sort, size=size, cursor=cursor)
        assert len(page.hits) <= size, f"page of {len(page.hits)} hits for size {size}"
        hits.extend(page.hits)
        if not page.next_cursor:
            return hits
        assert page.hits, "an empty page must not carry a cursor"
        cursor = page.next_cursor
    raise AssertionError("search cursors never ended")


async def contents(store: Store, index: str) -> dict[str, tuple[dict[str, Any], int]]:
    """contents is every document of the index as id → (source, seq_no)."""
    return {d.id: (d.source, d.seq_no) for d in await all_hits(store, index)}


async def snapshot_contents(store: Store, index: str, shard: int) -> dict[str, tuple[bytes, int]]:
    """snapshot_contents is one shard's snapshot as id → (source bytes, seq_no)."""
    async with store.snapshot(index, shard) as snap:
        return {d.id: (d.source, d.seq_no) async for batch in snap.batches(500) for d in batch}


def docs(prefix: str, count: int, **fields: Any) -> list[IndexOp]:
    """docs is ``count`` IndexOps with ids prefix0, prefix1, ... and a field ``n``."""
    return [IndexOp(f"{prefix}{i}", {"n": i, **fields}) for i in range(count)]


def decoded(source: bytes | None) -> Any:
    return None if source is None else json.loads(source)


def violation_fields(exc: FerryError) -> list[str]:
    """violation_fields lists the field paths an InvalidArgument names."""
    assert isinstance(exc, InvalidArgument), f"expected InvalidArgument, got {exc!r}"
    return [v.field for v in exc.violations]
