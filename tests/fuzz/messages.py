"""Hypothesis strategies for protobuf messages with hostile field values, built from descriptors.

:func:`messages` fills any message type at random: every field may be set,
to values chosen to hurt (empty, huge, NUL and control characters, bidi marks,
emoji, path and glob syntax, int32/int64 bounds, NaN and infinities, unknown
enum numbers, repeated fields with none to hundreds of items, nested Structs).
:func:`mutations` keeps a valid baseline request and replaces one field, at
any depth, with such a value, so that checks behind the first one get reached.

Strings are valid Unicode only: protobuf strings are UTF-8 and a lone
surrogate cannot be encoded at all (invalid UTF-8 on the wire is the wire
fuzzer's business, see test_every_rpc).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

Strategy = st.SearchStrategy

MAX_DEPTH = 6
"""MAX_DEPTH bounds message nesting (a Struct inside a Struct...) well below protobuf's 100."""

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
UINT32 = (0, 2**32 - 1)
UINT64 = (0, 2**64 - 1)

PIECES = (
    "\x00", "\x01", "\x1b", "\x7f", "\n", "\r\n", "\t", " ", "\u200f", "\u202e", "\ufeff",
    "\u0301", "\U0001f600", "\U0001f469\u200d\U0001f469\u200d\U0001f467", "\u65e5\u672c", "\u00e9",
    "/", "..", "../", "*", "?", "[", "]", "{", "(", "\\", '"', "'", "%", "$", ".", "-", "_",
    "a", "Z", "0", "9",
)  # fmt: skip
"""PIECES are what hostile strings are made of: NUL, controls, bidi marks, emoji, path syntax."""

characters = st.characters(exclude_categories=("Cs",))
dns_labels = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?\Z")


def _repeat(piece: str, size: int) -> str:
    return (piece * (size // len(piece) + 1))[:size]


huge_text = st.builds(
    _repeat,
    st.one_of(st.sampled_from(PIECES), st.text(characters, min_size=1, max_size=6)),
    st.integers(10_000, 100_000),
)
"""huge_text is 10 to 100 thousand characters (repeated, so drawing it stays cheap)."""
huge_syntax = st.builds(_repeat, st.sampled_from("[({*?\\%$.\x00"), st.integers(10_000, 100_000))
"""huge_syntax is one character of some syntax (glob, regex, escapes) repeated: parsers'
worst cases are often quadratic in it."""

nearly_valid_text = st.builds(
    lambda label, piece, front: piece + label if front else label + piece,
    dns_labels,
    st.sampled_from(PIECES),
    st.booleans(),
)
"""nearly_valid_text is a valid name with one hostile character before or after it."""

hostile_text = st.one_of(
    st.just(""),
    dns_labels,
    nearly_valid_text,
    st.text(characters, max_size=12),
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=8).map("".join),
    huge_text,
    huge_syntax,
)

hostile_bytes = st.one_of(
    st.binary(max_size=32),
    st.builds(lambda b, n: b * n, st.binary(min_size=1, max_size=4), st.integers(2_500, 25_000)),
)

DOUBLE_EDGES = [math.nan, math.inf, -math.inf, 0.0, -0.0, 0.5, 1.0, -1.0, 1e308, -1e308, 5e-324,
                2.0**53, 2.0**53 + 2, 2.0**63, -(2.0**63)]  # fmt: skip
hostile_doubles = st.one_of(
    st.sampled_from(DOUBLE_EDGES), st.floats(allow_nan=True, allow_infinity=True)
)


def hostile_integers(bounds: tuple[int, int]) -> Strategy[int]:
    """hostile_integers favours 0, ±1, the type's bounds and small limits' edges."""
    lo, hi = bounds
    edges = [v for v in (0, 1, -1, 2, lo, lo + 1, hi, hi - 1, 1024, 1025, 10_000) if lo <= v <= hi]
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi), st.integers(max(lo, -50), 50))


_SCALARS: dict[int, Strategy[Any]] = {
    FieldDescriptor.TYPE_STRING: hostile_text,
    FieldDescriptor.TYPE_BYTES: hostile_bytes,
    FieldDescriptor.TYPE_BOOL: st.booleans(),
    FieldDescriptor.TYPE_DOUBLE: hostile_doubles,
    FieldDescriptor.TYPE_FLOAT: st.floats(width=32, allow_nan=True, allow_infinity=True),
    FieldDescriptor.TYPE_INT32: hostile_integers(INT32),
    FieldDescriptor.TYPE_SINT32: hostile_integers(INT32),
    FieldDescriptor.TYPE_SFIXED32: hostile_integers(INT32),
    FieldDescriptor.TYPE_INT64: hostile_integers(INT64),
    FieldDescriptor.TYPE_SINT64: hostile_integers(INT64),
    FieldDescriptor.TYPE_SFIXED64: hostile_integers(INT64),
    FieldDescriptor.TYPE_UINT32: hostile_integers(UINT32),
    FieldDescriptor.TYPE_FIXED32: hostile_integers(UINT32),
    FieldDescriptor.TYPE_UINT64: hostile_integers(UINT64),
    FieldDescriptor.TYPE_FIXED64: hostile_integers(UINT64),
}

_UNKNOWN_ENUM_NUMBERS = (-1, 99, INT32[1], INT32[0])


def message_class(descriptor: Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)


def _is_map(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry


def single_values(field: FieldDescriptor, depth: int) -> Strategy[Any]:
    """single_values is one hostile value of field's type (messages nest one level deeper)."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return messages(field.message_type, depth + 1)
    if field.type == FieldDescriptor.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(known), st.sampled_from(_UNKNOWN_ENUM_NUMBERS))
    return _SCALARS[field.type]


def field_values(field: FieldDescriptor, depth: int) -> Strategy[Any]:
    """field_values is what a field may hold: a dict for maps, a list for repeated fields."""
    if _is_map(field):
        entry = field.message_type
        keys = single_values(entry.fields_by_name["key"], depth)
        values = single_values(entry.fields_by_name["value"], depth)
        return st.dictionaries(keys, values, max_size=4)
    if field.is_repeated:
        one = single_values(field, depth)
        many = st.builds(lambda item, n: [item] * n, one, st.integers(100, 300))
        return st.one_of(st.lists(one, max_size=4), many)
    return single_values(field, depth)


def assign(message: Message, field: FieldDescriptor, value: Any) -> None:
    """assign replaces field of message with value (a dict for maps, a list for repeated)."""
    message.ClearField(field.name)
    target = getattr(message, field.name)
    if _is_map(field):
        if field.message_type.fields_by_name["value"].type == FieldDescriptor.TYPE_MESSAGE:
            for key, item in value.items():
                target[key].CopyFrom(item)
        else:
            target.update(value)
    elif field.is_repeated:
        target.extend(value)
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        target.CopyFrom(value)
    else:
        setattr(message, field.name, value)


_cache: dict[tuple[str, int], Strategy[Message]] = {}


def messages(descriptor: Descriptor, depth: int = 0) -> Strategy[Message]:
    """messages is any message of this type, each field set or not, at most one per oneof."""
    key = (descriptor.full_name, depth)
    if key not in _cache:
        _cache[key] = _messages(descriptor, depth)
    return _cache[key]


def _messages(descriptor: Descriptor, depth: int) -> Strategy[Message]:
    cls = message_class(descriptor)
    if depth >= MAX_DEPTH:
        return st.builds(cls)
    plain = [f for f in descriptor.fields if f.containing_oneof is None]
    oneofs = list(descriptor.oneofs)

    @st.composite
    def build(draw: Callable[[Strategy[Any]], Any]) -> Message:
        message = cls()
        for field in plain:
            if draw(st.booleans()):
                assign(message, field, draw(field_values(field, depth)))
        for oneof in oneofs:
            chosen = draw(st.none() | st.sampled_from(list(oneof.fields)))
            if chosen is not None:
                assign(message, chosen, draw(single_values(chosen, depth)))
        return message

    return build()


def mutations(baseline: Message) -> Strategy[Message]:
    """mutations is baseline with one field, at any depth, replaced by a hostile value.

    The walk descends into set sub-messages and into one item of a repeated
    message field, so ``operations[2].source`` is as likely a target as ``index``.
    """

    @st.composite
    def mutate(draw: Callable[[Strategy[Any]], Any]) -> Message:
        message = type(baseline)()
        message.CopyFrom(baseline)
        target, depth = message, 0
        while True:
            field = draw(st.sampled_from(list(target.DESCRIPTOR.fields)))
            nested = field.type == FieldDescriptor.TYPE_MESSAGE and not _is_map(field)
            if (
                nested
                and field.is_repeated
                and len(getattr(target, field.name))
                and draw(st.booleans())
            ):
                items = getattr(target, field.name)
                target = items[draw(st.integers(0, len(items) - 1))]
            elif (
                nested
                and not field.is_repeated
                and target.HasField(field.name)
                and draw(st.booleans())
            ):
                target = getattr(target, field.name)
            else:
                value = draw(
                    single_values(field, depth)
                    if field.containing_oneof is not None
                    else field_values(field, depth)
                )
                assign(target, field, value)
                return message
            depth += 1

    return mutate()


def nearly_valid(baselines: Strategy[Message]) -> Strategy[Message]:
    """nearly_valid is a valid baseline request as it is, or with one field made hostile."""
    return st.one_of(baselines, baselines.flatmap(mutations))


def as_json(message: Message) -> Any:
    """as_json is message as JSON data, how Ferry stores it: a Value with nothing set is null."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)
