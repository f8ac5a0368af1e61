"""Sources that misbehave on purpose, loaded by agents through FERRY_CONNECTOR_PLUGINS."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

from ferry.connectors import (
    Checkpoint,
    ConfigSchema,
    Delete,
    Document,
    Field,
    FieldType,
    Source,
    TaskPlan,
)

PLUGINS = ",".join(
    f"tests.connectors.sources:{name}" for name in ("MemoryHog", "Indiscreet", "Crasher", "WhoAmI")
)

log = logging.getLogger(__name__)


class MemoryHog(Source):
    """MemoryHog yields documents while keeping every megabyte it ever allocated."""

    name = "test-memory-hog"
    schema = ConfigSchema((Field(name="mib_per_doc", type=FieldType.INTEGER, default=8),))

    async def stream(
        self, task: TaskPlan, *, full: bool, cursor: Mapping[str, Any] | None
    ) -> AsyncIterator[Document | Delete | Checkpoint]:
        kept: list[bytearray] = []
        i = 0
        while True:
            # bytearray(n) is calloc'd: touch every page so it is resident.
            block = bytearray(self.config["mib_per_doc"] * 2**20)
            block[::4096] = b"x" * len(block[::4096])
            kept.append(block)
            yield Document(f"hog-{i}", {"n": i, "held_mib": len(kept)})
            i += 1


class Indiscreet(Source):
    """Indiscreet quotes its secret in a log line and in the error that ends its stream,
    as a careless driver quoting a connection string would."""

    name = "test-indiscreet"
    schema = ConfigSchema(
        (
            Field(name="token", type=FieldType.STRING, required=True, secret=True),
            Field(name="docs", type=FieldType.INTEGER, default=5),
        )
    )

    async def stream(
        self, task: TaskPlan, *, full: bool, cursor: Mapping[str, Any] | None
    ) -> AsyncIterator[Document | Delete | Checkpoint]:
        token = self.config["token"]
        log.warning(f"connecting with token {token}")
        for i in range(self.config["docs"]):
            yield Document(f"doc-{i}", {"n": i})
        yield Checkpoint({"done": True})
        raise ConnectionError(f"server refused token {token}")


class Crasher(Source):
    """Crasher yields ``docs`` documents, then aborts its process (a segfaulting driver)."""

    name = "test-crasher"
    schema = ConfigSchema((Field(name="docs", type=FieldType.INTEGER, default=10),))

    async def stream(
        self, task: TaskPlan, *, full: bool, cursor: Mapping[str, Any] | None
    ) -> AsyncIterator[Document | Delete | Checkpoint]:
        for i in range(self.config["docs"]):
            yield Document(f"doc-{i}", {"n": i})
        os.abort()


class WhoAmI(Source):
    """WhoAmI yields one document naming the process its stream ran in."""

    name = "test-whoami"

    async def stream(
        self, task: TaskPlan, *, full: bool, cursor: Mapping[str, Any] | None
    ) -> AsyncIterator[Document | Delete | Checkpoint]:
        yield Document("me", {"pid": os.getpid()})
