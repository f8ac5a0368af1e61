"""Query: filters on nested JSON fields, count, sorting with cursors, full-text match."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest

from ferry.errors import InvalidArgument
from ferry.store import (
    FieldKind,
    Filter,
    FilterOp,
    IndexOp,
    IndexSpec,
    Query,
    Schema,
    Sort,
    Store,
)
from ferry.store.common import field_value
from tests.store.support import all_hits, violation_fields

SCHEMA = Schema(
    {
        "title": FieldKind.TEXT,
        "customer.id": FieldKind.KEYWORD,
        "customer.tier": FieldKind.LONG,
        "price": FieldKind.DOUBLE,
        "created": FieldKind.DATE,
        "paid": FieldKind.BOOLEAN,
    },
    version=1,
)
WORDS = ["red", "fox", "blue", "whale", "quick", "lamp"]


def source(i: int) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "title": f"{WORDS[i % 6]} {WORDS[(i * 7 + 1) % 6]} item",
        "customer": {"id": f"c{i % 3}", "tier": i % 5},
        # 0, 1.5, ... 43.5: "9.0" > "10.5" as strings, so string order would show.
        "price": i * 1.5,
        "created": f"2024-{1 + i % 12:02d}-{1 + i:02d}",
        "paid": i % 2 == 0,
        "sku": f"sku-{i % 4}-{i}",
    }
    if i % 3 == 0:
        doc["note"] = f"note {i}"
    elif i % 3 == 1:
        doc["note"] = None
    return doc


SOURCES = {f"d{i:02d}": source(i) for i in range(30)}


@pytest.fixture
async def orders(store: Store) -> Store:
    await store.create_index(IndexSpec("orders", shards=3, schema=SCHEMA))
    await store.bulk("orders", [IndexOp(k, v) for k, v in SOURCES.items()])
    await store.bulk("orders", [IndexOp("empty", {})])
    return store


def where(predicate: Callable[[dict[str, Any]], bool]) -> set[str]:
    sources = {**SOURCES, "empty": {}}
    return {k for k, v in sources.items() if predicate(v)}


def get(path: str) -> Callable[[dict[str, Any]], Any]:
    return lambda v: field_value(v, path)


async def ids(
    store: Store,
    *filters: Filter,
    match: str = "",
    match_any: bool = False,
    size: int = 7,
    index: str = "orders",
) -> set[str]:
    query = Query(filters, match, match_any=match_any)
    hits = await all_hits(store, index, query, size=size)
    found = [h.id for h in hits]
    assert len(found) == len(set(found)), f"a hit came twice: {found}"
    assert await store.count(index, query) == len(found)
    return set(found)


def num(v: Any) -> float:
    return v if isinstance(v, (int, float)) else float("nan")


def case(id: str, filt: Filter, predicate: Callable[[dict[str, Any]], bool]) -> Any:
    return pytest.param(filt, predicate, id=id)


FILTER_CASES = [
    case("term-keyword", Filter("customer.id", FilterOp.TERM, "c1"),
         lambda v: get("customer.id")(v) == "c1"),
    case("term-long", Filter("customer.tier", FilterOp.TERM, 3),
         lambda v: get("customer.tier")(v) == 3),
    case("term-double", Filter("price", FilterOp.TERM, 4.5), lambda v: v.get("price") == 4.5),
    case("term-bool", Filter("paid", FilterOp.TERM, True), lambda v: v.get("paid") is True),
    case("prefix", Filter("sku", FilterOp.PREFIX, "sku-2-"),
         lambda v: str(v.get("sku", "")).startswith("sku-2-")),
    case("prefix-longer", Filter("sku", FilterOp.PREFIX, "sku-1-1"),
         lambda v: str(v.get("sku", "")).startswith("sku-1-1")),
    case("range-gt-lte", Filter("price", FilterOp.RANGE, gt=9, lte=30),
         lambda v: 9 < num(v.get("price")) <= 30),
    case("range-gte-lt", Filter("price", FilterOp.RANGE, gte=10.5, lt=12),
         lambda v: 10.5 <= num(v.get("price")) < 12),
    case("range-nested", Filter("customer.tier", FilterOp.RANGE, lt=2),
         lambda v: num(get("customer.tier")(v)) < 2),
    case("range-dates", Filter("created", FilterOp.RANGE, gte="2024-03-01", lt="2024-06-01"),
         lambda v: "2024-03-01" <= v.get("created", "") < "2024-06-01"),
    case("range-strings", Filter("sku", FilterOp.RANGE, gt="sku-2"),
         lambda v: v.get("sku", "") > "sku-2"),
    case("exists-not-null", Filter("note", FilterOp.EXISTS), lambda v: v.get("note") is not None),
    case("exists-nested", Filter("customer.id", FilterOp.EXISTS),
         lambda v: get("customer.id")(v) is not None),
    case("exists-never", Filter("customer.nothing", FilterOp.EXISTS), lambda v: False),
]  # fmt: skip


@pytest.mark.parametrize(("filt", "predicate"), FILTER_CASES)
async def test_filter(
    orders: Store, filt: Filter, predicate: Callable[[dict[str, Any]], bool]
) -> None:
    expected = where(predicate)
    if filt.field != "customer.nothing":
        assert expected, "each case should match something"
    assert await ids(orders, filt) == expected


async def test_filters_combine_with_and(orders: Store) -> None:
    found = await ids(
        orders,
        Filter("customer.id", FilterOp.TERM, "c0"),
        Filter("price", FilterOp.RANGE, gte=9, lt=40),
        Filter("note", FilterOp.EXISTS),
    )

    expected = where(
        lambda v: (
            get("customer.id")(v) == "c0"
            and 9 <= num(v.get("price")) < 40
            and v.get("note") is not None
        )
    )
    assert found == expected and len(expected) >= 2


async def test_count(orders: Store) -> None:
    assert await orders.count("orders") == 31
    assert await orders.count("orders", Query((Filter("paid", FilterOp.TERM, False),))) == 15


@pytest.mark.parametrize(
    "sort",
    [
        (Sort("price"),),
        (Sort("price", descending=True),),
        (Sort("customer.tier", descending=True),),
        (Sort("customer.tier"), Sort("created", descending=True)),
        (Sort("sku"),),
    ],
    ids=lambda s: ",".join(x.field + (":desc" if x.descending else "") for x in s),
)
async def test_sorted_pages_visit_every_match_once(orders: Store, sort: tuple[Sort, ...]) -> None:
    query = Query((Filter("customer.id", FilterOp.EXISTS),))

    hits = await all_hits(orders, "orders", query, sort=sort, size=4)

    assert sorted(h.id for h in hits) == sorted(SOURCES)
    keys = [tuple(field_value(h.source, s.field) for s in sort) for h in hits]
    for before, after, h in zip(keys, keys[1:], hits[1:], strict=False):
        for s, b, a in zip(sort, before, after, strict=True):
            if a != b:
                assert (a < b) if s.descending else (a > b), f"{h.id} out of order: {keys}"
                break


async def test_default_order_is_by_id(orders: Store) -> None:
    hits = await all_hits(orders, "orders", size=6)
    assert [h.id for h in hits] == sorted([*SOURCES, "empty"])
    page = await orders.search("orders", size=5)
    assert [h.id for h in page.hits] == ["d00", "d01", "d02", "d03", "d04"]
    assert page.next_cursor
    last = await orders.search("orders", size=100)
    assert len(last.hits) == 31 and last.next_cursor == ""


async def test_match_finds_words_in_text_fields(orders: Store) -> None:
    def has(*words: str) -> Callable[[dict[str, Any]], bool]:
        return lambda v: all(w in v.get("title", "").split() for w in words)

    assert await ids(orders, match="whale") == where(has("whale"))
    assert await ids(orders, match="quick fox") == where(has("quick", "fox"))
    assert await ids(orders, match="unicorn") == set()
    combined = await ids(orders, Filter("paid", FilterOp.TERM, True), match="red")
    assert combined == where(lambda v: has("red")(v) and v.get("paid") is True)
    assert combined


def has_all(*words: str) -> Callable[[dict[str, Any]], bool]:
    return lambda v: all(w in v.get("title", "").split() for w in words)


def has_any(*words: str) -> Callable[[dict[str, Any]], bool]:
    return lambda v: any(w in v.get("title", "").split() for w in words)


@pytest.mark.parametrize("text", ["blue whale", "whale lamp", "red whale unicorn", "lamp LAMP"])
async def test_match_any_needs_one_word_and_every_word(orders: Store, text: str) -> None:
    words = text.lower().split()

    every = await ids(orders, match=text)
    some = await ids(orders, match=text, match_any=True)

    assert every == where(has_all(*words))
    assert some == where(has_any(*words))
    assert every <= some and some, "each case should match something"


async def test_match_any_is_the_union_of_its_words(orders: Store) -> None:
    # Titles pair neighbouring WORDS, so whale and lamp never meet: AND finds nothing.
    assert await ids(orders, match="whale lamp") == set()
    alone = await ids(orders, match="whale") | await ids(orders, match="lamp")
    assert await ids(orders, match="whale lamp", match_any=True) == alone
    assert await ids(orders, match="unicorn dragon", match_any=True) == set()
    paid = Filter("paid", FilterOp.TERM, True)
    combined = await ids(orders, paid, match="whale lamp", match_any=True)
    assert combined == where(lambda v: has_any("whale", "lamp")(v) and v.get("paid") is True)
    assert combined


@pytest.mark.parametrize("word", [*WORDS, "item", "unicorn"])
async def test_one_word_matches_alike_under_every_and_any(orders: Store, word: str) -> None:
    assert await ids(orders, match=word, match_any=True) == await ids(orders, match=word)


NOTES = {
    "or": "cats or dogs",
    "and": "cats and dogs",
    "near": "near the river",
    "not": "not a drill",
    "catsup": "catsup on fries",
}
CATS = {"or", "and"}


@pytest.fixture
async def notes(store: Store) -> Store:
    schema = Schema({"body": FieldKind.TEXT}, version=1)
    await store.create_index(IndexSpec("notes", shards=2, schema=schema))
    await store.bulk("notes", [IndexOp(k, {"body": v}) for k, v in NOTES.items()])
    return store


# (text, hits when every word must appear, hits when any word is enough). Query syntax
# typed by a user (FTS5's OR, AND, NOT, NEAR, column:, prefix*, quotes; tsquery's & | ! :)
# is plain text: those are ordinary words, or no word at all.
HOSTILE = [
    ("cats OR", {"or"}, CATS),
    ("cats AND dogs", {"and"}, CATS),
    ("cats OR dogs", {"or"}, CATS),
    ("NOT drill", {"not"}, {"not"}),
    ("OR", {"or"}, {"or"}),
    ("NEAR( river", {"near"}, {"near"}),
    ("NEAR(cats, dogs)", set(), CATS),
    ('"cats', CATS, CATS),
    ('cats"', CATS, CATS),
    ('cats"OR"dogs', {"or"}, {"or"}),
    ("(cats)", CATS, CATS),
    ("( cats", CATS, CATS),
    ("cat*", set(), set()),
    ("cats *", CATS, CATS),
    ("body:catsup", set(), set()),
    ("catsup :", {"catsup"}, {"catsup"}),
    ("cats &|! dogs", CATS, CATS),
    ("!cats -dogs", CATS, CATS),
    ("cats:* | drill", set(), {"or", "and", "not"}),
    ("'drill' ^river", set(), {"not", "near"}),
    ("drill\\", {"not"}, {"not"}),
    ("drill\x00river", set(), {"not", "near"}),
    ("drill \x00 river", set(), {"not", "near"}),
    ('&|! " ( ) * : ""', set(), set()),
]


@pytest.mark.parametrize(("text", "every", "some"), HOSTILE, ids=[h[0] for h in HOSTILE])
async def test_match_takes_query_syntax_as_plain_words(
    notes: Store, text: str, every: set[str], some: set[str]
) -> None:
    assert await ids(notes, match=text, index="notes") == every
    assert await ids(notes, match=text, match_any=True, index="notes") == some


@pytest.mark.parametrize(
    ("query", "sort", "field"),
    [
        pytest.param(
            Query((Filter("a..b", FilterOp.TERM, 1),)), (), "query.filters[0].field", id="path"
        ),
        pytest.param(
            Query((Filter("", FilterOp.EXISTS),)), (), "query.filters[0].field", id="empty-path"
        ),
        pytest.param(
            Query(
                (Filter("price", FilterOp.TERM, 1), Filter("price", FilterOp.RANGE, gte=1, lt="z"))
            ),
            (),
            "query.filters[1]",
            id="mixed-bounds",
        ),
        pytest.param(
            Query((Filter("price", FilterOp.RANGE),)), (), "query.filters[0]", id="no-bounds"
        ),
        pytest.param(
            Query((Filter("sku", FilterOp.PREFIX, 5),)), (), "query.filters[0].value", id="prefix"
        ),
        pytest.param(
            Query((Filter("sku", FilterOp.TERM, ["a"]),)), (), "query.filters[0].value", id="term"
        ),
        pytest.param(Query(), (Sort("price; drop table"),), "sort[0].field", id="sort-path"),
    ],
)
async def test_bad_queries_name_the_field(
    orders: Store, query: Query, sort: tuple[Sort, ...], field: str
) -> None:
    with pytest.raises(InvalidArgument) as err:
        await orders.search("orders", query, sort=sort)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in violation_fields(err.value)
    if not sort:
        with pytest.raises(InvalidArgument):
            await orders.count("orders", query)


async def test_bad_cursor_and_size(orders: Store) -> None:
    for cursor in ["not a cursor!", "bm9wZQ=="]:
        with pytest.raises(InvalidArgument) as err:
            await orders.search("orders", cursor=cursor)
        assert violation_fields(err.value) == ["cursor"]
    # A cursor from one sort does not fit another.
    page = await orders.search("orders", sort=(Sort("price"),), size=2)
    with pytest.raises(InvalidArgument) as err:
        await orders.search("orders", cursor=page.next_cursor)
    assert violation_fields(err.value) == ["cursor"]
    with pytest.raises(InvalidArgument) as err:
        await orders.search("orders", size=0)
    assert violation_fields(err.value) == ["size"]


@pytest.mark.parametrize(
    "text", [" ".join(["cats"] * 2000), ",".join(["dogs"] * 3000)], ids=["words", "chars"]
)
async def test_oversized_match_is_refused_naming_it(orders: Store, text: str) -> None:
    for match_any in (False, True):
        with pytest.raises(InvalidArgument) as raised:
            await orders.search("orders", Query(match=text, match_any=match_any))
        assert violation_fields(raised.value) == ["query.match"]
