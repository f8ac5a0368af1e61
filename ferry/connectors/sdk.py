"""The connector SDK: what a source declares and what the framework calls.

A source is a class with a config schema, ``plan_tasks`` (split one job into
tasks), ``ping``, ``validate`` and an async ``stream`` that yields documents
and checkpoints. Plugins register their class under the ``ferry.connectors``
entry point group.
"""

from __future__ import annotations

import abc
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from ferry import secrets
from ferry.errors import FieldViolation


class FieldType(StrEnum):
    """FieldType is the JSON type a config value must have."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    LIST = "list"
    OBJECT = "object"


@dataclass(frozen=True, kw_only=True)
class Field:
    """Field describes one config key of a source."""

    name: str
    type: FieldType
    required: bool = False
    default: Any = None
    description: str = ""
    secret: bool = False
    """Secret values are references (${env:NAME}, ${file:PATH}) resolved on the agent."""
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


def _type_error(f: Field, value: Any) -> str | None:
    ok = {
        FieldType.STRING: isinstance(value, str),
        FieldType.INTEGER: isinstance(value, int) and not isinstance(value, bool),
        FieldType.NUMBER: isinstance(value, (int, float)) and not isinstance(value, bool),
        FieldType.BOOLEAN: isinstance(value, bool),
        FieldType.LIST: isinstance(value, list),
        FieldType.OBJECT: isinstance(value, dict),
    }[f.type]
    return None if ok else f"must be of type {f.type.value}, got {type(value).__name__}"


def _reference_problem(f: Field, value: str) -> str | None:
    problems = secrets.reference_errors(value)
    if problems:
        return "; ".join(problems)
    if f.secret and not secrets.has_reference(value):
        return (
            "is a secret: give a ${env:NAME} or ${file:PATH} reference, "
            "resolved on the agent (the value itself is never stored)"
        )
    return None


def path_violations(config: Mapping[str, Any], key: str = "path") -> list[FieldViolation]:
    """path_violations says when ``config[key]``, a string, is not an absolute path.

    A value holding a reference (``${env:DATA_DIR}``) passes: it is resolved,
    and so checked, on the agent.
    """
    value = config.get(key)
    if isinstance(value, str) and not value.startswith("/") and not secrets.has_reference(value):
        return [FieldViolation(f"config.{key}", "must be an absolute path")]
    return []


@dataclass(frozen=True)
class ConfigSchema:
    """ConfigSchema validates and normalises a source's config."""

    fields: tuple[Field, ...] = ()

    @property
    def defaults(self) -> dict[str, Any]:
        """defaults maps every field to its default (None when it has none):
        ``{**schema.defaults, **config}`` reads any field without a fallback."""
        return {f.name: f.default for f in self.fields}

    def validate(
        self, config: Mapping[str, Any], *, path: str = "config"
    ) -> tuple[dict[str, Any], list[FieldViolation]]:
        """validate returns the config with defaults applied, and every violation.

        Numbers that arrive as floats (JSON, protobuf Struct) but are whole
        count as integers. Unknown keys are violations: a typo must not pass.
        """
        errors: list[FieldViolation] = []
        known = {f.name: f for f in self.fields}
        for key in sorted(set(config) - set(known)):
            errors.append(FieldViolation(f"{path}.{key}", "unknown config key"))
        normalised: dict[str, Any] = {}
        for f in self.fields:
            where = f"{path}.{f.name}"
            if f.name not in config or config[f.name] is None:
                if f.required:
                    errors.append(FieldViolation(where, "is required"))
                elif f.default is not None:
                    normalised[f.name] = f.default
                continue
            value = config[f.name]
            if (
                f.type is FieldType.INTEGER
                and isinstance(value, float)
                and math.isfinite(value)
                and value.is_integer()
            ):
                value = int(value)
            problem = _type_error(f, value)
            if problem is None and f.choices and value not in f.choices:
                problem = f"must be one of {', '.join(f.choices)}"
            if problem is None and isinstance(value, str):
                problem = _reference_problem(f, value)
            if problem is None and f.type in (FieldType.INTEGER, FieldType.NUMBER):
                if not math.isfinite(value):
                    problem = "must be finite"
                elif f.minimum is not None and value < f.minimum:
                    problem = f"must be at least {f.minimum:g}"
                elif f.maximum is not None and value > f.maximum:
                    problem = f"must be at most {f.maximum:g}"
            if problem is not None:
                errors.append(FieldViolation(where, problem))
                continue
            normalised[f.name] = value
        return normalised, errors


@dataclass(frozen=True)
class TaskPlan:
    """TaskPlan is one task of a job: the slice of the source it covers."""

    partition: str
    """Stable name of the slice (a table, a key range); checkpoints are keyed by it."""
    params: dict[str, Any] = field(default_factory=dict)
    estimate: int = 0
    """Documents the task expects to yield; progress shows a percentage when known, 0 if not."""


@dataclass(frozen=True)
class Document:
    """Document is one record to index: an id (≤ 512 bytes) and a JSON object."""

    id: str
    source: dict[str, Any]


@dataclass(frozen=True)
class Delete:
    """Delete removes a document by id (incremental syncs that see deletions)."""

    id: str


@dataclass(frozen=True)
class Checkpoint:
    """Checkpoint is a source cursor; resuming from it skips what came before."""

    cursor: dict[str, Any]


class Source(abc.ABC):
    """Source is the base class of every connector type.

    Subclasses set ``name``, ``description`` and ``schema`` and implement
    :meth:`stream`. The defaults: one task, no extra validation, ping succeeds.
    State derived from the config belongs in a ``functools.cached_property``,
    not an ``__init__`` override.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    schema: ClassVar[ConfigSchema] = ConfigSchema()
    incremental: ClassVar[bool] = False
    advanced_rules: ClassVar[bool] = False

    def __init__(
        self, config: Mapping[str, Any], *, advanced_rules: Mapping[str, Any] | None = None
    ) -> None:
        self.config = dict(config)
        """config: validated, defaults applied, secret references resolved."""
        self.advanced = dict(advanced_rules or {})
        """advanced: the connector's ``rules.advanced``, for sources that declare
        ``advanced_rules = True`` (e.g. ``{"where": "..."}`` for the SQL sources)."""

    @classmethod
    def plan_tasks(cls, config: Mapping[str, Any], tasks_max: int) -> Sequence[TaskPlan]:
        """plan_tasks splits a job into at most ``tasks_max`` tasks."""
        return [TaskPlan(partition="all")]

    @classmethod
    def validate(cls, config: Mapping[str, Any]) -> list[FieldViolation]:
        """validate checks what the schema cannot (cross-field rules); paths start "config."."""
        return []

    @classmethod
    def validate_advanced_rules(cls, rules: Mapping[str, Any]) -> list[FieldViolation]:
        """validate_advanced_rules checks ``rules.advanced`` at create/update time;
        paths start "rules.advanced."."""
        return []

    async def ping(self) -> None:  # noqa: B027 — optional hook, reachable by default
        """ping raises if the source cannot be reached."""

    @abc.abstractmethod
    def stream(
        self, task: TaskPlan, *, full: bool, cursor: Mapping[str, Any] | None
    ) -> AsyncIterator[Document | Delete | Checkpoint]:
        """stream yields documents, deletes and checkpoints, resuming after ``cursor``."""
