"""The connector-type registry: source classes found through entry points."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points

from ferry.connectors.sdk import Source
from ferry.errors import InvalidArgument

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "ferry.connectors"
PLUGINS_ENV = "FERRY_CONNECTOR_PLUGINS"
"""PLUGINS_ENV lists more sources as ``module:Class`` (comma-separated), importable
without installing a distribution: a plugin under development, a site's own."""


class Registry:
    """Registry maps connector type names to their Source classes."""

    def __init__(self, sources: Iterable[type[Source]] = ()) -> None:
        self._types: dict[str, type[Source]] = {}
        for source in sources:
            self.register(source)

    def register(self, source: type[Source]) -> None:
        """register adds a source class under its ``name``; a duplicate name is an error."""
        name = getattr(source, "name", "")
        if not name:
            raise InvalidArgument.field("name", f"{source.__qualname__} declares no name")
        if name in self._types and self._types[name] is not source:
            raise InvalidArgument.field("name", f"connector type {name!r} registered twice")
        self._types[name] = source

    def get(self, name: str) -> type[Source] | None:
        return self._types.get(name)

    @property
    def types(self) -> Mapping[str, type[Source]]:
        return dict(sorted(self._types.items()))


def load_registry() -> Registry:
    """load_registry imports every ``ferry.connectors`` entry point, then the
    ``module:Class`` sources named by ``FERRY_CONNECTOR_PLUGINS``.

    A plugin that fails to import is logged and skipped: one broken plugin
    must not take the whole agent or coordinator down.
    """
    registry = Registry()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            registry.register(ep.load())
        except Exception:
            log.exception("connector plugin failed to load", extra={"entry_point": ep.name})
    for spec in filter(None, (s.strip() for s in os.environ.get(PLUGINS_ENV, "").split(","))):
        try:
            module, _, name = spec.partition(":")
            registry.register(getattr(importlib.import_module(module), name))
        except Exception:
            log.exception("connector plugin failed to load", extra={"plugin": spec})
    return registry
