"""A generator that takes its time, loaded by agents through FERRY_CONNECTOR_PLUGINS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

from ferry.connectors import Checkpoint, ConfigSchema, Delete, Document, Field, FieldType, TaskPlan
from ferry.connectors.generator import SCHEMA, GeneratorSource

PLUGIN = "tests.e2e.paced_source:PacedGenerator"


class PacedGenerator(GeneratorSource):
    """PacedGenerator is the generator pausing ``pause_ms`` after each checkpoint, so that a
    sync of a few thousand documents lasts seconds: long enough to act while it runs."""

    name = "test-paced-generator"
    schema = ConfigSchema(
        (*SCHEMA.fields, Field(name="pause_ms", type=FieldType.INTEGER, default=0, minimum=0))
    )

    async def stream(
        self, task: TaskPlan, *, full: bool, cursor: Mapping[str, Any] | None
    ) -> AsyncIterator[Document | Delete | Checkpoint]:
        pause = self.config["pause_ms"] / 1000
        async for item in super().stream(task, full=full, cursor=cursor):
            yield item
            if isinstance(item, Checkpoint):
                await asyncio.sleep(pause)
