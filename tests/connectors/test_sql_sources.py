"""The SQL sources against real databases: PostgreSQL (embedded server) and SQLite files.

Cursors pass through protobuf Struct between calls, as the agent stores them.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ferry.connectors.postgres import PostgresSource
from ferry.connectors.sdk import Checkpoint, Delete, Document, TaskPlan
from ferry.connectors.sql import SqlSource
from ferry.connectors.sqlite import SqliteSource
from ferry.errors import FailedPrecondition, InvalidArgument, Unavailable
from ferry.store.embedded_postgres import EmbeddedPostgres
from ferry.sync import records

ITEMS = """
CREATE TABLE items (
    id integer PRIMARY KEY,
    name text NOT NULL,
    score double precision,
    changed integer NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    body text
)
"""


@dataclass
class Backend:
    """Backend is one database under test: how to run SQL in it and configure a source."""

    name: str
    source_cls: type[SqlSource]
    connection: dict[str, Any]
    execute: Callable[[str], Awaitable[None]]
    false: Any
    """false is how a boolean false column comes back (SQLite has no booleans)."""

    def source(self, advanced: Mapping[str, Any] | None = None, **config: Any) -> SqlSource:
        normalised, problems = self.source_cls.schema.validate({**self.connection, **config})
        assert problems == []
        assert self.source_cls.validate(normalised) == []
        return self.source_cls(normalised, advanced_rules=advanced)


@pytest.fixture
def postgres(postgres_server: EmbeddedPostgres) -> Iterator[Backend]:
    name = f"src_{uuid.uuid4().hex[:12]}"
    url = postgres_server.create_database(name)

    async def execute(sql: str) -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    yield Backend("postgresql", PostgresSource, {"dsn": url}, execute, False)
    postgres_server.drop_database(name)


@pytest.fixture
def sqlite(tmp_path: Path) -> Backend:
    path = tmp_path / "source.db"

    def run(sql: str) -> None:
        conn = sqlite3.connect(path)
        try:
            conn.executescript(sql)
            conn.commit()
        finally:
            conn.close()

    async def execute(sql: str) -> None:
        await asyncio.to_thread(run, sql)

    return Backend("sqlite", SqliteSource, {"path": str(path)}, execute, 0)


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request: pytest.FixtureRequest) -> Backend:
    return request.getfixturevalue("postgres" if request.param == "postgresql" else "sqlite")


async def fill(db: Backend, first: int, last: int, *, body: int = 0) -> None:
    """fill inserts items first..last: score i/2, changed i."""
    await db.execute(
        f"WITH RECURSIVE s(i) AS (SELECT {first} UNION ALL SELECT i + 1 FROM s WHERE i < {last})"
        " INSERT INTO items (id, name, score, changed, body)"
        f" SELECT i, 'item ' || i, i * 0.5, i, {_padding(body)} FROM s"
    )


def _padding(size: int) -> str:
    return f"'{'x' * size}'" if size else "NULL"


@dataclass
class Run:
    """Run is what one stream yielded."""

    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    deletes: list[str] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    order: list[str] = field(default_factory=list)

    @property
    def cursor(self) -> dict[str, Any]:
        return self.checkpoints[-1]


def through_struct(cursor: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """through_struct is the cursor as the agent hands it back (numbers become floats)."""
    return None if cursor is None else records.from_struct(records.to_struct(cursor))


async def drain(
    source: SqlSource,
    *,
    full: bool = True,
    cursor: Mapping[str, Any] | None = None,
    task: TaskPlan | None = None,
    stop_after_checkpoints: int = 0,
) -> Run:
    run = Run()
    plan = task or source.plan_tasks(source.config, 1)[0]
    stream = source.stream(plan, full=full, cursor=through_struct(cursor))
    async for item in stream:
        if isinstance(item, Document):
            assert item.id not in run.docs, f"{item.id} yielded twice"
            run.docs[item.id] = item.source
            run.order.append(item.id)
        elif isinstance(item, Delete):
            run.deletes.append(item.id)
        else:
            assert isinstance(item, Checkpoint)
            run.checkpoints.append(dict(item.cursor))
            if len(run.checkpoints) == stop_after_checkpoints:
                await stream.aclose()  # type: ignore[attr-defined]
                break
    return run


def ids(first: int, last: int) -> set[str]:
    return {str(i) for i in range(first, last + 1)}


# FULL ------------------------------------------------------------------------------------


async def test_full_yields_every_row_as_json_with_a_checkpoint_per_page(db: Backend) -> None:
    await db.execute(ITEMS)
    await fill(db, 1, 250)
    run = await drain(db.source(tables=["items"], page_size=100, cursor_column="changed"))

    assert set(run.docs) == ids(1, 250)
    assert run.order == [str(i) for i in range(1, 251)]
    assert run.docs["7"] == {
        "id": 7,
        "name": "item 7",
        "score": 3.5,
        "changed": 7,
        "deleted": db.false,
        "body": None,
    }
    # Two full pages, then the last one: two scan checkpoints and the final one, which
    # carries the high-water mark the next INCREMENTAL starts from.
    assert [c["tables"]["items"] for c in run.checkpoints] == [
        {"scan": {"after": ["int:100"], "high_water": "int:250"}},
        {"scan": {"after": ["int:200"], "high_water": "int:250"}},
        {"cursor": "int:250"},
    ]


async def test_full_resumes_after_its_checkpoint(db: Backend) -> None:
    await db.execute(ITEMS)
    await fill(db, 1, 250)
    source = db.source(tables=["items"], page_size=50, checkpoint_every=2)
    first = await drain(source, stop_after_checkpoints=1)
    assert first.checkpoints == [
        {"full": True, "tables": {"items": {"scan": {"after": ["int:100"]}}}}
    ]

    rest = await drain(source, cursor=first.cursor)

    assert set(rest.docs) == ids(101, 250)
    assert set(first.docs) | set(rest.docs) == ids(1, 250)


async def test_full_ignores_a_cursor_of_an_incremental_sync(db: Backend) -> None:
    await db.execute(ITEMS)
    await fill(db, 1, 30)
    source = db.source(tables=["items"], cursor_column="changed")
    stale = {"tables": {"items": {"cursor": "int:5", "after": ["int:10"]}}}

    run = await drain(source, cursor=stale)

    assert set(run.docs) == ids(1, 30)


# INCREMENTAL -----------------------------------------------------------------------------


async def change(db: Backend, where: str, *, name: str = "changed", deleted: bool = False) -> None:
    """change updates rows the way an application would: a new, higher changed value."""
    flag = ", deleted = true" if deleted else ""
    await db.execute(
        f"UPDATE items SET name = '{name}', changed = (SELECT max(changed) FROM items) + 1{flag}"
        f" WHERE {where}"
    )


async def test_incremental_reads_inserts_updates_and_soft_deletes_only(db: Backend) -> None:
    await db.execute(ITEMS)
    await fill(db, 1, 300)
    source = db.source(
        tables=["items"], page_size=40, cursor_column="changed", soft_delete_column="deleted"
    )
    full = await drain(source)
    await change(db, "id IN (5, 150, 299)")
    await fill(db, 301, 305)
    await db.execute(
        "UPDATE items SET changed = (SELECT max(changed) FROM items) + 1 WHERE id > 300"
    )
    await change(db, "id IN (7, 8)", deleted=True)

    incremental = await drain(source, full=False, cursor=full.cursor)

    # Row 300 holds the high-water mark, read again: the mark is inclusive, so that a row
    # committed later with the same value is not missed.
    assert set(incremental.docs) == {"5", "150", "299", "300", *ids(301, 305)}
    assert incremental.docs["150"]["name"] == "changed"
    assert sorted(incremental.deletes) == ["7", "8"]
    # Nothing changed since: the next one reads nothing and keeps its place.
    again = await drain(source, full=False, cursor=incremental.cursor)
    assert again.docs == {} and again.deletes == []
    assert again.cursor == incremental.cursor


async def test_incremental_resumes_mid_way_without_rereading(db: Backend) -> None:
    await db.execute(ITEMS)
    await fill(db, 1, 100)
    source = db.source(tables=["items"], page_size=10, cursor_column="changed")
    full = await drain(source)
    await change(db, "id > 50")

    first = await drain(source, full=False, cursor=full.cursor, stop_after_checkpoints=2)
    rest = await drain(source, full=False, cursor=first.cursor)

    assert set(first.docs) == ids(51, 70)
    assert set(rest.docs) == ids(71, 100)


async def test_changes_during_a_full_scan_reach_the_next_incremental(db: Backend) -> None:
    """The high-water mark is taken before the scan: a row the scan already passed, changed
    while it runs, is read by the next INCREMENTAL even if a later row changed after it."""
    await db.execute(ITEMS)
    await fill(db, 1, 100)
    source = db.source(tables=["items"], page_size=10, cursor_column="changed")
    plan = source.plan_tasks(source.config, 1)[0]
    stream = source.stream(plan, full=True, cursor=None)
    seen: list[str] = []
    final: dict[str, Any] = {}
    async for item in stream:
        if isinstance(item, Document):
            seen.append(item.id)
            if item.id == "20":
                await change(db, "id = 3", name="during")  # already scanned
                await change(db, "id = 90", name="later")  # scanned later, higher value
        elif isinstance(item, Checkpoint):
            final = dict(item.cursor)
    assert "3" in seen and "90" in seen

    incremental = await drain(source, full=False, cursor=final)

    assert incremental.docs["3"]["name"] == "during"
    assert set(incremental.docs) == {"3", "90", "100"}  # 100: the mark, inclusive


async def test_first_incremental_reads_everything(db: Backend) -> None:
    await db.execute(ITEMS)
    await fill(db, 1, 120)
    source = db.source(tables=["items"], page_size=50, cursor_column="changed")

    run = await drain(source, full=False, cursor=None)

    assert set(run.docs) == ids(1, 120)
    assert run.cursor == {"tables": {"items": {"cursor": "int:120"}}}


async def test_incremental_without_a_cursor_column_fails_naming_it(db: Backend) -> None:
    await db.execute(ITEMS)
    source = db.source(tables=["items"])
    with pytest.raises(FailedPrecondition, match=r"config\.cursor_column"):
        await drain(source, full=False)


# Advanced rules, queries, several tables ------------------------------------------------------


async def test_where_rule_filters_every_read(db: Backend) -> None:
    await db.execute(ITEMS)
    await fill(db, 1, 200)
    source = db.source(
        {"where": "score > 60 AND name <> 'item 150'"},
        tables=["items"],
        page_size=30,
        cursor_column="changed",
    )
    full = await drain(source)
    assert set(full.docs) == ids(121, 200) - {"150"}

    await change(db, "id IN (10, 180)")
    incremental = await drain(source, full=False, cursor=full.cursor)
    assert set(incremental.docs) == {"180", "200"}  # 200: the mark, inclusive


async def test_query_with_composite_ids_pages_within_equal_first_keys(db: Backend) -> None:
    await db.execute(
        "CREATE TABLE pairs (a integer NOT NULL, b text NOT NULL, v text, PRIMARY KEY (a, b))"
    )
    await db.execute(
        "INSERT INTO pairs VALUES (1, 'x', 'one x'), (1, 'y', 'one y'), (1, 'z', 'skip'),"
        " (2, 'x', 'two x'), (2, 'y', 'two y'), (3, 'x', 'three x')"
    )
    source = db.source(
        query="SELECT a, b, v FROM pairs WHERE v <> 'skip';", id_columns=["a", "b"], page_size=2
    )

    run = await drain(source)

    assert run.order == ['["1","x"]', '["1","y"]', '["2","x"]', '["2","y"]', '["3","x"]']
    assert run.docs['["2","y"]'] == {"a": 2, "b": "y", "v": "two y"}


async def test_several_tables_share_an_index_under_prefixed_ids(db: Backend) -> None:
    await db.execute(ITEMS)
    await db.execute("CREATE TABLE tags (name text PRIMARY KEY, colour text)")
    await fill(db, 1, 3)
    await db.execute("INSERT INTO tags VALUES ('red', '#f00'), ('blue', '#00f')")
    source = db.source(tables=["items", "tags"], page_size=2)

    [group] = source.plan_tasks(source.config, 1)
    run = await drain(source, task=group)

    assert set(run.docs) == {"items:1", "items:2", "items:3", "tags:blue", "tags:red"}
    assert run.docs["tags:red"] == {"name": "red", "colour": "#f00"}
    per_table = source.plan_tasks(source.config, 2)
    assert [p.partition for p in per_table] == ["table-items", "table-tags"]
    only_tags = await drain(source, task=per_table[1])
    assert set(only_tags.docs) == {"tags:blue", "tags:red"}


async def test_a_resumed_full_group_skips_the_tables_it_finished(db: Backend) -> None:
    await db.execute(ITEMS)
    await db.execute("CREATE TABLE tags (name text PRIMARY KEY)")
    await fill(db, 1, 4)
    await db.execute("INSERT INTO tags VALUES ('a'), ('b'), ('c'), ('d'), ('e')")
    source = db.source(tables=["items", "tags"], page_size=2)
    [group] = source.plan_tasks(source.config, 1)
    # items: two full pages, an empty last page and its final checkpoint; then tags' first.
    first = await drain(source, task=group, stop_after_checkpoints=4)
    assert set(first.docs) == {"items:1", "items:2", "items:3", "items:4", "tags:a", "tags:b"}

    rest = await drain(source, task=group, cursor=first.cursor)

    assert set(rest.docs) == {"tags:c", "tags:d", "tags:e"}


@pytest.mark.parametrize("key", ["integer", "text"])
async def test_partitions_split_a_table_into_disjoint_parts(db: Backend, key: str) -> None:
    await db.execute(f"CREATE TABLE things (k {key} PRIMARY KEY, n integer NOT NULL)")
    value = "i" if key == "integer" else "'k' || i"
    await db.execute(
        "WITH RECURSIVE s(i) AS (SELECT -50 UNION ALL SELECT i + 1 FROM s WHERE i < 249)"
        f" INSERT INTO things SELECT {value}, i FROM s"
    )
    source = db.source(tables=["things"], page_size=25)
    plans = source.plan_tasks(source.config, 3)
    assert [p.partition for p in plans] == [f"table-things-part-{i}-of-3" for i in range(3)]

    parts = [await drain(source, task=p) for p in plans]

    sizes = [len(p.docs) for p in parts]
    assert sum(sizes) == 300
    assert len(set().union(*(p.docs for p in parts))) == 300
    assert min(sizes) >= 60, sizes  # an even split, not one task doing the work


# Errors --------------------------------------------------------------------------------------


async def test_database_mismatches_name_the_config_field(db: Backend) -> None:
    await db.execute(ITEMS)
    await db.execute("CREATE TABLE loose (a integer, b text)")
    with pytest.raises(FailedPrecondition, match=r"config\.tables.*nope"):
        await drain(db.source(tables=["nope"]))
    with pytest.raises(FailedPrecondition, match=r"loose has no primary key.*config\.id_columns"):
        await drain(db.source(tables=["loose"]))
    with pytest.raises(FailedPrecondition, match=r"config\.cursor_column.*'updated_at'"):
        await drain(db.source(tables=["items"], cursor_column="updated_at"))
    with pytest.raises(FailedPrecondition, match=r"config\.query"):
        await drain(db.source(query="SELECT a FROM loose WHERE", id_columns=["a"]))
    run = await drain(db.source(tables=["loose"], id_columns=["a"]))
    assert run.docs == {}


async def test_ping_reaches_the_database(db: Backend) -> None:
    await db.execute(ITEMS)
    await db.source(tables=["items"]).ping()


async def test_ping_fails_clearly_when_the_database_is_unreachable(
    db: Backend, tmp_path: Path
) -> None:
    if db.name == "postgresql":
        bad = {"dsn": db.connection["dsn"].replace("/src_", "/missing_")}
    else:
        bad = {"path": str(tmp_path / "missing.db")}
    source = db.source_cls({**db.source(tables=["t"]).config, **bad})
    with pytest.raises(Unavailable, match="missing"):
        await source.ping()
    if db.name == "sqlite":
        assert not (tmp_path / "missing.db").exists()  # opened read-only: nothing created


# Bounded memory -----------------------------------------------------------------------------


async def _peak(source: SqlSource) -> tuple[int, int]:
    """_peak streams a whole FULL sync, keeping nothing, and returns (documents, peak bytes)."""
    count = 0
    tracemalloc.start()
    try:
        async for item in source.stream(TaskPlan("table-items"), full=True, cursor=None):
            count += isinstance(item, Document)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return count, peak


async def test_a_full_sync_holds_one_page_in_memory(db: Backend) -> None:
    """A table 40 pages long costs no more memory than one 2 pages long; a source that
    held every row would need some 20 times more."""
    await db.execute(ITEMS)
    await fill(db, 1, 1000, body=300)
    small = db.source(tables=["items"], page_size=500)
    await _peak(small)  # warm caches (statements, codecs) outside the measurement
    small_count, small_peak = await _peak(small)
    await fill(db, 1001, 20_000, body=300)
    large_count, large_peak = await _peak(db.source(tables=["items"], page_size=500))

    assert (small_count, large_count) == (1000, 20_000)
    assert large_peak < 2 * small_peak + 512 * 1024, (small_peak, large_peak)


# PostgreSQL values ----------------------------------------------------------------------------


async def test_postgres_values_become_json(postgres: Backend) -> None:
    await postgres.execute(
        """
        CREATE TABLE kinds (
            id uuid PRIMARY KEY,
            at timestamptz, day date, price numeric(12, 2), huge numeric, ratio double precision,
            raw bytea, tags text[], doc jsonb, gone numeric, flag boolean, spent interval
        );
        INSERT INTO kinds VALUES (
            '6f1c4a2e-0000-4000-8000-000000000001', '2024-05-01 10:00:00.5+02', '2024-05-01',
            19.99, 12345678901234567890.123, 'NaN', '\\x00ff', ARRAY['a', 'b'],
            '{"k": [1, 2.5, null]}', 'NaN', true, '90 seconds'
        )
        """
    )
    run = await drain(postgres.source(tables=["kinds"]))

    assert run.docs == {
        "6f1c4a2e-0000-4000-8000-000000000001": {
            "id": "6f1c4a2e-0000-4000-8000-000000000001",
            "at": "2024-05-01T08:00:00.500000+00:00",
            "day": "2024-05-01",
            "price": 19.99,
            "huge": "12345678901234567890.123",
            "ratio": None,
            "raw": "AP8=",
            "tags": ["a", "b"],
            "doc": {"k": [1, 2.5, None]},
            "gone": None,
            "flag": True,
            "spent": 90.0,
        }
    }


@pytest.mark.parametrize(
    ("column", "first", "step"),
    [
        ("timestamptz", "timestamptz '2024-01-01 00:00:00.000001+00'", "interval '1 microsecond'"),
        ("numeric", "12345678901234567.000001", "0.000001"),
    ],
)
async def test_postgres_cursor_values_survive_json(
    postgres: Backend, column: str, first: str, step: str
) -> None:
    """Values a float would round (microseconds, long decimals) stay exact in a cursor."""
    await postgres.execute(
        f"CREATE TABLE events (id integer PRIMARY KEY, at {column} NOT NULL);"
        f" INSERT INTO events SELECT i, {first} + {step} * i FROM generate_series(1, 50) i"
    )
    source = postgres.source(tables=["events"], cursor_column="at", page_size=7)
    full = await drain(source)
    await postgres.execute(f"UPDATE events SET at = {first} + {step} * 51 WHERE id = 9")

    incremental = await drain(source, full=False, cursor=full.cursor)

    # The high-water row (50) is read again (inclusive), then row 9, now past it.
    assert incremental.order == ["50", "9"]


async def test_postgres_sessions_are_read_only(postgres: Backend) -> None:
    await postgres.execute(ITEMS)
    await fill(postgres, 1, 3)
    source = postgres.source({"where": "pg_catalog.nextval('items_seq') > 0"}, tables=["items"])
    await postgres.execute("CREATE SEQUENCE items_seq")
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        await drain(source)


# Validation and planning (no database) -----------------------------------------------------


def fields(source_cls: type[SqlSource], config: dict[str, Any]) -> list[str]:
    """fields is every config path the schema, then the source, refuses."""
    normalised, problems = source_cls.schema.validate(config)
    return [v.field for v in problems or source_cls.validate(normalised)]


PG = "postgresql://reader@db.example:5432/shop"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"dsn": PG, "tables": ["orders", "public.items"]}, []),
        ({"dsn": PG, "query": "SELECT * FROM orders", "id_columns": ["id"]}, []),
        ({"dsn": "postgresql://reader:s3cret@db/shop", "tables": ["t"]}, ["config.dsn"]),
        ({"dsn": f"{PG}?sslmode=require&password=x", "tables": ["t"]}, ["config.dsn"]),
        ({"dsn": "mysql://reader@db/shop", "tables": ["t"]}, ["config.dsn"]),
        ({"dsn": PG, "password": "s3cret", "tables": ["t"]}, ["config.password"]),
        ({"dsn": PG, "tables": ["t"], "query": "SELECT 1", "id_columns": ["a"]}, ["config.query"]),
        ({"dsn": PG}, ["config.tables"]),
        ({"dsn": PG, "tables": []}, ["config.tables"]),
        ({"dsn": PG, "tables": ["ok", "bad name"]}, ["config.tables[1]"]),
        ({"dsn": PG, "tables": ['t"; DROP TABLE t; --']}, ["config.tables[0]"]),
        ({"dsn": PG, "tables": ["a.b.c", "t", "t"]}, ["config.tables[0]", "config.tables[2]"]),
        ({"dsn": PG, "query": "DELETE FROM t", "id_columns": ["a"]}, ["config.query"]),
        ({"dsn": PG, "query": "SELECT 1; SELECT 2", "id_columns": ["a"]}, ["config.query"]),
        ({"dsn": PG, "query": "SELECT a FROM t"}, ["config.id_columns"]),
        ({"dsn": PG, "tables": ["t"], "id_columns": ["a", "a"]}, ["config.id_columns[1]"]),
        ({"dsn": PG, "tables": ["t"], "cursor_column": "updated-at"}, ["config.cursor_column"]),
        ({"dsn": PG, "tables": ["t"], "soft_delete_column": 1}, ["config.soft_delete_column"]),
        ({"dsn": PG, "tables": ["t"], "page_size": 0}, ["config.page_size"]),
    ],
)
def test_postgres_config_errors_name_the_field(config: dict[str, Any], expected: list[str]) -> None:
    assert fields(PostgresSource, config) == expected


def test_a_password_in_the_dsn_is_refused_pointing_at_the_password_field() -> None:
    [violation] = PostgresSource.validate({"dsn": "postgresql://u:pw@h/db", "tables": ["t"]})
    assert violation.field == "config.dsn"
    assert "config.password" in violation.description and "${env:" in violation.description
    ok = {"dsn": PG, "password": "${env:PGPASSWORD}", "tables": ["t"]}
    assert fields(PostgresSource, ok) == []


def test_sqlite_config_errors_name_the_field() -> None:
    assert fields(SqliteSource, {"path": "/data/app.db", "tables": ["t"]}) == []
    assert fields(SqliteSource, {"path": "app.db", "tables": ["t"]}) == ["config.path"]
    assert fields(SqliteSource, {"path": "/data/app.db", "tables": ["x y"]}) == ["config.tables[0]"]
    assert fields(SqliteSource, {"tables": ["t"]}) == ["config.path"]
    # A reference is resolved, and so checked, on the agent.
    assert fields(SqliteSource, {"path": "${env:FERRY_DB}", "tables": ["t"]}) == []
    assert fields(SqliteSource, {"path": "${env:DATA}/app.db", "tables": ["t"]}) == []


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ({"where": "amount > 10 AND status IN ('paid', 'sent')"}, []),
        ({"where": "note = 'a; b -- (c'"}, []),  # inside a literal: harmless
        ({"where": ""}, ["rules.advanced.where"]),
        ({"where": 5}, ["rules.advanced.where"]),
        ({"where": "true; DELETE FROM t"}, ["rules.advanced.where"]),
        ({"where": "a > 1) OR (true"}, ["rules.advanced.where"]),
        ({"where": "(a > 1"}, ["rules.advanced.where"]),
        ({"where": "a > 1 -- only paid"}, ["rules.advanced.where"]),
        ({"where": "a = 'open"}, ["rules.advanced.where"]),
        ({"where": "a > 1", "limit": 5}, ["rules.advanced.limit"]),
    ],
)
def test_advanced_rules_errors_name_the_rule(rules: dict[str, Any], expected: list[str]) -> None:
    for source_cls in (PostgresSource, SqliteSource):
        assert [v.field for v in source_cls.validate_advanced_rules(rules)] == expected


def test_plans_are_pure_and_named_stably() -> None:
    def partitions(tasks_max: int, **config: Any) -> list[str]:
        return [p.partition for p in PostgresSource.plan_tasks({"dsn": PG, **config}, tasks_max)]

    assert partitions(1, tables=["orders"]) == ["table-orders"]
    assert partitions(3, tables=["public.orders"]) == [
        "table-public.orders-part-0-of-3",
        "table-public.orders-part-1-of-3",
        "table-public.orders-part-2-of-3",
    ]
    assert partitions(2, tables=["a", "b", "c"]) == ["tables-0-of-2", "tables-1-of-2"]
    assert partitions(3, tables=["a", "b", "c"]) == ["table-a", "table-b", "table-c"]
    assert partitions(4, tables=["a", "b"]) == [
        "table-a-part-0-of-2",
        "table-a-part-1-of-2",
        "table-b-part-0-of-2",
        "table-b-part-1-of-2",
    ]
    assert partitions(2, query="SELECT * FROM t", id_columns=["id"]) == [
        "query-part-0-of-2",
        "query-part-1-of-2",
    ]
    [group, _] = PostgresSource.plan_tasks({"dsn": PG, "tables": ["a", "b", "c"]}, 2)
    assert group.params == {"targets": ["a", "b"]}
    with pytest.raises(InvalidArgument, match=r"config\.tables"):
        PostgresSource.plan_tasks({"dsn": PG}, 1)


async def test_a_malformed_cursor_is_refused_naming_it() -> None:
    source = SqliteSource({"path": "/nowhere.db", "tables": ["t"], "cursor_column": "c"})
    with pytest.raises(InvalidArgument, match=r"cursor\.tables"):
        await drain(source, full=False, cursor={"tables": ["not", "an", "object"]})


async def test_sqlite_ping_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database, but long enough to hold a header " * 10)
    source = SqliteSource({"path": str(path), "tables": ["t"]})
    with pytest.raises(Unavailable, match="not a database"):
        await source.ping()
