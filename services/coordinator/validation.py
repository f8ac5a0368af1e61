"""Validation of connector specs against the names rules and the type's schema."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from croniter import CroniterError, croniter
from google.protobuf import duration_pb2, json_format, struct_pb2

from ferry.connectors import Registry
from ferry.errors import FieldViolation, InvalidArgument
from ferry.names import dns1123_label_error, index_name_error, label_error
from ferry.v1 import connectors_pb2 as pb

MAX_TASKS = 1024
MAX_SPEC_BYTES = 512 * 1024
"""MAX_SPEC_BYTES bounds a spec as stored (JSON in one etcd value; etcd takes 1.5 MiB)."""
MIN_MEMORY_LIMIT = 32 * 2**20
"""MIN_MEMORY_LIMIT: below this an isolated source's Python process cannot even start."""
MAX_DURATION_SECONDS = 315_576_000_000
"""MAX_DURATION_SECONDS is protobuf's own bound on a Duration (10,000 years)."""


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
        if expr and (problem := _cron_error(expr)) is not None:
            bad(f"schedule.{kind}", problem)
    if spec.isolation not in pb.Isolation.values():
        bad("isolation", f"unknown isolation {spec.isolation}")
    if spec.memory_limit_bytes < 0:
        bad("memory_limit_bytes", "must not be negative")
    elif 0 < spec.memory_limit_bytes < MIN_MEMORY_LIMIT:
        bad("memory_limit_bytes", f"must be at least {MIN_MEMORY_LIMIT} (32 MiB) or 0")
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
    if source is not None and not source.incremental and spec.schedule.incremental:
        bad("schedule.incremental", f"connector type {spec.type!r} cannot sync incrementally")
    not_finite = non_finite(spec.config, f"{path}.config") + non_finite(
        spec.rules.advanced, f"{path}.rules.advanced"
    )
    errors.extend(not_finite)
    if source is not None and not not_finite:
        config = json_format.MessageToDict(spec.config) if spec.HasField("config") else {}
        normalised, problems = source.schema.validate(config, path=f"{path}.config")
        errors.extend(problems)
        if not problems:
            errors.extend(
                FieldViolation(f"{path}.{v.field}", v.description)
                for v in source.validate(normalised)
            )
    if source is not None and source.advanced_rules and spec.rules.advanced.fields:
        if not not_finite:
            advanced = json_format.MessageToDict(spec.rules.advanced)
            errors.extend(
                FieldViolation(f"{path}.{v.field}", v.description)
                for v in source.validate_advanced_rules(advanced)
            )
    if not errors:
        stored = json.dumps(json_format.MessageToDict(spec, preserving_proto_field_name=True))
        if len(stored) > MAX_SPEC_BYTES:
            errors.append(
                FieldViolation(path, f"is {len(stored)} bytes as JSON; at most {MAX_SPEC_BYTES}")
            )
    return errors


def _cron_error(expr: str) -> str | None:
    if len(expr.split()) not in (5, 6) or not croniter.is_valid(expr):
        return f"{expr!r} is not a cron expression (5 fields, or 6 with seconds last)"
    try:
        croniter(expr).get_next()
    except CroniterError:  # valid syntax, no such date: "0 0 30 2 *"
        return f"{expr!r} never matches a date"
    return None


def non_finite(struct: struct_pb2.Struct, where: str) -> list[FieldViolation]:
    """non_finite names every NaN or infinite number in struct: JSON cannot hold them."""
    found: list[FieldViolation] = []

    def walk(value: struct_pb2.Value, at: str) -> None:
        kind = value.WhichOneof("kind")
        if kind == "number_value" and not math.isfinite(value.number_value):
            found.append(FieldViolation(at, f"must be a finite number, got {value.number_value}"))
        elif kind == "struct_value":
            for key, item in value.struct_value.fields.items():
                walk(item, f"{at}.{key}")
        elif kind == "list_value":
            for i, item in enumerate(value.list_value.values):
                walk(item, f"{at}[{i}]")

    for key, item in struct.fields.items():
        walk(item, f"{where}.{key}")
    return found


def _validate_error_policy(policy: pb.ErrorPolicy, bad: Any) -> None:
    if policy.max_retries < 0:
        bad("error_policy.max_retries", "must not be negative")
    if not 0.0 <= policy.max_error_rate <= 1.0:
        bad("error_policy.max_error_rate", "must be between 0 and 1")
    valid = True
    for name in ("initial_backoff", "max_backoff"):
        if (problem := _duration_error(getattr(policy, name))) is not None:
            bad(f"error_policy.{name}", problem)
            valid = False
    if (
        valid
        and policy.HasField("max_backoff")
        and policy.HasField("initial_backoff")
        and policy.max_backoff.ToTimedelta() < policy.initial_backoff.ToTimedelta()
    ):
        bad("error_policy.max_backoff", "must not be shorter than initial_backoff")


def _duration_error(d: duration_pb2.Duration) -> str | None:
    if d.seconds < 0 or d.nanos < 0:
        return "must not be negative"
    if d.seconds > MAX_DURATION_SECONDS or d.nanos > 999_999_999:
        return f"must be at most {MAX_DURATION_SECONDS} s, with nanos below one second"
    return None


def _validate_rules(rules: pb.SyncRules, bad: Any, *, advanced_ok: bool) -> None:
    for i, rule in enumerate(rules.basic):
        where = f"rules.basic[{i}]"
        if not rule.field:
            bad(f"{where}.field", "is required")
        if rule.operator == pb.RULE_OPERATOR_UNSPECIFIED:
            bad(f"{where}.operator", "is required")
        elif rule.operator not in pb.RuleOperator.values():
            bad(f"{where}.operator", f"unknown operator {rule.operator}")
        if rule.policy == pb.RULE_POLICY_UNSPECIFIED:
            bad(f"{where}.policy", "is required (include or exclude)")
        elif rule.policy not in pb.RulePolicy.values():
            bad(f"{where}.policy", f"unknown policy {rule.policy} (include or exclude)")
        if rule.operator == pb.RULE_OPERATOR_REGEX:
            try:
                re.compile(rule.value)
            except (re.error, OverflowError, RecursionError) as exc:
                # OverflowError: a repeat count past the engine's; RecursionError: deep nesting.
                bad(f"{where}.value", f"invalid regex: {exc}")
    if rules.HasField("advanced") and rules.advanced.fields and not advanced_ok:
        bad("rules.advanced", "this connector type does not accept advanced rules")


def check_spec(spec: pb.ConnectorSpec, registry: Registry) -> None:
    """check_spec raises InvalidArgument naming every bad field."""
    errors = validate_spec(spec, registry)
    if errors:
        raise InvalidArgument.fields(errors)
