"""Declarative connectors (the KIP-304 idea): the stored connectors match a file.

Applied at start and on SIGHUP. The whole file is validated first; if any
entry is bad nothing is applied and the error names the entry and field.
Connectors missing from the file are deleted, changed ones updated, new ones
created; each write is an optimistic etcd transaction, so replicas applying
the same file at once converge instead of fighting.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ferry.connectors import Registry
from ferry.errors import AlreadyExists, FieldViolation, InvalidArgument, NotFound
from ferry.specs import SpecEntry, load_specs
from services.coordinator.connectors import ConnectorStore
from services.coordinator.validation import validate_spec

log = logging.getLogger(__name__)


@dataclass
class ApplySummary:
    """ApplySummary says what one application of the file changed."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


class DeclarativeConnectors:
    """DeclarativeConnectors reconciles the stored connectors with ``path``."""

    def __init__(self, store: ConnectorStore, registry: Registry, path: str | Path) -> None:
        self._store = store
        self._registry = registry
        self.path = Path(path)

    def load(self) -> list[SpecEntry]:
        """load reads and validates the whole file; raises InvalidArgument naming the field."""
        entries = load_specs(self.path)
        errors: list[FieldViolation] = []
        for i, entry in enumerate(entries):
            errors.extend(validate_spec(entry.spec, self._registry, path=f"connectors[{i}]"))
        if errors:
            raise InvalidArgument(f"{self.path}: invalid connectors file:", errors)
        return entries

    async def apply(self) -> ApplySummary:
        """apply makes the stored connectors match the file."""
        entries = await asyncio.to_thread(self.load)
        summary = ApplySummary()
        wanted = {e.spec.name: e for e in entries}
        stored, token = [], ""
        while True:
            page, token = await self._store.list(page_token=token, page_size=1000)
            stored.extend(page)
            if not token:
                break
        for connector in stored:
            if connector.spec.name not in wanted:
                try:
                    await self._store.delete(connector.spec.name)
                    summary.deleted.append(connector.spec.name)
                except NotFound:
                    pass
        current = {c.spec.name: c for c in stored}
        for name, entry in wanted.items():
            existing = current.get(name)
            if existing is None:
                try:
                    await self._store.create(entry.spec, entry.state)
                    summary.created.append(name)
                    continue
                except AlreadyExists:
                    existing = await self._store.get(name)
            changed = False
            if existing.spec != entry.spec:
                await self._store.update(entry.spec, 0)
                changed = True
            if existing.state != entry.state:
                await self._store.set_state(name, entry.state)
                changed = True
            (summary.updated if changed else summary.unchanged).append(name)
        log.info(
            "connectors file applied",
            extra={
                "file": str(self.path),
                "created_count": len(summary.created),
                "updated_count": len(summary.updated),
                "deleted_count": len(summary.deleted),
                "unchanged_count": len(summary.unchanged),
            },
        )
        return summary
