"""Basic sync rules: the framework's per-document filter (SPEC §5.3).

Rules are ordered; the first rule whose condition holds decides whether the
document is included or excluded. A document no rule matches is included
(as if an "include everything" rule closed the list). A rule's ``field`` is a
dotted path into the document's source; a missing field matches no
operator.

Comparisons: ``equals`` compares numbers as numbers when both sides are
numeric, booleans as ``true``/``false``, everything else as text;
``contains`` is substring for text and membership for lists;
``greater_than``/``less_than`` compare numerically when both sides are
numbers, otherwise as text (ISO dates and zero-padded codes order that way).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ferry.v1 import connectors_pb2 as pb

_MISSING = object()


def lookup(source: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """lookup follows a path (a dotted field, split) through nested objects; _MISSING if absent."""
    value: Any = source
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _compare(value: Any, operand: str, right: float | None) -> int | None:
    """_compare is -1/0/1 for value against operand (``right`` is its number, parsed once
    per rule, not per document), None when they do not order."""
    if isinstance(value, (dict, list)) or value is None:
        return None
    left = _number(value)
    if left is not None and right is not None:
        return (left > right) - (left < right)
    text = _text(value)
    return (text > operand) - (text < operand)


def _contains(value: Any, operand: str, number: float | None) -> bool:
    if isinstance(value, list):
        return any(_compare(item, operand, number) == 0 for item in value)
    return not isinstance(value, dict) and value is not None and operand in _text(value)


Matcher = Callable[[Any], bool]


def _matcher(rule: pb.BasicRule) -> Matcher:
    operand = rule.value
    number = _number(operand)
    op = rule.operator
    if op == pb.RULE_OPERATOR_EQUALS:
        return lambda v: _compare(v, operand, number) == 0
    if op == pb.RULE_OPERATOR_CONTAINS:
        return lambda v: _contains(v, operand, number)
    if op == pb.RULE_OPERATOR_STARTS_WITH:
        return lambda v: isinstance(v, (str, int, float)) and _text(v).startswith(operand)
    if op == pb.RULE_OPERATOR_ENDS_WITH:
        return lambda v: isinstance(v, (str, int, float)) and _text(v).endswith(operand)
    if op == pb.RULE_OPERATOR_REGEX:
        pattern = re.compile(operand)
        return lambda v: isinstance(v, (str, int, float)) and pattern.search(_text(v)) is not None
    if op == pb.RULE_OPERATOR_GREATER_THAN:
        return lambda v: _compare(v, operand, number) == 1
    if op == pb.RULE_OPERATOR_LESS_THAN:
        return lambda v: _compare(v, operand, number) == -1
    raise ValueError(f"unknown rule operator {op}")


@dataclass(frozen=True)
class _Rule:
    path: tuple[str, ...]
    """path: the rule's dotted field, split once per task rather than once per document."""
    matches: Matcher
    include: bool


class Rules:
    """Rules decides, document by document, what a connector indexes."""

    def __init__(self, rules: pb.SyncRules) -> None:
        self._rules = tuple(
            _Rule(tuple(r.field.split(".")), _matcher(r), r.policy == pb.RULE_POLICY_INCLUDE)
            for r in rules.basic
        )

    def __bool__(self) -> bool:
        return bool(self._rules)

    def includes(self, source: Mapping[str, Any]) -> bool:
        """includes is the policy of the first rule that matches; True if none does."""
        for rule in self._rules:
            value = lookup(source, rule.path)
            if value is not _MISSING and rule.matches(value):
                return rule.include
        return True
