"""validate_spec names every bad field by its path; the name helpers explain what is wrong."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format

from ferry import names
from ferry.connectors import Registry
from ferry.connectors.generator import GeneratorSource
from ferry.errors import InvalidArgument
from ferry.v1 import connectors_pb2 as pb
from services.coordinator.validation import check_spec, validate_spec

REGISTRY = Registry([GeneratorSource])

VALID: dict[str, Any] = {
    "name": "orders-sync",
    "type": "generator",
    "index": "orders",
    "config": {"docs": 100, "doc_size": 256, "seed": 7},
    "tasks_max": 4,
    "agent_selector": {"zone": "eu-1", "example.com/tier": "fast"},
    "schedule": {"full": "0 3 * * *", "incremental": "*/5 * * * *"},
    "rules": {
        "basic": [
            {
                "field": "status",
                "operator": "RULE_OPERATOR_REGEX",
                "value": "^(open|closed)$",
                "policy": "RULE_POLICY_INCLUDE",
            }
        ]
    },
    "error_policy": {
        "max_retries": 3,
        "initial_backoff": "1s",
        "max_backoff": "30s",
        "max_error_rate": 0.1,
    },
    "isolation": "ISOLATION_PROCESS",
    "memory_limit_bytes": 256 * 1024 * 1024,
}


def make_spec(**overrides: Any) -> pb.ConnectorSpec:
    """make_spec is VALID with top-level fields replaced (None removes a field)."""
    fields = {**VALID, **overrides}
    return json_format.ParseDict(
        {k: v for k, v in fields.items() if v is not None}, pb.ConnectorSpec()
    )


def violated(spec: pb.ConnectorSpec, path: str = "spec") -> dict[str, str]:
    return {v.field: v.description for v in validate_spec(spec, REGISTRY, path=path)}


def test_valid_spec_has_no_violations() -> None:
    assert validate_spec(make_spec(), REGISTRY) == []
    check_spec(make_spec(), REGISTRY)


def test_minimal_spec_is_valid() -> None:
    spec = pb.ConnectorSpec(name="a", type="generator", index="a")
    assert validate_spec(spec, REGISTRY) == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "Orders"}, "spec.name"),
        ({"name": "a" * 64}, "spec.name"),
        ({"name": "-orders"}, "spec.name"),
        ({"name": "orders/x"}, "spec.name"),
        ({"name": None}, "spec.name"),
        ({"index": None}, "spec.index"),
        ({"index": "Orders"}, "spec.index"),
        ({"type": None}, "spec.type"),
        ({"type": "mysql"}, "spec.type"),
        ({"config": {"docs": 10, "nope": 1}}, "spec.config.nope"),
        ({"config": {"docs": "ten"}}, "spec.config.docs"),
        ({"config": {"docs": 1.5}}, "spec.config.docs"),
        ({"config": {"doc_size": 8}}, "spec.config.doc_size"),
        ({"config": {"docs": -1}}, "spec.config.docs"),
        ({"config": {"deleted_every": 1}}, "spec.config.deleted_every"),
        ({"schedule": {"full": "* * *"}}, "spec.schedule.full"),
        ({"schedule": {"incremental": "61 * * * *"}}, "spec.schedule.incremental"),
        ({"schedule": {"full": "* * * * * * *"}}, "spec.schedule.full"),
        ({"schedule": {"full": "* * * * * 61"}}, "spec.schedule.full"),
        ({"tasks_max": -1}, "spec.tasks_max"),
        ({"tasks_max": 1025}, "spec.tasks_max"),
        ({"isolation": "ISOLATION_NONE"}, "spec.memory_limit_bytes"),
        ({"isolation": None}, "spec.memory_limit_bytes"),
        ({"memory_limit_bytes": -1}, "spec.memory_limit_bytes"),
        ({"agent_selector": {"bad key!": "x"}}, "spec.agent_selector.bad key!"),
        ({"agent_selector": {"zone": "not valid"}}, "spec.agent_selector.zone"),
        ({"error_policy": {"max_retries": -1}}, "spec.error_policy.max_retries"),
        ({"error_policy": {"max_error_rate": 1.5}}, "spec.error_policy.max_error_rate"),
        ({"error_policy": {"initial_backoff": "-1s"}}, "spec.error_policy.initial_backoff"),
        (
            {"error_policy": {"initial_backoff": "10s", "max_backoff": "1s"}},
            "spec.error_policy.max_backoff",
        ),
    ],
)
def test_each_bad_field_is_named(overrides: dict[str, Any], field: str) -> None:
    problems = violated(make_spec(**overrides))
    assert list(problems) == [field], problems


def test_descriptions_say_what_is_wrong() -> None:
    problems = violated(make_spec(name="Orders", type="mysql", config={"docs": "ten"}))
    assert "DNS-1123" in problems["spec.name"]
    assert "unknown connector type 'mysql'" in problems["spec.type"]
    assert "generator" in problems["spec.type"]  # lists what is registered
    assert problems["spec.type"].startswith("unknown")


def test_missing_type_is_required() -> None:
    assert violated(make_spec(type=None)) == {"spec.type": "is required"}


def test_config_type_errors() -> None:
    problems = violated(make_spec(config={"docs": "ten", "seed": True}))
    assert problems == {
        "spec.config.docs": "must be of type integer, got str",
        "spec.config.seed": "must be of type integer, got bool",
    }


def test_below_minimum() -> None:
    problems = violated(make_spec(config={"doc_size": 8}))
    assert problems == {"spec.config.doc_size": "must be at least 16"}


def test_unknown_config_key() -> None:
    assert violated(make_spec(config={"docz": 5})) == {"spec.config.docz": "unknown config key"}


def rules(*basic: dict[str, Any], advanced: dict[str, Any] | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {"basic": list(basic)}
    if advanced is not None:
        value["advanced"] = advanced
    return value


def test_bad_regex_rule() -> None:
    rule = {
        "field": "title",
        "operator": "RULE_OPERATOR_REGEX",
        "value": "([unclosed",
        "policy": "RULE_POLICY_EXCLUDE",
    }
    problems = violated(make_spec(rules=rules(rule, rule)))
    assert list(problems) == ["spec.rules.basic[0].value", "spec.rules.basic[1].value"]
    assert problems["spec.rules.basic[0].value"].startswith("invalid regex")


def test_rule_missing_operator_policy_and_field() -> None:
    ok = {"field": "a", "operator": "RULE_OPERATOR_EQUALS", "value": "x", "policy": 1}
    problems = violated(make_spec(rules=rules(ok, {"value": "x"})))
    assert set(problems) == {
        "spec.rules.basic[1].field",
        "spec.rules.basic[1].operator",
        "spec.rules.basic[1].policy",
    }


def test_non_numeric_comparison_is_allowed() -> None:
    rule = {
        "field": "updated",
        "operator": "RULE_OPERATOR_GREATER_THAN",
        "value": "2024-01-01",
        "policy": "RULE_POLICY_INCLUDE",
    }
    assert violated(make_spec(rules=rules(rule))) == {}


def test_advanced_rules_on_a_type_without_them() -> None:
    problems = violated(make_spec(rules=rules(advanced={"sql": "WHERE x > 1"})))
    assert list(problems) == ["spec.rules.advanced"]


def test_advanced_rules_on_a_type_that_accepts_them() -> None:
    class AdvancedGenerator(GeneratorSource):
        name = "advanced-generator"
        advanced_rules = True

    registry = Registry([GeneratorSource, AdvancedGenerator])
    spec = make_spec(type="advanced-generator", rules=rules(advanced={"sql": "WHERE x > 1"}))
    assert validate_spec(spec, registry) == []


def test_every_violation_is_reported_at_once() -> None:
    spec = make_spec(name="Bad", tasks_max=-1, config={"docs": -1}, schedule={"full": "* * *"})
    assert set(violated(spec)) == {
        "spec.name",
        "spec.tasks_max",
        "spec.config.docs",
        "spec.schedule.full",
    }


def test_path_prefix_is_used() -> None:
    assert list(violated(make_spec(config={"docs": -1}), path="connectors[3]")) == [
        "connectors[3].config.docs"
    ]


def test_check_spec_raises_with_all_violations() -> None:
    with pytest.raises(InvalidArgument) as err:
        check_spec(make_spec(name="Bad", tasks_max=-1), REGISTRY)
    assert {v.field for v in err.value.violations} == {"spec.name", "spec.tasks_max"}
    assert "spec.name" in str(err.value)


# ferry.names


@pytest.mark.parametrize("value", ["a", "orders-1", "0abc", "a" * 63])
def test_dns1123_label_accepts(value: str) -> None:
    assert names.dns1123_label_error(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "is required"),
        ("a" * 64, "at most 63"),
        ("Orders", "DNS-1123"),
        ("-a", "DNS-1123"),
        ("a-", "DNS-1123"),
        ("a_b", "DNS-1123"),
        ("a/b", "DNS-1123"),
    ],
)
def test_dns1123_label_rejects(value: str, expected: str) -> None:
    problem = names.dns1123_label_error(value)
    assert problem is not None and expected in problem


@pytest.mark.parametrize("value", ["orders", "logs-2024.01", "a_b", "0"])
def test_index_name_accepts(value: str) -> None:
    assert names.index_name_error(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "is required"),
        (".", "not an index name"),
        ("..", "not an index name"),
        ("_x", "not an index name"),
        ("Orders", "not an index name"),
        ("a" * 256, "255 bytes"),
        ("é" * 128, "255 bytes"),
    ],
)
def test_index_name_rejects(value: str, expected: str) -> None:
    problem = names.index_name_error(value)
    assert problem is not None and expected in problem


@pytest.mark.parametrize(
    ("key", "value"),
    [("zone", "eu-1"), ("example.com/tier", "Fast_1"), ("k", ""), ("A.b-c_d", "v")],
)
def test_label_accepts(key: str, value: str) -> None:
    assert names.label_error(key, value) is None


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("", "v", "label key"),
        ("bad key", "v", "label key"),
        ("/tier", "v", "label key"),
        ("k", "has space", "label value"),
        ("k", "-lead", "label value"),
        ("k", "v" * 64, "label value"),
    ],
)
def test_label_rejects(key: str, value: str, expected: str) -> None:
    problem = names.label_error(key, value)
    assert problem is not None and expected in problem


def test_memory_limit_below_what_a_process_needs_is_refused() -> None:
    assert violated(make_spec(memory_limit_bytes=1024)) == {
        "spec.memory_limit_bytes": "must be at least 33554432 (32 MiB) or 0"
    }


def test_incremental_schedule_needs_an_incremental_type() -> None:
    from ferry.connectors.http import HttpSource

    spec = make_spec(type="http", config={"url": "https://api.example/items", "id_field": "id"})
    spec.schedule.incremental = "*/5 * * * *"
    problems = {
        v.field: v.description for v in validate_spec(spec, Registry([GeneratorSource, HttpSource]))
    }
    assert problems == {
        "spec.schedule.incremental": "connector type 'http' cannot sync incrementally"
    }
