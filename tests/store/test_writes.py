"""Writes and history: bulk results, reads after writes, shard counters and the operation log."""

from __future__ import annotations

import enum
import json
import sqlite3
import time
from collections import Counter
from contextlib import closing
from typing import Any

import pytest

from ferry.store import (
    NO_OPS,
    BulkItem,
    DeleteOp,
    Document,
    FieldKind,
    IndexOp,
    IndexSpec,
    ItemResult,
    OpKind,
    Query,
    Schema,
    Stamp,
    Store,
    shard_for,
)
from ferry.store.model import encode_source
from tests.store.conftest import OpenStore
from tests.store.support import all_operations, contents, decoded, docs


async def test_bulk_returns_one_item_per_op_in_order(store: Store) -> None:
    await store.create_index(IndexSpec("orders", shards=1))

    result = await store.bulk(
        "orders",
        [
            IndexOp("a", {"v": 1}),
            IndexOp("b", {"v": 2}),
            IndexOp("a", {"v": 3}),
            DeleteOp("b"),
            DeleteOp("never"),
            IndexOp("b", {"v": 4}),
        ],
    )

    assert result.items == [
        BulkItem("a", 0, 0, ItemResult.CREATED),
        BulkItem("b", 0, 1, ItemResult.CREATED),
        BulkItem("a", 0, 2, ItemResult.UPDATED),
        BulkItem("b", 0, 3, ItemResult.DELETED),
        BulkItem("never", 0, NO_OPS, ItemResult.NOT_FOUND),
        BulkItem("b", 0, 4, ItemResult.CREATED),
    ]
    # A no-op delete takes no seq_no: numbering goes on densely in the next call.
    [item] = (await store.bulk("orders", [DeleteOp("a")])).items
    assert item == BulkItem("a", 0, 5, ItemResult.DELETED)


async def test_reads_reflect_writes(store: Store) -> None:
    await store.create_index(IndexSpec("orders", shards=3))
    written = await store.bulk(
        "orders",
        [
            IndexOp("a", {"v": 1, "nested": {"x": [1, 2], "é": "ü"}}),
            IndexOp("b", {"v": 2}),
            IndexOp("c", {"v": 3}),
        ],
    )
    seq = {i.id: i.seq_no for i in written.items}
    await store.bulk("orders", [IndexOp("b", {"v": 20}), DeleteOp("c")])

    a = await store.get("orders", "a")
    assert a == Document(
        "a", {"v": 1, "nested": {"x": [1, 2], "é": "ü"}}, shard_for("a", 3), seq["a"]
    )
    b = await store.get("orders", "b")
    assert b is not None and b.source == {"v": 20} and b.seq_no > seq["b"]
    assert await store.get("orders", "c") is None
    got = await store.multi_get("orders", ["c", "b", "zz", "a", "b"])
    assert got == [None, b, None, a, b]
    assert await store.multi_get("orders", []) == []
    assert await store.count("orders") == 2


async def test_documents_land_in_their_shard(store: Store) -> None:
    await store.create_index(IndexSpec("orders", shards=4))
    ops = docs("doc-", 200)

    result = await store.bulk("orders", ops)

    for item in result.items:
        assert item.shard == shard_for(item.id, 4)
    expected = Counter(shard_for(op.id, 4) for op in ops)
    assert len(expected) == 4, "200 ids should reach every one of 4 shards"
    stats = await store.shard_stats("orders")
    assert [s.shard for s in stats] == [0, 1, 2, 3]
    for s in stats:
        assert s.docs == expected[s.shard]
        assert s.max_seq_no == expected[s.shard] - 1
        assert s.global_checkpoint == s.max_seq_no
        ops_read = await all_operations(store, "orders", s.shard)
        assert [o.seq_no for o in ops_read] == list(range(expected[s.shard]))
        assert all(shard_for(o.id, 4) == s.shard and o.shard == s.shard for o in ops_read)
    for item in result.items:
        got = await store.get("orders", item.id)
        assert got is not None and (got.shard, got.seq_no) == (item.shard, item.seq_no)


async def test_shard_stats_count_documents_and_operations(store: Store) -> None:
    await store.create_index(IndexSpec("orders", shards=1))
    [empty] = await store.shard_stats("orders")
    assert (empty.shard, empty.docs, empty.max_seq_no, empty.global_checkpoint) == (
        0,
        0,
        NO_OPS,
        NO_OPS,
    )

    await store.bulk("orders", docs("d", 10))
    await store.bulk("orders", [DeleteOp("d1"), DeleteOp("d2"), IndexOp("d3", {"n": 33})])

    [stats] = await store.shard_stats("orders")
    assert stats.docs == 8
    assert stats.max_seq_no == 12
    assert stats.global_checkpoint == 12
    assert stats.min_retained_seq_no <= 0


async def test_history_records_every_operation(store: Store) -> None:
    await store.create_index(IndexSpec("orders", shards=1))
    before = time.time()
    await store.bulk("orders", [IndexOp("a", {"v": 1}), IndexOp("b", {"v": "é"})])
    await store.bulk("orders", [DeleteOp("a"), DeleteOp("missing"), IndexOp("b", {"v": 3})])
    after = time.time()

    ops = await store.read_operations("orders", 0, 0)

    assert [(o.seq_no, o.kind, o.id, decoded(o.source)) for o in ops] == [
        (0, OpKind.INDEX, "a", {"v": 1}),
        (1, OpKind.INDEX, "b", {"v": "é"}),
        (2, OpKind.DELETE, "a", None),
        (3, OpKind.INDEX, "b", {"v": 3}),
    ]
    assert ops[1].source == encode_source({"v": "é"})
    assert all(o.shard == 0 and before - 1 <= o.write_time <= after + 1 for o in ops)
    assert [o.seq_no for o in await store.read_operations("orders", 0, 2)] == [2, 3]
    assert await store.read_operations("orders", 0, 4) == []


async def test_read_operations_respects_its_limits(store: Store) -> None:
    await store.create_index(IndexSpec("orders", shards=1))
    await store.bulk("orders", [IndexOp(f"d{i}", {"pad": "x" * 100}) for i in range(20)])

    assert [o.seq_no for o in await store.read_operations("orders", 0, 5, max_ops=3)] == [5, 6, 7]
    # max_bytes stops the read early but never returns nothing when something is there.
    [one] = await store.read_operations("orders", 0, 7, max_bytes=1)
    assert one.seq_no == 7
    some = await store.read_operations("orders", 0, 0, max_bytes=3 * one.size())
    assert 1 <= len(some) <= 3
    assert [o.seq_no for o in some] == list(range(len(some)))


async def test_writes_survive_a_restart(store_url: str, open_store_at: OpenStore) -> None:
    first = await open_store_at(store_url)
    await first.create_index(IndexSpec("orders", shards=2))
    await first.bulk("orders", docs("d", 50))
    await first.bulk("orders", [DeleteOp("d7")])
    before = await first.shard_stats("orders")
    await first.stop()

    second = await open_store_at(store_url)

    assert await second.shard_stats("orders") == before
    assert await second.count("orders") == 49
    assert await second.get("orders", "d7") is None
    d8 = await second.get("orders", "d8")
    assert d8 is not None and d8.source == {"n": 8}


async def test_instances_on_one_store_see_each_others_writes(
    store: Store, store_url: str, open_store_at: OpenStore
) -> None:
    other = await open_store_at(store_url)
    await store.create_index(IndexSpec("orders", shards=1))
    await other.bulk("orders", [IndexOp("a", {"by": "other"})])
    [item] = (await store.bulk("orders", [IndexOp("b", {"by": "first"})])).items

    assert item.seq_no == 1
    a = await store.get("orders", "a")
    assert a is not None and a.source == {"by": "other"}
    assert await other.count("orders") == 2


@pytest.mark.parametrize("text", [False, True], ids=["plain", "full-text"])
async def test_a_plain_bulk_writes_what_the_same_ops_write_among_others(
    store: Store, store_url: str, text: bool
) -> None:
    """A bulk of new versions of distinct ids (SQLite writes it in one loop) leaves the same
    items, history, counters, documents, full text and generations as the same ops in a
    bulk that also holds a no-op delete (written op by op, as any bulk may be)."""
    schema = Schema({"title": FieldKind.TEXT}) if text else Schema()
    old, new = Stamp("s", 1), Stamp("s", 2)
    for name in ("plain", "general"):
        await store.create_index(IndexSpec(name, shards=3, schema=schema))
        seed = [IndexOp(f"d{i}", {"title": f"old {i}", "n": i}) for i in range(20)]
        await store.bulk(name, seed, stamp=old)
        await store.bulk(name, [IndexOp("d19", {"title": "older", "n": -1})], stamp=old)
        # Trimming d19's first version moves min_retained in its shard above the ops of
        # d10..d18 there: replacing those drops them at once.
        assert await store.trim_history(name) == 1
    ops = [IndexOp(f"d{i}", {"title": f"new {i}", "n": i}) for i in range(10, 30)]

    plain = await store.bulk("plain", ops, stamp=new)
    general = await store.bulk("general", [*ops, DeleteOp("absent")], stamp=new)

    absent = BulkItem("absent", shard_for("absent", 3), NO_OPS, ItemResult.NOT_FOUND)
    assert general.items[-1] == absent
    assert plain.items == general.items[:-1]
    assert Counter(i.result for i in plain.items) == {"updated": 10, "created": 10}
    assert (
        plain.source_bytes == general.source_bytes == sum(len(encode_source(o.source)) for o in ops)
    )
    stats = await store.shard_stats("plain")
    assert stats == await store.shard_stats("general")
    assert sum(s.docs for s in stats) == 30
    for s in stats:
        histories = [
            [
                (o.seq_no, o.kind, o.id, o.source)
                for o in await all_operations(store, name, s.shard, s.min_retained_seq_no)
            ]
            for name in ("plain", "general")
        ]
        assert histories[0] == histories[1]
    assert sum(s.min_retained_seq_no > 0 for s in stats) == 1, "d19's shard was trimmed"
    assert await contents(store, "plain") == await contents(store, "general")
    if text:
        for words, hits in (("new", 20), ("old", 10), ("older", 0)):
            found = [await store.count(name, Query(match=words)) for name in ("plain", "general")]
            assert found == [hits, hits], words
    if store_url.startswith("sqlite:///"):
        # No read shows the history rows below min_retained (dropped when superseded there).
        with closing(sqlite3.connect(store_url.removeprefix("sqlite:///"))) as conn:
            rows = dict(
                conn.execute(
                    "SELECT i.name, count(*) FROM ops o JOIN indices i ON i.id = o.index_id"
                    " GROUP BY i.name"
                ).fetchall()
            )
        trimmed = shard_for("d19", 3)
        dropped = sum(shard_for(f"d{i}", 3) == trimmed for i in range(10, 19))
        assert dropped > 0
        assert rows["plain"] == rows["general"] == 21 - 1 + 20 - dropped
    # The generation each document was written in: a sweep below the new one removes
    # the ten documents the bulk did not write.
    assert await store.sweep("plain", new) == await store.sweep("general", new) == 10
    assert await contents(store, "plain") == await contents(store, "general")


class Small(enum.IntEnum):
    ONE = 1


@pytest.mark.parametrize(
    "source",
    [
        {"text": 'é ü \u2028 "q" \\ \n \x01 \U0001f600', "empty": "", "nested": {"a": {"b": []}}},
        {"numbers": [0, -1, 2.5, -0.0, 1e300, 1e-7, 10**30], "flags": [True, False, None]},
        {7: "int key", 2.5: "float key", True: "bool key", None: "null key", "z": 0, "a": 1},
        {"enum": Small.ONE, "in a list": [Small.ONE], "tuple": (1, "two")},
    ],
    ids=["strings", "numbers", "keys", "subclasses"],
)
def test_encode_source_is_json_dumps_compact_and_utf8(source: dict[Any, Any]) -> None:
    expected = json.dumps(source, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    assert encode_source(source) == expected.encode()
    with pytest.raises(ValueError):
        encode_source({**source, "bad": float("nan")})
    with pytest.raises(TypeError):
        encode_source({**source, "bad": {1, 2}})
