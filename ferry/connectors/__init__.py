"""Ferry's connector SDK: build a source by subclassing :class:`Source`."""

from ferry.connectors.registry import ENTRY_POINT_GROUP, Registry, load_registry
from ferry.connectors.sdk import (
    Checkpoint,
    ConfigSchema,
    Delete,
    Document,
    Field,
    FieldType,
    Source,
    TaskPlan,
    path_violations,
)
from ferry.errors import FieldViolation

__all__ = [
    "ENTRY_POINT_GROUP",
    "Checkpoint",
    "ConfigSchema",
    "Delete",
    "Document",
    "Field",
    "FieldType",
    "FieldViolation",
    "Registry",
    "Source",
    "TaskPlan",
    "load_registry",
    "path_violations",
]
