"""Secret references: resolution on the agent, validation, and redaction."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ferry import secrets
from ferry.connectors import ConfigSchema, Field, FieldType
from ferry.logs import JsonFormatter


def test_resolve_env_and_file_references_anywhere_in_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FERRY_UNIT_PW", "hunter2-unit")
    secret_file = tmp_path / "key"
    secret_file.write_text("file-secret-42\n")
    config = {
        "password": "${env:FERRY_UNIT_PW}",
        "header": f"Bearer ${{file:{secret_file}}}",
        "nested": {"list": ["${env:FERRY_UNIT_PW}", 3]},
        "plain": "no reference",
    }
    assert secrets.resolve(config) == {
        "password": "hunter2-unit",
        "header": "Bearer file-secret-42",
        "nested": {"list": ["hunter2-unit", 3]},
        "plain": "no reference",
    }
    assert secrets.redact("pw=hunter2-unit key=file-secret-42") == "pw=[redacted] key=[redacted]"


def test_unresolvable_references_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(secrets.SecretError) as raised:
        secrets.resolve({"auth": {"token": "${env:FERRY_UNIT_UNSET}"}})
    assert raised.value.violation.field == "config.auth.token"
    with pytest.raises(secrets.SecretError) as raised:
        secrets.resolve({"key": f"${{file:{tmp_path / 'absent'}}}"})
    assert raised.value.violation.field == "config.key"
    assert "cannot be read" in raised.value.violation.description


def test_schema_requires_references_in_secret_fields() -> None:
    schema = ConfigSchema(
        (
            Field(name="password", type=FieldType.STRING, secret=True),
            Field(name="host", type=FieldType.STRING),
        )
    )
    _, problems = schema.validate({"password": "literal", "host": "${env:}"})
    assert {p.field: p.description for p in problems} == {
        "config.password": "is a secret: give a ${env:NAME} or ${file:PATH} reference, "
        "resolved on the agent (the value itself is never stored)",
        "config.host": "${env:} names no variable",
    }
    _, problems = schema.validate({"password": "${file:relative/path}"})
    assert [p.description for p in problems] == ["'relative/path' is not an absolute path"]
    assert schema.validate({"password": "${env:PGPASSWORD}"})[1] == []


def test_log_lines_are_redacted() -> None:
    secrets.remember("log-secret-value")
    formatter = JsonFormatter("agent", "a-1")
    record = logging.LogRecord(
        "x", logging.WARNING, __file__, 1, "saw %s", ("log-secret-value",), None
    )
    record.detail = "dsn with log-secret-value inside"
    line = formatter.format(record)
    assert "log-secret-value" not in line
    assert '"msg": "saw [redacted]"' in line
    assert '"detail": "dsn with [redacted] inside"' in line


def test_short_values_are_not_redacted() -> None:
    secrets.remember("ab")
    assert secrets.redact("abc ab") == "abc ab"
