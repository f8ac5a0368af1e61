"""``ferry index ...``: create, load, inspect and search indices through the coordinator.

Values in ``--term F=V`` and ``--range F:gte=V`` are read as JSON when they
are a JSON number or boolean (``qty=5``, ``paid=true``) and as strings
otherwise (``status=paid``); quote a JSON string to force one (``code='"5"'``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import json_format, struct_pb2

from ferry.cli import output
from ferry.cli.client import (
    EXIT_OK,
    CommandError,
    Coordinator,
    RpcFailed,
    add_command,
    client_command,
    usage_error,
)
from ferry.v1 import indices_pb2 as pb

FIELD_TYPES: dict[str, pb.IndexFieldType] = {
    "keyword": pb.INDEX_FIELD_TYPE_KEYWORD,
    "text": pb.INDEX_FIELD_TYPE_TEXT,
    "long": pb.INDEX_FIELD_TYPE_LONG,
    "double": pb.INDEX_FIELD_TYPE_DOUBLE,
    "boolean": pb.INDEX_FIELD_TYPE_BOOLEAN,
    "timestamp": pb.INDEX_FIELD_TYPE_TIMESTAMP,
    "object": pb.INDEX_FIELD_TYPE_OBJECT,
}
RANGE_BOUNDS = ("gt", "gte", "lt", "lte")
DEFAULT_BATCH = 1000
_BULK_LINE_HELP = (
    'JSON lines, one operation each: {"id": ..., "source": {...}} indexes, '
    '{"id": ..., "delete": true} deletes ("-" reads stdin)'
)


def add_commands(subparsers: Any) -> None:
    """add_commands adds ``index`` and its subcommands to the ``ferry`` parser."""
    text = "create, load, inspect and search indices"
    group = subparsers.add_parser("index", help=text, description=text)
    verbs = group.add_subparsers(dest="index_command", metavar="COMMAND", required=True)
    one_index = "one Index object"

    p = add_command(verbs, "create", "create an empty index", json_shape=one_index)
    p.add_argument("name")
    p.add_argument("--shards", type=_positive_int, default=1, help="shard count (default 1)")
    p.add_argument(
        "--schema",
        type=_schema_field,
        action="append",
        default=[],
        metavar="FIELD=KIND",
        help=f"declare a field's type (repeatable); KIND is one of {', '.join(FIELD_TYPES)}",
    )
    p.set_defaults(func=client_command(_create))

    p = add_command(verbs, "list", "list indices", json_shape="an array of Index")
    p.add_argument("--pattern", default="", help="only names matching this glob ('*', '?')")
    p.set_defaults(func=client_command(_list))

    p = add_command(verbs, "get", "show one index", json_shape=one_index)
    p.add_argument("name")
    p.set_defaults(func=client_command(_get))

    p = add_command(verbs, "delete", "delete an index with its documents and history")
    p.add_argument("name")
    p.set_defaults(func=client_command(_delete))

    text = "show every shard's documents, sequence numbers, checkpoint and retention leases"
    p = add_command(verbs, "stats", text, json_shape="one IndexStats object")
    p.add_argument("name")
    p.set_defaults(func=client_command(_stats))

    p = add_command(verbs, "doc", "show one document", json_shape="one Document object")
    p.add_argument("name")
    p.add_argument("id")
    p.set_defaults(func=client_command(_doc))

    text = "index and delete documents from a JSON lines file, in atomic batches"
    p = add_command(verbs, "bulk", text, json_shape="an array of BulkItemResult, in file order")
    p.add_argument("name")
    p.add_argument("-f", "--file", required=True, help=_BULK_LINE_HELP)
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        default=DEFAULT_BATCH,
        help=f"operations per Bulk call, each all or nothing (default {DEFAULT_BATCH})",
    )
    p.set_defaults(func=client_command(_bulk))

    text = "find documents: every filter must match; page on with --cursor"
    p = add_command(verbs, "search", text, json_shape="one SearchResponse object")
    p.add_argument("name")
    _query_options(p)
    p.add_argument(
        "--sort",
        type=_sort_field,
        action="append",
        default=[],
        metavar="FIELD[:desc]",
        help="order by a field (repeatable); ties break on the id",
    )
    p.add_argument("--size", type=_positive_int, default=10, help="hits per page (default 10)")
    p.add_argument("--cursor", default="", help="the next-page cursor a previous search printed")
    p.set_defaults(func=client_command(_search))

    text = "count the documents a search would find"
    p = add_command(verbs, "count", text, json_shape="one CountResponse object")
    p.add_argument("name")
    _query_options(p)
    p.set_defaults(func=client_command(_count))


def _query_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("query (every option given must match)")
    for flag, parse, metavar, text in (
        (
            "--term",
            _term,
            "FIELD=VALUE",
            "FIELD equals VALUE (a JSON number or boolean, else text)",
        ),
        ("--prefix", _prefix, "FIELD=TEXT", "FIELD is a string starting with TEXT"),
        ("--range", _range, "FIELD:gte=V,lt=V", "FIELD within bounds (gt, gte, lt, lte)"),
        ("--exists", _exists, "FIELD", "FIELD is present and not null"),
    ):
        g.add_argument(flag, type=parse, action="append", default=[], metavar=metavar, help=text)
    g.add_argument(
        "--match",
        default="",
        metavar="TEXT",
        help="full text: every word of TEXT appears in the schema's text fields",
    )


# Argument types ---------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _pair(text: str, sep: str, what: str) -> tuple[str, str]:
    key, found, value = text.partition(sep)
    if not found or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return key, value


def _schema_field(text: str) -> pb.IndexField:
    path, kind = _pair(text, "=", "FIELD=KIND")
    if kind.lower() not in FIELD_TYPES:
        raise argparse.ArgumentTypeError(
            f"{kind!r} is not a field kind: use one of {', '.join(FIELD_TYPES)}"
        )
    return pb.IndexField(path=path, type=FIELD_TYPES[kind.lower()])


def _scalar(text: str) -> Any:
    """_scalar is text as a JSON number, boolean or string; anything else stays the text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (str, int, float, bool)) else text


def _value(value: Any) -> struct_pb2.Value:
    return json_format.ParseDict(value, struct_pb2.Value())


def _term(text: str) -> pb.Filter:
    field, value = _pair(text, "=", "FIELD=VALUE")
    return pb.Filter(field=field, term=_value(_scalar(value)))


def _prefix(text: str) -> pb.Filter:
    field, value = _pair(text, "=", "FIELD=TEXT")
    return pb.Filter(field=field, prefix=value)


def _range(text: str) -> pb.Filter:
    field, bounds = _pair(text, ":", "FIELD:BOUND=VALUE[,BOUND=VALUE]")
    condition = pb.RangeCondition()
    for part in bounds.split(","):
        bound, value = _pair(part, "=", "BOUND=VALUE")
        if bound not in RANGE_BOUNDS:
            raise argparse.ArgumentTypeError(
                f"{bound!r} is not a range bound: use {', '.join(RANGE_BOUNDS)}"
            )
        getattr(condition, bound).CopyFrom(_value(_scalar(value)))
    return pb.Filter(field=field, range=condition)


def _exists(text: str) -> pb.Filter:
    if not text:
        raise argparse.ArgumentTypeError("needs a field")
    return pb.Filter(field=text, exists=True)


def _sort_field(text: str) -> pb.SortField:
    field, _, order = text.partition(":")
    orders = {
        "": pb.SORT_ORDER_ASCENDING,
        "asc": pb.SORT_ORDER_ASCENDING,
        "desc": pb.SORT_ORDER_DESCENDING,
    }
    if not field or order.lower() not in orders:
        raise argparse.ArgumentTypeError(f"{text!r} is not FIELD, FIELD:asc or FIELD:desc")
    return pb.SortField(field=field, order=orders[order.lower()])


def _filters(args: argparse.Namespace) -> list[pb.Filter]:
    return [*args.term, *args.prefix, *args.range, *args.exists]


def _match(args: argparse.Namespace) -> pb.MatchQuery | None:
    # Every word must appear: the operator the store implements.
    return pb.MatchQuery(query=args.match, operator=pb.MATCH_OPERATOR_AND) if args.match else None


# Commands -------------------------------------------------------------------------


async def _create(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = pb.CreateIndexRequest(
        name=args.name, shard_count=args.shards, schema=pb.IndexSchema(fields=args.schema)
    )
    index = await coordinator.call(coordinator.indices.Create, request)
    if output.wants_json(args):
        output.print_json(output.to_json(index))
    else:
        shards = f"{index.shard_count} shard{'s' if index.shard_count != 1 else ''}"
        print(f"{index.name} created ({shards}, schema version {index.schema.version})")
    return EXIT_OK


async def _list(coordinator: Coordinator, args: argparse.Namespace) -> int:
    indices: list[pb.Index] = await coordinator.all_pages(
        coordinator.indices.List,
        lambda token: pb.ListIndicesRequest(pattern=args.pattern, page_token=token),
        lambda page: page.indices,
    )
    if output.wants_json(args):
        output.print_messages(indices)
        return EXIT_OK
    rows = [
        (i.name, i.shard_count, i.doc_count, i.schema.version, _role(i), _created(i))
        for i in indices
    ]
    print(output.table(["NAME", "SHARDS", "DOCS", "SCHEMA_VERSION", "ROLE", "CREATED"], rows))
    return EXIT_OK


async def _get(coordinator: Coordinator, args: argparse.Namespace) -> int:
    index = await coordinator.call(coordinator.indices.Get, pb.GetIndexRequest(name=args.name))
    if output.wants_json(args):
        output.print_json(output.to_json(index))
    else:
        print(describe(index))
    return EXIT_OK


def describe(index: pb.Index) -> str:
    """describe is an index as a ``key: value`` block; the schema as ``path:kind`` pairs."""
    fields = output.join(
        (f"{f.path}:{output.enum_label(pb.IndexFieldType, f.type)}" for f in index.schema.fields),
        ", ",
    )
    return output.key_values(
        [
            ("name", index.name),
            ("shards", index.shard_count),
            ("docs", index.doc_count),
            ("schema_version", index.schema.version),
            ("schema", fields),
            ("role", _role(index)),
            ("created", _created(index)),
        ]
    )


def _role(index: pb.Index) -> str:
    if not index.follower:
        return "leader"
    return f"follower of {index.leader.remote_cluster}/{index.leader.index}"


def _created(index: pb.Index) -> str:
    return index.create_time.ToJsonString() if index.HasField("create_time") else ""


async def _delete(coordinator: Coordinator, args: argparse.Namespace) -> int:
    await coordinator.call(coordinator.indices.Delete, pb.DeleteIndexRequest(name=args.name))
    print(f"{args.name} deleted")
    return EXIT_OK


async def _stats(coordinator: Coordinator, args: argparse.Namespace) -> int:
    stats = await coordinator.call(coordinator.indices.Stats, pb.IndexStatsRequest(name=args.name))
    if output.wants_json(args):
        output.print_json(output.to_json(stats))
        return EXIT_OK
    shards = output.table(
        ["SHARD", "DOCS", "MAX_SEQ_NO", "GLOBAL_CHECKPOINT", "MIN_RETAINED_SEQ_NO", "LEASES"],
        [
            (
                s.shard,
                s.doc_count,
                s.max_seq_no,
                s.global_checkpoint,
                s.min_retained_seq_no,
                len(s.retention_leases),
            )
            for s in stats.shards
        ],
    )
    print(f"{stats.name}: {stats.doc_count} docs in {len(stats.shards)} shard(s)\n")
    print(shards)
    leases = [(s.shard, lease) for s in stats.shards for lease in s.retention_leases]
    if leases:
        print()
        print(
            output.table(
                ["LEASE", "SHARD", "RETAINING_SEQ_NO", "SOURCE", "EXPIRES"],
                [
                    (le.id, shard, le.retaining_seq_no, le.source, le.expire_time.ToJsonString())
                    for shard, le in leases
                ],
            )
        )
    return EXIT_OK


async def _doc(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = pb.GetDocumentRequest(index=args.name, id=args.id)
    doc = await coordinator.call(coordinator.indices.GetDocument, request)
    if output.wants_json(args):
        output.print_json(output.to_json(doc))
    else:
        print(
            output.key_values(
                [
                    ("id", doc.id),
                    ("shard", doc.shard),
                    ("seq_no", doc.seq_no),
                    ("source", output.compact_json(doc.source)),
                ]
            )
        )
    return EXIT_OK


async def _search(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = pb.SearchRequest(
        index=args.name,
        filters=_filters(args),
        match=_match(args),
        sort=args.sort,
        page_size=args.size,
        page_token=args.cursor,
    )
    response = await coordinator.call(coordinator.indices.Search, request)
    if output.wants_json(args):
        output.print_json(output.to_json(response))
        return EXIT_OK
    rows = [
        (h.document.id, h.document.shard, h.document.seq_no, output.compact_json(h.document.source))
        for h in response.hits
    ]
    print(output.table(["ID", "SHARD", "SEQ_NO", "SOURCE"], rows))
    if response.next_page_token:
        # On stderr, so that stdout stays the table.
        print(f"next page: --cursor {response.next_page_token}", file=sys.stderr)
    return EXIT_OK


async def _count(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = pb.CountRequest(index=args.name, filters=_filters(args), match=_match(args))
    response = await coordinator.call(coordinator.indices.Count, request)
    if output.wants_json(args):
        output.print_json(output.to_json(response))
    else:
        print(response.count)
    return EXIT_OK


# Bulk -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    """_Line is one operation of a bulk file and the line it came from."""

    number: int
    operation: pb.BulkOperation


def read_bulk_file(path: str) -> list[_Line]:
    """read_bulk_file parses every line before anything is sent; a bad line is a usage error."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise usage_error(f"cannot read {path}: {exc}") from None
    lines: list[_Line] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.strip():
            lines.append(_Line(number, _operation(raw, f"{path}:{number}")))
    if not lines:
        raise usage_error(f"{path} holds no operations")
    return lines


def _operation(raw: str, where: str) -> pb.BulkOperation:
    try:
        entry = json.loads(raw)
    except ValueError as exc:
        raise usage_error(f"{where}: not JSON: {exc}") from None
    if not isinstance(entry, dict):
        raise usage_error(f"{where}: must be a JSON object")
    doc_id = entry.get("id")
    if not isinstance(doc_id, str) or not doc_id:
        raise usage_error(f'{where}: "id" must be a non-empty string')
    unknown = sorted(set(entry) - {"id", "source", "delete"})
    if unknown:
        raise usage_error(f"{where}: unknown key {unknown[0]!r} (id, source, delete)")
    if "delete" in entry:
        if entry["delete"] is not True or "source" in entry:
            raise usage_error(f'{where}: "delete" must be true, and comes without "source"')
        return pb.BulkOperation(type=pb.BULK_OPERATION_TYPE_DELETE, id=doc_id)
    source = entry.get("source")
    if not isinstance(source, dict):
        raise usage_error(f'{where}: needs "source": {{...}} (an object) or "delete": true')
    struct = struct_pb2.Struct()
    struct.update(source)
    return pb.BulkOperation(type=pb.BULK_OPERATION_TYPE_INDEX, id=doc_id, source=struct)


_OPERATION_INDEX = re.compile(r"operations\[(\d+)\]")


async def _bulk(coordinator: Coordinator, args: argparse.Namespace) -> int:
    lines = read_bulk_file(args.file)
    items: list[pb.BulkItemResult] = []
    for start in range(0, len(lines), args.batch_size):
        batch = lines[start : start + args.batch_size]
        request = pb.BulkRequest(index=args.name, operations=[line.operation for line in batch])
        try:
            response = await coordinator.call(coordinator.indices.Bulk, request)
        except RpcFailed as exc:
            raise _batch_failed(exc, args.file, batch, len(items)) from None
        items.extend(response.items)
    if output.wants_json(args):
        output.print_messages(items)
        return EXIT_OK
    deleted = sum(1 for line in lines if line.operation.type == pb.BULK_OPERATION_TYPE_DELETE)
    batches = (len(lines) + args.batch_size - 1) // args.batch_size
    print(
        f"{args.name}: {len(lines) - deleted} indexed, {deleted} deleted "
        f"in {batches} batch{'es' if batches != 1 else ''}"
    )
    return EXIT_OK


def _batch_failed(exc: RpcFailed, path: str, batch: list[_Line], written: int) -> CommandError:
    """_batch_failed names the lines not written, and the file line of each op the error names."""
    first, last = batch[0].number, batch[-1].number
    lines = exc.describe(f"{path} lines {first}-{last}")
    named = _OPERATION_INDEX.findall(" ".join([exc.message, *exc.violations]))
    for i in sorted({int(n) for n in named if int(n) < len(batch)}):
        lines.append(f"  (operations[{i}] is {path}:{batch[i].number})")
    lines.append(f"nothing from line {first} on was written; {written} operation(s) before it were")
    return CommandError(*lines)
