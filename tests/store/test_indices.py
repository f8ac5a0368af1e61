"""Indices: create, get, list, delete, and the schema rules."""

from __future__ import annotations

import time

import grpc
import pytest

from ferry.errors import AlreadyExists, InvalidArgument, NotFound
from ferry.store import (
    NO_OPS,
    DeleteOp,
    FieldKind,
    IndexOp,
    IndexSpec,
    LeaderInfo,
    Schema,
    SchemaConflict,
    Store,
)
from tests.store.support import violation_fields

SCHEMA = Schema(
    {"title": FieldKind.TEXT, "price": FieldKind.LONG, "customer.id": FieldKind.KEYWORD},
    version=1,
)


async def test_create_get_and_list(store: Store) -> None:
    before = time.time()
    created = await store.create_index(IndexSpec("orders", shards=3, schema=SCHEMA))
    await store.create_index(IndexSpec("archive"))
    await store.create_index(IndexSpec("customers", shards=2))

    assert created.spec == IndexSpec("orders", shards=3, schema=SCHEMA)
    assert before - 1 <= created.created_at <= time.time() + 1
    assert await store.get_index("orders") == created
    listed = await store.list_indices()
    assert [i.spec.name for i in listed] == ["archive", "customers", "orders"]
    assert listed[2] == created
    assert listed[0].spec == IndexSpec("archive", shards=1, schema=Schema())


async def test_follower_spec_round_trips(store: Store) -> None:
    spec = IndexSpec("copy", shards=2, leader=LeaderInfo("eu-west", "orders"))
    await store.create_index(spec)

    got = await store.get_index("copy")
    assert got.spec == spec
    assert got.spec.follower


async def test_create_twice_is_already_exists(store: Store) -> None:
    await store.create_index(IndexSpec("orders", shards=2))

    with pytest.raises(AlreadyExists) as err:
        await store.create_index(IndexSpec("orders", shards=5))
    assert err.value.code == grpc.StatusCode.ALREADY_EXISTS
    assert (await store.get_index("orders")).spec.shards == 2


async def test_missing_index_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound) as err:
        await store.get_index("nope")
    assert err.value.code == grpc.StatusCode.NOT_FOUND
    assert "nope" in str(err.value)
    with pytest.raises(NotFound):
        await store.bulk("nope", [IndexOp("a", {})])
    with pytest.raises(NotFound):
        await store.get("nope", "a")
    with pytest.raises(NotFound):
        await store.shard_stats("nope")
    with pytest.raises(NotFound):
        await store.update_schema("nope", SCHEMA)
    with pytest.raises(NotFound):
        await store.delete_index("nope")


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (IndexSpec("Upper", shards=1), "name"),
        (IndexSpec("", shards=1), "name"),
        (IndexSpec("has space", shards=1), "name"),
        (IndexSpec("ok", shards=0), "shards"),
        (IndexSpec("ok", shards=100_000), "shards"),
        (IndexSpec("ok", schema=Schema({"a..b": FieldKind.LONG})), "schema.fields.a..b"),
        (IndexSpec("ok", schema=Schema(version=-1)), "schema.version"),
    ],
)
async def test_bad_spec_names_the_field(store: Store, spec: IndexSpec, field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        await store.create_index(spec)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in violation_fields(err.value)
    assert await store.list_indices() == []


async def test_delete_removes_documents_history_and_leases(store: Store) -> None:
    await store.create_index(IndexSpec("orders", shards=1))
    await store.bulk("orders", [IndexOp("a", {"n": 1}), IndexOp("b", {"n": 2})])
    await store.put_retention_lease("orders", 0, "follower-1", 0)
    await store.create_index(IndexSpec("other"))

    await store.delete_index("orders")

    with pytest.raises(NotFound):
        await store.get_index("orders")
    assert [i.spec.name for i in await store.list_indices()] == ["other"]
    # A new index of the same name starts from nothing.
    await store.create_index(IndexSpec("orders", shards=1))
    assert await store.get("orders", "a") is None
    assert await store.count("orders") == 0
    assert await store.retention_leases("orders") == []
    [stats] = await store.shard_stats("orders")
    assert (stats.docs, stats.max_seq_no, stats.global_checkpoint) == (0, NO_OPS, NO_OPS)
    assert await store.read_operations("orders", 0, 0) == []
    [item] = (await store.bulk("orders", [IndexOp("c", {})])).items
    assert item.seq_no == 0


async def test_schema_adds_fields_under_a_higher_version(store: Store) -> None:
    await store.create_index(IndexSpec("orders", schema=SCHEMA))
    newer = Schema({**SCHEMA.fields, "paid": FieldKind.BOOLEAN}, version=2)

    info = await store.update_schema("orders", newer)

    assert info.spec.schema == newer
    assert (await store.get_index("orders")).spec.schema == newer
    # The new field is enforced from now on.
    with pytest.raises(InvalidArgument) as err:
        await store.bulk("orders", [IndexOp("o1", {"paid": "yes"})])
    assert violation_fields(err.value) == ["ops[0].source.paid"]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(Schema({**SCHEMA.fields, "price": FieldKind.KEYWORD}, version=2), id="retype"),
        pytest.param(
            Schema({"title": FieldKind.TEXT, "price": FieldKind.LONG}, version=2), id="drop"
        ),
        pytest.param(Schema({**SCHEMA.fields, "x": FieldKind.LONG}, version=1), id="same-version"),
        pytest.param(Schema({**SCHEMA.fields, "x": FieldKind.LONG}, version=0), id="lower-version"),
    ],
)
async def test_schema_conflicts(store: Store, change: Schema) -> None:
    await store.create_index(IndexSpec("orders", schema=SCHEMA))

    with pytest.raises(SchemaConflict) as err:
        await store.update_schema("orders", change)
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert (await store.get_index("orders")).spec.schema == SCHEMA


async def test_documents_must_fit_the_schema(store: Store) -> None:
    await store.create_index(IndexSpec("orders", shards=2, schema=SCHEMA))
    good = IndexOp("o1", {"title": "a lamp", "price": 12, "customer": {"id": "c1"}})

    with pytest.raises(InvalidArgument) as err:
        await store.bulk("orders", [good, IndexOp("o2", {"price": "twelve"})])
    assert violation_fields(err.value) == ["ops[1].source.price"]
    assert "o2" in str(err.value)

    with pytest.raises(InvalidArgument) as err:
        await store.bulk("orders", [DeleteOp("x"), good, IndexOp("o3", {"customer": {"id": 7}})])
    assert violation_fields(err.value) == ["ops[2].source.customer.id"]
    assert "o3" in str(err.value)

    with pytest.raises(InvalidArgument) as err:
        await store.bulk("orders", [IndexOp("o4", {"price": 1.5})])
    assert violation_fields(err.value) == ["ops[0].source.price"]

    assert await store.get("orders", "o1") is None
    assert all(s.max_seq_no == NO_OPS for s in await store.shard_stats("orders"))
    # Missing and null fields are fine; so are fields the schema does not name.
    result = await store.bulk(
        "orders", [good, IndexOp("o5", {"price": None}), IndexOp("o6", {"extra": [1, "x"]})]
    )
    assert [i.id for i in result.items] == ["o1", "o5", "o6"]
