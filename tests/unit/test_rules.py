"""Basic sync rules as a pure function of the document."""

from __future__ import annotations

from typing import Any

import pytest

from ferry.connectors.rules import Rules
from ferry.v1 import connectors_pb2 as pb

INCLUDE, EXCLUDE = pb.RULE_POLICY_INCLUDE, pb.RULE_POLICY_EXCLUDE


def rules(*basic: tuple[str, int, str, int]) -> Rules:
    return Rules(
        pb.SyncRules(
            basic=[pb.BasicRule(field=f, operator=o, value=v, policy=p) for f, o, v, p in basic]
        )
    )


@pytest.mark.parametrize(
    ("operator", "operand", "value", "matches"),
    [
        (pb.RULE_OPERATOR_EQUALS, "10", 10, True),
        (pb.RULE_OPERATOR_EQUALS, "10", 10.0, True),
        (pb.RULE_OPERATOR_EQUALS, "10", "10.0", True),  # both numeric: compared as numbers
        (pb.RULE_OPERATOR_EQUALS, "true", True, True),
        (pb.RULE_OPERATOR_EQUALS, "1", True, False),  # a boolean is not a number
        (pb.RULE_OPERATOR_EQUALS, "Oslo", "oslo", False),
        (pb.RULE_OPERATOR_CONTAINS, "sl", "Oslo", True),
        (pb.RULE_OPERATOR_CONTAINS, "red", ["blue", "red"], True),
        (pb.RULE_OPERATOR_CONTAINS, "re", ["blue", "red"], False),  # membership, not substring
        (pb.RULE_OPERATOR_STARTS_WITH, "Os", "Oslo", True),
        (pb.RULE_OPERATOR_ENDS_WITH, "lo", "Oslo", True),
        (pb.RULE_OPERATOR_ENDS_WITH, "lo", {"lo": 1}, False),
        (pb.RULE_OPERATOR_REGEX, r"^O.l", "Oslo", True),
        (pb.RULE_OPERATOR_REGEX, r"\d{3}", "ab12", False),
        (pb.RULE_OPERATOR_GREATER_THAN, "9", 10, True),  # numeric, not "10" < "9"
        (pb.RULE_OPERATOR_GREATER_THAN, "2026-01-01", "2026-03-04T10:00:00Z", True),
        (pb.RULE_OPERATOR_LESS_THAN, "100", 99.5, True),
        (pb.RULE_OPERATOR_LESS_THAN, "100", None, False),
    ],
)
def test_operators(operator: int, operand: str, value: Any, matches: bool) -> None:
    decide = rules(("f", operator, operand, EXCLUDE))
    assert decide.includes({"f": value}) is not matches


def test_first_matching_rule_decides_in_order() -> None:
    decide = rules(
        ("city", pb.RULE_OPERATOR_EQUALS, "Oslo", INCLUDE),
        ("country", pb.RULE_OPERATOR_EQUALS, "NO", EXCLUDE),
    )
    assert decide.includes({"city": "Oslo", "country": "NO"})
    assert not decide.includes({"city": "Bergen", "country": "NO"})
    assert decide.includes({"city": "Lund", "country": "SE"})  # no rule matched: included
    swapped = rules(
        ("country", pb.RULE_OPERATOR_EQUALS, "NO", EXCLUDE),
        ("city", pb.RULE_OPERATOR_EQUALS, "Oslo", INCLUDE),
    )
    assert not swapped.includes({"city": "Oslo", "country": "NO"})


def test_dotted_paths_and_missing_fields() -> None:
    decide = rules(
        ("address.zip", pb.RULE_OPERATOR_STARTS_WITH, "0", INCLUDE),
        ("n", pb.RULE_OPERATOR_GREATER_THAN, "-1", EXCLUDE),
    )
    assert decide.includes({"address": {"zip": "0150"}, "n": 1})
    assert not decide.includes({"address": {"zip": "5003"}, "n": 1})
    assert not decide.includes({"address": "0150", "n": 1})  # not an object: no match
    assert decide.includes({"m": 1})  # neither field exists


def test_no_rules_include_everything() -> None:
    assert not Rules(pb.SyncRules())
    assert Rules(pb.SyncRules()).includes({"anything": 1})
