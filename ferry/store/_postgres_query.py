"""Query compilation for the PostgreSQL store: filters, full-text match, sort and cursor as SQL.

Queries: filters and sorts read JSON fields with ``jsonb`` operators on the
sources (cast once per row; paths and values are bound parameters), so they
cost a parse of every document of the index they look at; ids, counts of
everything, full-text match, snapshots and history reads go by index.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from ferry.errors import InvalidArgument
from ferry.store._postgres_schema import CURRENT, IndexRow
from ferry.store.model import FilterOp, Query, Sort

# Search ---------------------------------------------------------------------

_TYPE_RANK = (
    "(CASE jsonb_typeof({v}) WHEN 'number' THEN 1 WHEN 'boolean' THEN 1 WHEN 'string' THEN 2"
    " WHEN 'object' THEN 3 WHEN 'array' THEN 3 ELSE 0 END)"
)
_NUMBER = (
    "(CASE jsonb_typeof({v}) WHEN 'number' THEN ({t})::numeric"
    " WHEN 'boolean' THEN CASE WHEN {t} = 'true' THEN 1 ELSE 0 END ELSE 0 END)"
)
_TEXT = "(CASE WHEN jsonb_typeof({v}) IN ('string', 'object', 'array') THEN {t} ELSE '' END)"


class Search:
    """Search builds one search or count: its rows, conditions, order and parameters.

    ``x`` is the index's documents (doc_id, shard, seq_no and, when filters or
    sorts need fields, ``j``, the source as jsonb). Sort keys are, per sorted
    field, (type rank, number, text): numbers compare as numbers, strings by
    code point, missing and null first (ascending); ties break on id. A
    cursor holds the last hit's keys.
    """

    def __init__(self, idx: IndexRow, query: Query, sort: Sequence[Sort]) -> None:
        self.params: list[Any] = [idx.id]
        self._paths: dict[str, str] = {}
        self._inner = ["d.index_id = $1"]  # on ferry_docs d
        self._outer: list[str] = []  # on x
        self.keys: list[tuple[str, bool, str]] = []  # (expression, descending, cast)
        self._json = bool(query.filters or sort)
        for f in query.filters:
            self._filter(f.field, f.op, f.value, {">": f.gt, ">=": f.gte, "<": f.lt, "<=": f.lte})
        if query.match.strip():
            self._match(idx, query.match.replace("\x00", " "), query.match_any)
        for s in sort:
            v, t = self._value(s.field), self._text(s.field)
            self.keys.append((_TYPE_RANK.format(v=v), s.descending, "int"))
            self.keys.append((_NUMBER.format(v=v, t=t), s.descending, "numeric"))
            self.keys.append((_TEXT.format(v=v, t=t) + ' COLLATE "C"', s.descending, "text"))

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def _path(self, field: str) -> str:
        if field not in self._paths:
            self._paths[field] = self.bind(field.split(".")) + "::text[]"
        return self._paths[field]

    def _value(self, field: str) -> str:
        return f"(x.j #> {self._path(field)})"

    def _text(self, field: str) -> str:
        return f"(x.j #>> {self._path(field)})"

    def _filter(self, field: str, op: FilterOp, value: Any, bounds: dict[str, Any]) -> None:
        v, t = self._value(field), self._text(field)
        if any(isinstance(x, str) and "\x00" in x for x in (value, *bounds.values())):
            # No stored document holds NUL (see prepare_bulk); PostgreSQL
            # cannot even take it as a parameter.
            self._outer.append("false")
        elif op is FilterOp.TERM:
            self._outer.append(f"{v} = {self.bind(json.dumps(value))}::jsonb")
        elif op is FilterOp.PREFIX:
            self._outer.append(
                f"(jsonb_typeof({v}) = 'string' AND starts_with({t}, {self.bind(value)}::text))"
            )
        elif op is FilterOp.EXISTS:
            self._outer.append(f"coalesce(jsonb_typeof({v}), 'null') <> 'null'")
        elif op is FilterOp.RANGE:
            given = {sym: b for sym, b in bounds.items() if b is not None}
            if all(isinstance(b, str) for b in given.values()):
                expr = f"(CASE WHEN jsonb_typeof({v}) = 'string' THEN {t} END) COLLATE \"C\""
                for sym, b in given.items():
                    self._outer.append(f"{expr} {sym} {self.bind(b)}::text")
            else:
                # CASE, not AND: PostgreSQL does not promise to test the type first.
                expr = f"(CASE WHEN jsonb_typeof({v}) = 'number' THEN ({t})::numeric END)"
                for sym, b in given.items():
                    self._outer.append(f"{expr} {sym} {self.bind(Decimal(repr(b)))}::numeric")

    def _match(self, idx: IndexRow, text: str, match_any: bool) -> None:
        if not idx.spec.schema.text_fields():
            raise InvalidArgument.field(
                "query.match", f"index {idx.spec.name!r} has no text fields to match"
            )
        # User text only reaches plainto_tsquery, as a parameter: it reads no operators,
        # so quotes, &, |, !, : and the like are plain text. Every word: one call ANDs all
        # lexemes. Any word: one call per word (ANDing that word's lexemes, as FTS5 does a
        # quoted word's tokens); PostgreSQL prints each result with its lexemes quoted,
        # and those are ORed and read back. A word without lexemes adds nothing. Either
        # way the tsquery is one value (an InitPlan for OR), so the GIN index on
        # ferry_words.words serves it; one array parameter keeps any word count linear.
        if match_any:
            tsquery = (
                "SELECT coalesce(string_agg('(' || q::text || ')', ' | '), '')::tsquery"
                f" FROM unnest({self.bind(text.split())}::text[]) AS u(word),"
                " plainto_tsquery('simple', u.word) AS q WHERE numnode(q) > 0"
            )
        else:
            tsquery = f"plainto_tsquery('simple', {self.bind(text)})"
        self._inner.append(
            "(d.shard, d.doc_id) IN (SELECT w.shard, w.doc_id FROM ferry_words w"
            f" WHERE w.index_id = $1 AND w.words @@ ({tsquery}))"
        )

    def after(self, values: list[Any]) -> None:
        """after continues from a cursor: rows strictly past its keys."""
        *keys, last_id = values
        if not isinstance(last_id, str) or "\x00" in last_id:
            raise InvalidArgument.field("cursor", "is not a cursor this store issued")
        condition = f"x.doc_id > {self.bind(last_id)}"
        for (expr, descending, cast), value in reversed(list(zip(self.keys, keys, strict=True))):
            p = f"{self.bind(_cursor_param(value, cast))}::{cast}"
            condition = (
                f"({expr} {'<' if descending else '>'} {p} OR ({expr} = {p} AND {condition}))"
            )
        self._outer.append(condition)

    def rows(self) -> str:
        inner = " AND ".join(self._inner)
        if not self._json:
            return f"(SELECT d.doc_id, d.shard, d.seq_no FROM ferry_docs d WHERE {inner}) AS x"
        # OFFSET 0 keeps the subquery whole, so each source is parsed once.
        return (
            "(SELECT d.doc_id, d.shard, d.seq_no, convert_from(o.source, 'UTF8')::jsonb AS j"
            f" FROM {CURRENT} WHERE {inner} OFFSET 0) AS x"
        )

    def where(self) -> str:
        return " AND ".join(self._outer) or "true"

    def order(self, alias: str) -> str:
        """order is the ORDER BY list: over x's expressions, or an outer query's k columns."""
        keys = [
            f"{expr if alias == 'x' else f'{alias}.k{i}'} {'DESC' if desc else 'ASC'}"
            for i, (expr, desc, _) in enumerate(self.keys)
        ]
        return ", ".join([*keys, f"{alias}.doc_id ASC"])


def cursor_value(value: Any) -> Any:
    """cursor_value makes a sort key JSON-safe: numerics travel as exact strings."""
    return str(value) if isinstance(value, Decimal) else value


def _cursor_param(value: Any, cast: str) -> Any:
    try:
        if cast == "int" and isinstance(value, int) and not isinstance(value, bool):
            return value
        if cast == "numeric" and isinstance(value, str):
            return Decimal(value)
        if cast == "text" and isinstance(value, str) and "\x00" not in value:
            return value
    except InvalidOperation:
        pass
    raise InvalidArgument.field("cursor", "is not a cursor this store issued")
