"""Limits: every violation names the op and the document id, and nothing of the batch lands."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from ferry.errors import InvalidArgument
from ferry.store import NO_OPS, DeleteOp, IndexOp, IndexSpec, Limits, Store, WriteOp
from tests.store.conftest import OpenStore
from tests.store.support import violation_fields

SMALL = Limits(max_document_bytes=1000, max_batch_ops=5, max_batch_bytes=3000)


@pytest.fixture
async def small(store_url: str, open_store_at: OpenStore) -> Store:
    """small is a store with tight document and batch limits, holding an empty index."""
    store = await open_store_at(store_url, SMALL)
    await store.create_index(IndexSpec("orders", shards=2))
    return store


async def refused(store: Store, ops: list[Any]) -> InvalidArgument:
    """refused runs a bulk that must fail, and checks nothing of it was written."""
    with pytest.raises(InvalidArgument) as err:
        await store.bulk("orders", ops)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert await store.count("orders") == 0
    assert all(s.max_seq_no == NO_OPS for s in await store.shard_stats("orders"))
    return err.value


def ok(i: int) -> IndexOp:
    return IndexOp(f"ok{i}", {"i": i})


async def test_id_longer_than_512_bytes(store: Store) -> None:
    await store.create_index(IndexSpec("orders", shards=2))
    long_id = "x" * 513

    err = await refused(store, [ok(0), ok(1), IndexOp(long_id, {})])

    assert violation_fields(err) == ["ops[2].id"]
    assert "513 bytes" in str(err) and long_id[:30] in str(err)
    # Bytes count, not characters: 257 two-byte characters are 514 bytes.
    err = await refused(store, [DeleteOp("é" * 257)])
    assert violation_fields(err) == ["ops[0].id"]
    # Exactly 512 bytes is fine.
    [item] = (await store.bulk("orders", [IndexOp("y" * 512, {"at": "limit"})])).items
    assert item.id == "y" * 512
    got = await store.get("orders", "y" * 512)
    assert got is not None and got.source == {"at": "limit"}


@pytest.mark.parametrize(
    ("ops", "field"),
    [
        ([ok(0), ok(1), IndexOp("", {})], "ops[2].id"),
        ([ok(0), DeleteOp("")], "ops[1].id"),
        ([ok(0), IndexOp("nul\x00id", {})], "ops[1].id"),
        ([ok(0), IndexOp(7, {})], "ops[1].id"),  # type: ignore[arg-type]
    ],
    ids=["empty-id", "empty-delete-id", "nul-in-id", "id-not-a-string"],
)
async def test_bad_ids(store: Store, ops: list[WriteOp], field: str) -> None:
    await store.create_index(IndexSpec("orders", shards=2))

    err = await refused(store, ops)

    assert violation_fields(err) == [field]


@pytest.mark.parametrize(
    "source",
    [[1, 2], "text", None, 5],
    ids=["list", "string", "null", "number"],
)
async def test_source_must_be_an_object(store: Store, source: Any) -> None:
    await store.create_index(IndexSpec("orders", shards=2))

    err = await refused(store, [IndexOp("doc-7", source), ok(1)])

    assert violation_fields(err) == ["ops[0].source"]
    assert "doc-7" in str(err)


async def test_source_must_be_json(store: Store) -> None:
    await store.create_index(IndexSpec("orders", shards=2))

    err = await refused(store, [ok(0), IndexOp("doc-8", {"when": {1, 2}})])

    assert violation_fields(err) == ["ops[1].source"]
    assert "doc-8" in str(err)


def _nested(depth: int) -> dict[str, Any]:
    source: dict[str, Any] = {}
    for _ in range(depth):
        source = {"a": source}
    return source


def _itself() -> dict[str, Any]:
    source: dict[str, Any] = {"n": 1}
    source["me"] = source
    return source


@pytest.mark.parametrize("source", [_nested(5000), _itself()], ids=["too-deep", "itself"])
async def test_source_nested_too_deeply_or_holding_itself(store: Store, source: Any) -> None:
    # The encoder keeps no circular-reference check: both end in Python's recursion
    # limit, reported as the op's error (not an internal one).
    await store.create_index(IndexSpec("orders", shards=2))

    err = await refused(store, [ok(0), IndexOp("doc-9", source)])

    assert violation_fields(err) == ["ops[1].source"]
    assert "doc-9" in str(err) and "nested too deeply" in str(err)


async def test_document_over_the_size_cap(small: Store) -> None:
    big = IndexOp("big-one", {"pad": "y" * 1000})

    err = await refused(small, [ok(0), big, ok(2)])

    assert violation_fields(err) == ["ops[1].source"]
    assert "big-one" in str(err) and "1000" in str(err)
    # Just under the cap is fine: {"pad":"..."} is 10 bytes of JSON around the padding.
    await small.bulk("orders", [IndexOp("fits", {"pad": "y" * 990})])
    assert await small.count("orders") == 1


async def test_batch_over_the_op_cap(small: Store) -> None:
    err = await refused(small, [ok(i) for i in range(6)])

    assert violation_fields(err) == ["ops"]
    assert "6" in str(err) and "5" in str(err)
    await small.bulk("orders", [ok(i) for i in range(5)])
    assert await small.count("orders") == 5


async def test_batch_over_the_byte_cap(small: Store) -> None:
    ops = [IndexOp(f"d{i}", {"pad": "z" * 900}) for i in range(4)]  # 4 x 910 bytes > 3000

    err = await refused(small, ops)

    assert violation_fields(err) == ["ops"]
    assert "3000" in str(err) and "ops[3]" in str(err)
    await small.bulk("orders", ops[:3])
    assert await small.count("orders") == 3


async def test_the_default_store_has_the_default_caps(store: Store) -> None:
    await store.create_index(IndexSpec("orders", shards=2))

    err = await refused(store, [ok(i) for i in range(10_001)])

    assert violation_fields(err) == ["ops"]
