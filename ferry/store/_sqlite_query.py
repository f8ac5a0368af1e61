"""Query compilation for the SQLite store: filters, full-text match, sort and cursor as SQL.

Field paths are validated by :data:`~ferry.store.common.FIELD_PATH`, but are
still bound as parameters (as JSON paths ``$."a"."b"``); only fixed SQL text
and the index's own full-text table name are ever spliced in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ferry.errors import InvalidArgument
from ferry.store._sqlite_schema import IndexRow
from ferry.store.common import decode_cursor
from ferry.store.model import Filter, FilterOp, Query, Sort

_NUMBER = "json_type(o.source, {p}) IN ('integer', 'real')"
_STRING = "json_type(o.source, {p}) = 'text'"
_WORD = re.compile(r"[^\W_]", re.UNICODE)


@dataclass
class Compiled:
    """Compiled is a WHERE clause (over ``docs d JOIN ops o``) with its named parameters."""

    where: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def path(self, dotted: str) -> str:
        return self.bind("$" + "".join(f'."{part}"' for part in dotted.split(".")))


def compile_query(index: IndexRow, query: Query) -> Compiled:
    """compile_query turns filters and match into SQL; call check_query first."""
    compiled = Compiled()
    compiled.where.append(f"d.index_id = {compiled.bind(index.id)}")
    for f in query.filters:
        compiled.where.append(_filter(compiled, f))
    if query.match.strip():
        compiled.where.append(_match(compiled, index, query.match, query.match_any))
    return compiled


def _filter(c: Compiled, f: Filter) -> str:
    p = c.path(f.field)
    value = f"json_extract(o.source, {p})"
    if f.op is FilterOp.EXISTS:
        return f"coalesce(json_type(o.source, {p}), 'null') != 'null'"
    if f.op is FilterOp.PREFIX:
        prefix = c.bind(f.value)
        return f"{_STRING.format(p=p)} AND substr({value}, 1, length({prefix})) = {prefix}"
    if f.op is FilterOp.TERM:
        if isinstance(f.value, bool):
            return f"json_type(o.source, {p}) = '{'true' if f.value else 'false'}'"
        kind = _STRING if isinstance(f.value, str) else _NUMBER
        return f"{kind.format(p=p)} AND {value} = {c.bind(f.value)}"
    # RANGE: the bounds are all numbers or all strings (check_query), and so must the value
    # be: "10" and 9 never compare.
    bounds = [(">", f.gt), (">=", f.gte), ("<", f.lt), ("<=", f.lte)]
    strings = any(isinstance(b, str) for _, b in bounds)
    terms = [(_STRING if strings else _NUMBER).format(p=p)]
    terms += [f"{value} {op} {c.bind(b)}" for op, b in bounds if b is not None]
    return " AND ".join(terms)


def _match(c: Compiled, index: IndexRow, match: str, match_any: bool) -> str:
    if index.fts_table is None:
        raise InvalidArgument.field(
            "query.match", f"index {index.name!r} has no text fields to match against"
        )
    # Each word is an FTS5 string (quoted, inner quotes doubled), so FTS5 syntax in user
    # input (OR, NEAR, *, :, parentheses) is plain text; only the joins are ours.
    # NUL would end FTS5's reading of the query; no document holds one, so it separates.
    words = [w for w in match.replace("\x00", " ").split() if _WORD.search(w)]
    if not words:
        return "0"  # no searchable word: nothing matches
    fts_query = (" OR " if match_any else " ").join('"' + w.replace('"', '""') + '"' for w in words)
    return (
        f"d.op_id IN (SELECT rowid FROM {index.fts_table}"
        f" WHERE {index.fts_table} MATCH {c.bind(fts_query)})"
    )


@dataclass(frozen=True)
class Ordering:
    """Ordering is a search's ORDER BY and the keyset condition for the page after a cursor.

    Each sort field gives two keys: "is missing" (missing values sort last in
    either direction) and the value; the document id breaks ties, ascending.
    """

    select: list[str]
    order_by: str
    after: str | None


def compile_ordering(c: Compiled, sort: Sequence[Sort], cursor: str) -> Ordering:
    keys: list[tuple[str, bool]] = []  # (expression, descending)
    select = []
    for s in sort:
        value = f"json_extract(o.source, {c.path(s.field)})"
        select.append(value)
        keys += [(f"({value} IS NULL)", False), (value, s.descending)]
    keys.append(("d.doc_id", False))
    order_by = ", ".join(f"{expr} DESC" if desc else expr for expr, desc in keys)
    if not cursor:
        return Ordering(select, order_by, None)
    values = decode_cursor(cursor, len(sort) + 1)
    last: list[Any] = []
    for value in values[:-1]:
        last += [int(value is None), value]
    last.append(values[-1])
    # (k1, k2, ...) > (v1, v2, ...) key by key, each in its own direction; IS is
    # equality that treats NULL as a value.
    bound = [c.bind(v) for v in last]
    alternatives = []
    for i, (expr, desc) in enumerate(keys):
        equal = [f"{keys[j][0]} IS {bound[j]}" for j in range(i)]
        alternatives.append(" AND ".join([*equal, f"{expr} {'<' if desc else '>'} {bound[i]}"]))
    return Ordering(select, order_by, "(" + " OR ".join(f"({a})" for a in alternatives) + ")")
