"""What the SQL sources (PostgreSQL, SQLite) share: config, keyset scans, cursors, plans.

A SQL source reads ``tables`` or one ``query``. Every read is a keyset page,
``SELECT * FROM <relation> AS q WHERE <filters> AND (ids) > (last ids)
ORDER BY ids LIMIT page_size``, so a source holds one page in memory however
large the table, and holds no transaction between pages (no long snapshot
pinning the database's garbage collection while the index catches up).

- A FULL sync scans by the id columns. When a ``cursor_column`` is set it
  first takes that column's maximum (the *high-water mark*): rows changed
  while the scan runs get a value above it, so the next INCREMENTAL sync,
  which starts from the mark (inclusive), sees them even when the scan had
  already passed them. Rows that vanished are removed by the job's sweep.
- An INCREMENTAL sync reads rows whose ``(cursor_column, ids)`` is past the
  last one seen, in that order. It sees inserts and updates, and deletes only
  as rows whose ``soft_delete_column`` is true; rows with a NULL cursor value
  are only seen by FULL syncs. Like every cursor-column sync it relies on the
  value growing in commit order: a transaction that commits a value older
  than one already read is missed until the next FULL sync.
  The first INCREMENTAL sync (no checkpoint yet) scans everything, as a FULL
  sync without the sweep.

Cursors are JSON objects that travel through protobuf Struct, whose numbers
are floats: every database value in them is a tagged string (``int:42``,
``datetime:2024-05-01T10:00:00+00:00``) decoded back to the value the driver
returned, so the database compares it with its own type. A task's cursor is
``{"full": true?, "tables": {label: state}}``, one state per table (label
``query`` in query mode), each either ``{"scan": {"after": [...],
"high_water": ...}}`` during a scan, or ``{"cursor": ..., "after": [...]}``
once synced (``after`` absent: from ``cursor`` inclusive; ``{}``: synced,
nothing to resume from).
"""

from __future__ import annotations

import abc
import base64
import json
import math
import re
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from ferry.connectors.sdk import (
    Checkpoint,
    Delete,
    Document,
    Field,
    FieldType,
    Source,
    TaskPlan,
)
from ferry.errors import FailedPrecondition, FieldViolation, InvalidArgument

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}\Z")
"""IDENTIFIER is a column name or one part of a table name; always quoted, so matched exactly."""
QUERY_LABEL = "query"
ADVANCED_KEYS = ("where",)

COMMON_FIELDS = (
    Field(name="tables", type=FieldType.LIST,
          description="Tables to read, as name or schema.name, spelled as the catalog stores "
                      "them (names are quoted). Exactly one of tables and query."),
    Field(name="query", type=FieldType.STRING,
          description="A SELECT whose rows are the documents, instead of tables; needs "
                      "id_columns. Keep it simple enough for the database to push the keyset "
                      "filter into it (joins and filters are, aggregates over other keys not)."),
    Field(name="id_columns", type=FieldType.LIST,
          description="Columns that identify a row (unique, not null): the document id and the "
                      "scan order. Default: the table's primary key. Required with query."),
    Field(name="cursor_column", type=FieldType.STRING,
          description="A column that grows whenever a row changes (updated_at, a version): "
                      "INCREMENTAL syncs read rows past the last value seen. Without it the "
                      "source syncs FULL only."),
    Field(name="soft_delete_column", type=FieldType.STRING,
          description="A boolean column: rows where it is true are deleted from the index, "
                      "which is how INCREMENTAL syncs see deletions."),
    Field(name="page_size", type=FieldType.INTEGER, default=1000, minimum=1, maximum=100_000,
          description="Rows per query: the most rows the source holds in memory."),
    Field(name="checkpoint_every", type=FieldType.INTEGER, default=1, minimum=1,
          maximum=1_000_000, description="Yield a checkpoint after this many pages."),
)  # fmt: skip


# Configuration --------------------------------------------------------------------------


def identifier_error(name: Any, *, dotted: bool = False) -> str | None:
    """identifier_error says why name is not a column name (or, dotted, a table name)."""
    if not isinstance(name, str):
        return f"must be a string, got {type(name).__name__}"
    parts = name.split(".")
    if len(parts) > (2 if dotted else 1) or not all(IDENTIFIER.match(p) for p in parts):
        shape = "name or schema.name" if dotted else "name"
        return (
            f"{name!r} is not a plain {shape}: letters, digits and _, not starting with a digit, "
            "at most 63 characters"
        )
    return None


def quote(name: str, *, dotted: bool = False) -> str:
    """quote is name as a double-quoted SQL identifier; raises InvalidArgument if it is not one."""
    problem = identifier_error(name, dotted=dotted)
    if problem is not None:
        raise InvalidArgument(problem)
    return ".".join(f'"{part}"' for part in name.split("."))


def _lex_problem(text: str, *, allow_trailing_semicolon: bool = False) -> str | None:
    """_lex_problem finds what would let text escape the parentheses it is placed in:
    a ';', a comment, unbalanced parentheses (string literals and quoted names skipped)."""
    if allow_trailing_semicolon:
        text = text.rstrip().rstrip(";")
    depth, i, quote_char = 0, 0, ""
    while i < len(text):
        c = text[i]
        if quote_char:
            if c == quote_char:
                quote_char = ""
        elif c in "'\"":
            quote_char = c
        elif c == ";":
            return "must be one statement, without ';'"
        elif text.startswith(("--", "/*"), i):
            return "must not hold SQL comments"
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                return "has a ')' without its '('"
        i += 1
    if quote_char:
        return f"has an unterminated {quote_char} quote"
    if depth:
        return "has a '(' without its ')'"
    return None


def validate_config(config: Mapping[str, Any]) -> list[FieldViolation]:
    """validate_config checks the fields every SQL source has; paths start "config."."""
    errors: list[FieldViolation] = []
    tables, query = config.get("tables"), config.get("query")
    if tables is not None and query is not None:
        errors.append(FieldViolation("config.query", "give tables or query, not both"))
    elif tables is None and query is None:
        errors.append(
            FieldViolation("config.tables", "give tables (a list of names) or query (a SELECT)")
        )
    if tables is not None:
        if not tables:
            errors.append(FieldViolation("config.tables", "must name at least one table"))
        for i, name in enumerate(tables):
            if (problem := identifier_error(name, dotted=True)) is not None:
                errors.append(FieldViolation(f"config.tables[{i}]", problem))
            elif name in tables[:i]:
                errors.append(FieldViolation(f"config.tables[{i}]", f"{name!r} is listed twice"))
    if query is not None:
        words = query.split(None, 1)
        if not words or words[0].lower() not in ("select", "with"):
            errors.append(FieldViolation("config.query", "must be a SELECT (or WITH ... SELECT)"))
        elif (problem := _lex_problem(query, allow_trailing_semicolon=True)) is not None:
            errors.append(FieldViolation("config.query", problem))
        if config.get("id_columns") is None:
            errors.append(FieldViolation("config.id_columns", "is required with query"))
    ids = config.get("id_columns")
    if ids is not None:
        if not ids:
            errors.append(FieldViolation("config.id_columns", "must name at least one column"))
        for i, name in enumerate(ids):
            if (problem := identifier_error(name)) is not None:
                errors.append(FieldViolation(f"config.id_columns[{i}]", problem))
            elif name in ids[:i]:
                problem = f"{name!r} is listed twice"
                errors.append(FieldViolation(f"config.id_columns[{i}]", problem))
    for key in ("cursor_column", "soft_delete_column"):
        if config.get(key) is not None and (problem := identifier_error(config[key])) is not None:
            errors.append(FieldViolation(f"config.{key}", problem))
    return errors


def validate_advanced(rules: Mapping[str, Any]) -> list[FieldViolation]:
    """validate_advanced checks ``rules.advanced``: ``{"where": "<SQL boolean expression>"}``."""
    errors = [
        FieldViolation(f"rules.advanced.{key}", "unknown advanced rule (known: where)")
        for key in sorted(set(rules) - set(ADVANCED_KEYS))
    ]
    if "where" in rules:
        where = rules["where"]
        if not isinstance(where, str) or not where.strip():
            problem: str | None = "must be a non-empty SQL boolean expression"
        else:
            problem = _lex_problem(where)
        if problem is not None:
            errors.append(FieldViolation("rules.advanced.where", problem))
    return errors


# Task planning ----------------------------------------------------------------------------


def labels_of(config: Mapping[str, Any]) -> list[str]:
    """labels_of names what the config reads: its tables, or ``query``."""
    return [QUERY_LABEL] if config.get("query") is not None else list(config.get("tables") or [])


def plan(config: Mapping[str, Any], tasks_max: int) -> list[TaskPlan]:
    """plan splits the tables (or the query) into at most ``tasks_max`` tasks.

    More tables than tasks: contiguous groups ``tables-i-of-n``, each task
    reading its tables in turn. Otherwise one task per table (``table-NAME``,
    or ``query``), and when ``tasks_max`` allows it each table is split into
    ``parts`` partitions ``table-NAME-part-i-of-parts``: partition ``i`` holds
    the rows whose first id column is ``i`` modulo ``parts`` (a hash of it for
    non-integer ids).

    Not key ranges from min/max: planning runs on the coordinator, which must
    not reach the database (no I/O in a plan, and the password is resolvable
    only on agents), and a range plan would skew with every gap in the keys.
    The modulo split is even and its names are stable, which the checkpoints
    keyed by partition need. Each partition task still walks the whole id
    index, reading one row in ``parts`` of it.
    """
    problems = validate_config(config)
    if problems:
        raise InvalidArgument.fields(problems)
    labels = labels_of(config)
    count = max(1, tasks_max)
    if len(labels) > count:
        size = -(-len(labels) // count)
        groups = [labels[i : i + size] for i in range(0, len(labels), size)]
        return [
            TaskPlan(partition=f"tables-{i}-of-{len(groups)}", params={"targets": group})
            for i, group in enumerate(groups)
        ]
    parts = count // len(labels)
    plans = []
    for label in labels:
        base = QUERY_LABEL if label == QUERY_LABEL else f"table-{label}"
        if parts == 1:
            plans.append(TaskPlan(partition=base, params={"targets": [label]}))
            continue
        plans.extend(
            TaskPlan(
                partition=f"{base}-part-{i}-of-{parts}",
                params={"targets": [label], "part": i, "parts": parts},
            )
            for i in range(parts)
        )
    return plans


# Values --------------------------------------------------------------------------------


def encode_value(value: Any, where: str) -> str:
    """encode_value is a key or cursor value as a tagged string that survives JSON exactly."""
    if isinstance(value, bool):
        return "bool:true" if value else "bool:false"
    if isinstance(value, int):
        return f"int:{value}"
    if isinstance(value, float):
        return f"float:{value!r}"
    if isinstance(value, Decimal):
        return f"decimal:{value}"
    if isinstance(value, str):
        return f"str:{value}"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "bytes:" + base64.b64encode(bytes(value)).decode()
    if isinstance(value, (datetime, date, time)):
        return f"{type(value).__name__}:{value.isoformat()}"
    if isinstance(value, uuid.UUID):
        return f"uuid:{value}"
    raise FailedPrecondition(
        f"{where}: a {type(value).__name__} value cannot be an id or cursor value "
        "(use columns of number, text, bytes, date/time or uuid types)"
    )


_DECODERS: dict[str, Any] = {
    "bool": lambda s: s == "true",
    "int": int,
    "float": float,
    "decimal": Decimal,
    "str": str,
    "bytes": base64.b64decode,
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "time": time.fromisoformat,
    "uuid": uuid.UUID,
}


def decode_value(text: Any, where: str) -> Any:
    """decode_value inverts :func:`encode_value`; InvalidArgument names ``where`` if malformed."""
    tag, sep, body = text.partition(":") if isinstance(text, str) else ("", "", "")
    decoder = _DECODERS.get(tag)
    if not sep or decoder is None:
        raise InvalidArgument.field(where, f"{text!r} is not a tagged value like 'int:42'")
    try:
        return decoder(body)
    except (ValueError, ArithmeticError) as exc:
        raise InvalidArgument.field(where, f"{text!r}: {exc}") from None


def json_value(value: Any) -> Any:
    """json_value is a database value as JSON: dates in ISO 8601, exact decimals as numbers
    (others as strings), bytes in base64, non-finite numbers as null."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return str(value)  # uuid, network addresses, geometric types


def id_text(value: Any) -> str:
    """id_text is one id column's value as document id text."""
    kind = type(value)
    if kind is str:  # the usual id columns first, without the isinstance chain
        return value
    if kind is int:
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return str(value)


_AS_IS = frozenset({str, int, bool, type(None)})
"""_AS_IS are the value types :func:`json_value` returns unchanged (exactly these, not
subclasses): a row holding only these is already its document source."""


# The dialect hooks -----------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Target is what one scan reads: a table or the query, maybe one partition of it."""

    label: str
    """label: the table as configured, or ``query``."""
    relation: str
    """relation: SQL for the FROM clause, a quoted table name or the parenthesised query."""
    part: int = 0
    parts: int = 1

    @property
    def field(self) -> str:
        return "config.query" if self.label == QUERY_LABEL else "config.tables"


@dataclass(frozen=True)
class Column:
    """Column is one column of a target's rows."""

    name: str
    integer: bool
    """integer: of an integer type, so that partitions can take it modulo their count."""


class Reader(abc.ABC):
    """Reader is one open, read-only connection of a SQL source: its dialect's hooks."""

    @abc.abstractmethod
    def param(self, n: int) -> str:
        """param is the placeholder of the n-th (1-based) query parameter."""

    @abc.abstractmethod
    def partition_filter(self, column: Column, part: int, parts: int) -> str:
        """partition_filter is a condition true for exactly one ``part`` of ``parts`` per value."""

    @abc.abstractmethod
    async def columns(self, target: Target) -> list[Column]:
        """columns lists the target's columns; FailedPrecondition naming its field if unreadable."""

    @abc.abstractmethod
    async def primary_key(self, target: Target) -> list[str]:
        """primary_key is the table's primary key columns in key order ([] if none)."""

    @abc.abstractmethod
    async def fetch(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        """fetch runs one read and returns its rows, each a new dict the caller owns (a row
        of plain values becomes a document's source as it is)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """close releases the connection; idempotent."""


# The source --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Shape:
    """_Shape is a target's columns as resolved against the database at stream time."""

    ids: tuple[str, ...]
    first_id: Column
    cursor: str | None
    soft_delete: str | None


class SqlSource(Source, abc.ABC):
    """SqlSource is the scan logic of the SQL sources; subclasses open a :class:`Reader`."""

    incremental = True
    advanced_rules = True

    def relation_of_query(self, query: str) -> str:
        """relation_of_query is the query as a FROM item; on lines of its own, so that a
        trailing comment ends before the ")"."""
        return "(\n" + query.rstrip().rstrip(";") + "\n)"

    @abc.abstractmethod
    async def open_reader(self) -> Reader:
        """open_reader connects read-only; Unavailable when the database cannot be reached."""

    @classmethod
    def plan_tasks(cls, config: Mapping[str, Any], tasks_max: int) -> Sequence[TaskPlan]:
        return plan(config, tasks_max)

    @classmethod
    def validate(cls, config: Mapping[str, Any]) -> list[FieldViolation]:
        return validate_config(config)

    @classmethod
    def validate_advanced_rules(cls, rules: Mapping[str, Any]) -> list[FieldViolation]:
        return validate_advanced(rules)

    def targets(self, task: TaskPlan) -> list[Target]:
        """targets are the task's tables (or query) with its partition."""
        configured = labels_of(self.config)
        labels = task.params.get("targets") or configured
        part, parts = int(task.params.get("part", 0)), int(task.params.get("parts", 1))
        targets = []
        for label in labels:
            if label not in configured:
                raise FailedPrecondition(
                    f"task {task.partition} reads {label!r}, which the config no longer names",
                    subject=task.partition,
                )
            if label == QUERY_LABEL:
                relation = self.relation_of_query(self.config["query"])
            else:
                relation = quote(label, dotted=True)
            targets.append(Target(label, relation, part, parts))
        return targets

    async def stream(
        self, task: TaskPlan, *, full: bool, cursor: Mapping[str, Any] | None
    ) -> AsyncIterator[Document | Delete | Checkpoint]:
        if not full and self.config.get("cursor_column") is None:
            raise FailedPrecondition(
                "INCREMENTAL sync needs config.cursor_column (a column that grows when a row "
                "changes); without it this source syncs FULL only",
                type="CONFIG",
                subject="config.cursor_column",
            )
        targets = self.targets(task)
        cursor = cursor or {}
        # A FULL job resumes only its own checkpoints; anything else starts it afresh.
        resuming_full = full and cursor.get("full") is True
        states: dict[str, Any] = {}
        if not full or resuming_full:
            held = cursor.get("tables", {})
            if not isinstance(held, Mapping):
                raise InvalidArgument.field("cursor.tables", "must be an object")
            states = {t.label: held[t.label] for t in targets if t.label in held}
        reader = await self.open_reader()
        try:
            for target in targets:
                state = states.get(target.label)
                if resuming_full and state is not None and "scan" not in state:
                    continue  # this job synced it already
                async for item in await self._target(reader, target, state, full=full):
                    if isinstance(item, dict):
                        states = {**states, target.label: item}
                        yield Checkpoint({**({"full": True} if full else {}), "tables": states})
                    else:
                        yield item
        finally:
            await reader.close()

    async def _shape(self, reader: Reader, target: Target) -> _Shape:
        columns = {c.name: c for c in await reader.columns(target)}
        ids = tuple(self.config.get("id_columns") or ())
        if not ids:
            ids = tuple(await reader.primary_key(target))
            if not ids:
                raise FailedPrecondition(
                    f"table {target.label} has no primary key: set config.id_columns",
                    type="CONFIG",
                    subject="config.id_columns",
                )
        named = [(c, "config.id_columns") for c in ids] + [
            (self.config[key], f"config.{key}")
            for key in ("cursor_column", "soft_delete_column")
            if self.config.get(key) is not None
        ]
        for name, where in named:
            if name not in columns:
                raise FailedPrecondition(
                    f"{where}: {target.label} has no column {name!r} "
                    f"(it has {', '.join(sorted(columns))})",
                    type="CONFIG",
                    subject=where,
                )
        return _Shape(
            ids=ids,
            first_id=columns[ids[0]],
            cursor=self.config.get("cursor_column"),
            soft_delete=self.config.get("soft_delete_column"),
        )

    async def _target(
        self, reader: Reader, target: Target, state: Any, *, full: bool
    ) -> AsyncIterator[Document | Delete | dict[str, Any]]:
        """_target is the scan of one target; a dict it yields is a new state (a checkpoint).

        It returns the scan rather than re-yielding its items: one generator
        less for every row to pass through.
        """
        where = f"cursor.tables.{target.label}"
        if state is not None and not isinstance(state, Mapping):
            raise InvalidArgument.field(where, "must be an object")
        shape = await self._shape(reader, target)
        scan = _Scan(self, reader, target, shape)
        if state is not None and "scan" in state:
            held = state["scan"]
            if not isinstance(held, Mapping):
                raise InvalidArgument.field(f"{where}.scan", "must be an object")
            high = held.get("high_water")
            if high is not None:
                decode_value(high, f"{where}.scan.high_water")
            after = scan.decode_keys(held.get("after"), len(shape.ids), f"{where}.scan.after")
            return scan.by_ids(after, high)
        if full or state is None or "cursor" not in state:
            return scan.by_ids(None, await scan.high_water())
        return scan.by_cursor(state, where)


class _Scan:
    """_Scan builds and runs the keyset pages of one target."""

    def __init__(self, source: SqlSource, reader: Reader, target: Target, shape: _Shape) -> None:
        self.reader = reader
        self.target = target
        self.shape = shape
        config = {**source.schema.defaults, **source.config}
        self.page_size = int(config["page_size"])
        self.every = int(config["checkpoint_every"])
        self.prefix = f"{target.label}:" if len(labels_of(source.config)) > 1 else ""
        self.params: list[Any] = []
        filters = [f"q.{quote(c)} IS NOT NULL" for c in shape.ids]
        where = source.advanced.get("where")
        if where:
            filters.append(f"({where})")
        if target.parts > 1:
            filters.append(reader.partition_filter(shape.first_id, target.part, target.parts))
        self.filters = filters

    def decode_keys(self, held: Any, count: int, where: str) -> list[Any] | None:
        if held is None:
            return None
        if not isinstance(held, list) or len(held) != count:
            raise InvalidArgument.field(where, f"must be a list of {count} values")
        return [decode_value(v, f"{where}[{i}]") for i, v in enumerate(held)]

    def _bind(self, value: Any) -> str:
        self.params.append(value)
        return self.reader.param(len(self.params))

    def _after(self, columns: Sequence[str], values: Sequence[Any]) -> str:
        names = ", ".join(f"q.{quote(c)}" for c in columns)
        bound = ", ".join(self._bind(v) for v in values)
        return f"({names}) > ({bound})" if len(columns) > 1 else f"{names} > {bound}"

    async def _page(self, extra: list[str], order: Sequence[str]) -> list[dict[str, Any]]:
        sql = (
            f"SELECT * FROM {self.target.relation} AS q"
            f" WHERE {' AND '.join(self.filters + extra)}"
            f" ORDER BY {', '.join(f'q.{quote(c)}' for c in order)}"
            f" LIMIT {self.page_size}"
        )
        params, self.params = self.params, []
        return await self.reader.fetch(sql, params)

    async def high_water(self) -> str | None:
        """high_water is the cursor column's maximum now, encoded; None without one."""
        cursor = self.shape.cursor
        if cursor is None:
            return None
        rows = await self.reader.fetch(
            f"SELECT max(q.{quote(cursor)}) AS high FROM {self.target.relation} AS q"
            f" WHERE {' AND '.join(self.filters)}",
            [],
        )
        high = rows[0]["high"] if rows else None
        return None if high is None else encode_value(high, f"config.cursor_column ({cursor})")

    def _item(self, row: Mapping[str, Any]) -> Document | Delete:
        ids = self.shape.ids
        if len(ids) == 1:
            doc_id = self.prefix + id_text(row[ids[0]])
        else:
            text = [id_text(row[c]) for c in ids]
            doc_id = self.prefix + json.dumps(text, ensure_ascii=False, separators=(",", ":"))
        if self.shape.soft_delete is not None and row[self.shape.soft_delete]:
            return Delete(id=doc_id)
        # Most rows hold only strings, integers, booleans and NULLs: then the row (a dict
        # of its own, never changed afterwards) is the source as it is, without a copy.
        if type(row) is dict:
            for value in row.values():
                if type(value) not in _AS_IS:
                    break
            else:
                return Document(id=doc_id, source=row)
        return Document(id=doc_id, source={k: json_value(v) for k, v in row.items()})

    def _encode(self, row: Mapping[str, Any], columns: Sequence[str]) -> list[str]:
        return [encode_value(row[c], f"config.id_columns ({c})") for c in columns]

    async def by_ids(
        self, after: list[Any] | None, high: str | None
    ) -> AsyncIterator[Document | Delete | dict[str, Any]]:
        """by_ids scans in id order after ``after``; it ends synced from ``high`` inclusive."""
        ids = self.shape.ids
        last: list[str] | None = None
        pages = 0
        while True:
            extra = [] if after is None else [self._after(ids, after)]
            rows = await self._page(extra, ids)
            for row in rows:
                yield self._item(row)
            if len(rows) < self.page_size:
                break
            keys = self._encode(rows[-1], ids)
            self._check_progress(last, keys)
            last, after = keys, [rows[-1][c] for c in ids]
            pages += 1
            if pages % self.every == 0:
                yield {"scan": {"after": keys} | ({"high_water": high} if high else {})}
        yield {} if high is None else {"cursor": high}

    async def by_cursor(
        self, state: Mapping[str, Any], where: str
    ) -> AsyncIterator[Document | Delete | dict[str, Any]]:
        """by_cursor reads rows past ``state`` in (cursor column, ids) order."""
        cursor = self.shape.cursor
        assert cursor is not None
        order = (cursor, *self.shape.ids)
        value = decode_value(state["cursor"], f"{where}.cursor")
        after = self.decode_keys(state.get("after"), len(self.shape.ids), f"{where}.after")
        latest: dict[str, Any] = dict(state)
        last: list[str] | None = None
        pages = 0
        while True:
            extra = [f"q.{quote(cursor)} IS NOT NULL"]
            if after is None:
                extra.append(f"q.{quote(cursor)} >= {self._bind(value)}")
            else:
                extra.append(self._after(order, [value, *after]))
            rows = await self._page(extra, order)
            for row in rows:
                yield self._item(row)
            if rows:
                keys = self._encode(rows[-1], order)
                self._check_progress(last, keys)
                last = keys
                latest = {"cursor": keys[0], "after": keys[1:]}
                value, after = rows[-1][cursor], [rows[-1][c] for c in self.shape.ids]
                pages += 1
            if len(rows) < self.page_size:
                break
            if pages % self.every == 0:
                yield latest
        yield latest

    def _check_progress(self, last: list[str] | None, keys: list[str]) -> None:
        # A where rule or a key the database orders differently could repeat a page for ever.
        if keys == last:
            raise FailedPrecondition(
                f"{self.target.label}: the scan did not advance past {keys}; are the id "
                "columns unique, and does the where rule keep the keyset filter intact?",
                subject=self.target.field,
            )
