"""Validation of connector specs against the names rules and the type's schema."""

from __future__ import annotations

import re
from typing import Any

from croniter import croniter
from google.protobuf import json_format

from ferry.connectors import Registry
from ferry.errors import FieldViolation, InvalidArgument
from ferry.names import dns1123_label_error, index_name_error, label_error
from ferry.v1 import connectors_pb2 as pb

MAX_TASKS = 1024


def validate_spec(
    spec: pb.ConnectorSpec, registry: Registry, *, path: str = "spec"
) -> list[FieldViolation]:
    """validate_spec returns every violation in spec; field paths start with ``path``."""
    errors: list[FieldViolation] = []

    def bad(field: str, description: str) -> None:
        errors.append(FieldViolation(f"{path}.{field}", description))

    if (problem := dns1123_label_error(spec.name)) is not None:
        bad("name", problem)
    if (problem := index_name_error(spec.index)) is not None:
        bad("index", problem)
    if not 0 <= spec.tasks_max <= MAX_TASKS:
        bad("tasks_max", f"must be between 1 and {MAX_TASKS} (0 means 1)")
    for key, value in spec.agent_selector.items():
        if (problem := label_error(key, value)) is not None:
            bad(f"agent_selector.{key}", problem)
    for kind in ("full", "incremental"):
        expr = getattr(spec.schedule, kind)
        if expr and (len(expr.split()) != 5 or not croniter.is_valid(expr)):
            bad(f"schedule.{kind}", f"{expr!r} is not a 5-field cron expression")
    if spec.memory_limit_bytes < 0:
        bad("memory_limit_bytes", "must not be negative")
    if spec.memory_limit_bytes and spec.isolation != pb.ISOLATION_PROCESS:
        bad("memory_limit_bytes", "applies only with isolation ISOLATION_PROCESS")
    _validate_error_policy(spec.error_policy, bad)
    source = registry.get(spec.type)
    if not spec.type:
        bad("type", "is required")
    elif source is None:
        known = ", ".join(registry.types) or "none"
        bad("type", f"unknown connector type {spec.type!r} (registered: {known})")
    _validate_rules(spec.rules, bad, advanced_ok=source is None or source.advanced_rules)
    if source is not None:
        config = json_format.MessageToDict(spec.config) if spec.HasField("config") else {}
        normalised, problems = source.schema.validate(config, path=f"{path}.config")
        errors.extend(problems)
        if not problems:
            errors.extend(
                FieldViolation(f"{path}.{v.field}", v.description)
                for v in source.validate(normalised)
            )
    return errors


def _validate_error_policy(policy: pb.ErrorPolicy, bad: Any) -> None:
    if policy.max_retries < 0:
        bad("error_policy.max_retries", "must not be negative")
    if not 0.0 <= policy.max_error_rate <= 1.0:
        bad("error_policy.max_error_rate", "must be between 0 and 1")
    for name in ("initial_backoff", "max_backoff"):
        d = getattr(policy, name)
        if d.seconds < 0 or d.nanos < 0:
            bad(f"error_policy.{name}", "must not be negative")
    if (
        policy.HasField("max_backoff")
        and policy.HasField("initial_backoff")
        and policy.max_backoff.ToTimedelta() < policy.initial_backoff.ToTimedelta()
    ):
        bad("error_policy.max_backoff", "must not be shorter than initial_backoff")


def _validate_rules(rules: pb.SyncRules, bad: Any, *, advanced_ok: bool) -> None:
    for i, rule in enumerate(rules.basic):
        where = f"rules.basic[{i}]"
        if not rule.field:
            bad(f"{where}.field", "is required")
        if rule.operator == pb.RULE_OPERATOR_UNSPECIFIED:
            bad(f"{where}.operator", "is required")
        if rule.policy == pb.RULE_POLICY_UNSPECIFIED:
            bad(f"{where}.policy", "is required (include or exclude)")
        if rule.operator == pb.RULE_OPERATOR_REGEX:
            try:
                re.compile(rule.value)
            except re.error as exc:
                bad(f"{where}.value", f"invalid regex: {exc}")
        if rule.operator in (pb.RULE_OPERATOR_GREATER_THAN, pb.RULE_OPERATOR_LESS_THAN):
            try:
                float(rule.value)
            except ValueError:
                pass  # compared as strings: dates and versions order lexically
    if rules.HasField("advanced") and rules.advanced.fields and not advanced_ok:
        bad("rules.advanced", "this connector type does not accept advanced rules")


def check_spec(spec: pb.ConnectorSpec, registry: Registry) -> None:
    """check_spec raises InvalidArgument naming every bad field."""
    errors = validate_spec(spec, registry)
    if errors:
        raise InvalidArgument.fields(errors)
