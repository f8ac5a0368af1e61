"""Rendering for the client commands: plain tables, key: value blocks and JSON.

``-o json`` prints exactly one JSON document on stdout. Protobuf messages go
through the proto3 JSON mapping with proto field names (``tasks_max``, not
``tasksMax``): enums as full names (``CONNECTOR_STATE_PAUSED``), int64 as
strings, fields at their default value left out, the shape grpcurl prints.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from google.protobuf import json_format
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.message import Message

EMPTY = "-"
"""EMPTY fills a table cell that has no value."""


def add_output_option(parser: argparse.ArgumentParser, json_shape: str) -> None:
    """add_output_option adds ``-o/--output {table,json}``; json_shape says what json prints."""
    parser.add_argument(
        "-o",
        "--output",
        choices=["table", "json"],
        default="table",
        help=f"table for people (default) or json for scripts: {json_shape}",
    )


def wants_json(args: argparse.Namespace) -> bool:
    """wants_json is true when the command was asked for ``-o json``."""
    return getattr(args, "output", "table") == "json"


def to_json(message: Message) -> dict[str, Any]:
    """to_json is message in the proto3 JSON mapping with proto field names."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def print_json(value: Any) -> None:
    """print_json writes value as one indented JSON document with sorted keys.

    Whole numbers print without ".0" (Struct holds every number as a double),
    as grpcurl shows them.
    """
    print(json.dumps(_whole_numbers(value), indent=2, sort_keys=True))


def print_message(args: argparse.Namespace, message: Message, text: str) -> None:
    """print_message prints message as one JSON object for ``-o json``, else text."""
    if wants_json(args):
        print_json(to_json(message))
    else:
        print(text)


def print_messages(messages: Iterable[Message]) -> None:
    """print_messages writes messages as a JSON array (even when there is one or none)."""
    print_json([to_json(m) for m in messages])


def print_list(
    args: argparse.Namespace,
    messages: Iterable[Message],
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
) -> None:
    """print_list prints messages as a JSON array for ``-o json``, else rows as a table.

    Pass rows as a generator over messages: JSON output never iterates it.
    """
    if wants_json(args):
        print_messages(messages)
    else:
        print(table(headers, rows))


def enum_label(enum: EnumTypeWrapper, value: int) -> str:
    """enum_label is an enum value's short lower-case name: CONNECTOR_STATE_PAUSED -> paused.

    A number the client's stubs do not know is shown as the number.
    """
    try:
        name = enum.Name(value)
    except ValueError:
        return str(value)
    prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum.DESCRIPTOR.name).upper() + "_"
    return name.removeprefix(prefix).lower()


def compact_json(message: Message) -> str:
    """compact_json is message as one line of JSON with sorted keys, for table cells.

    Whole numbers print without ".0" (Struct holds every number as a double).
    """
    return json.dumps(_whole_numbers(to_json(message)), sort_keys=True)


def _whole_numbers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value


def join(items: Iterable[str], sep: str = ",") -> str:
    """join joins items, or gives EMPTY when there are none."""
    return sep.join(items) or EMPTY


def labels(mapping: Any) -> str:
    """labels renders a string map as ``k=v,k2=v2`` (sorted), or EMPTY."""
    return join(f"{k}={v}" for k, v in sorted(mapping.items()))


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """table lays rows out in left-aligned columns under upper-case headers.

    Empty cells are shown as EMPTY so every row has the same number of words.
    The last column is not padded.
    """
    cells = [[str(h).upper() for h in headers]]
    cells += [[str(c) if str(c) != "" else EMPTY for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [c.ljust(w) for c, w in zip(row[:-1], widths[:-1], strict=True)]
        lines.append("   ".join([*padded, row[-1]]).rstrip())
    return "\n".join(lines)


def key_values(pairs: Sequence[tuple[str, object]]) -> str:
    """key_values lays out ``key: value`` lines with the values aligned."""
    width = max((len(k) for k, _ in pairs), default=0) + 1
    return "\n".join(f"{(k + ':').ljust(width)}  {v if str(v) != '' else EMPTY}" for k, v in pairs)
