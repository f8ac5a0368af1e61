"""The synthetic generator source: deterministic documents from a seed.

Used for benchmarks and tests before any external source exists. Document
``i`` of seed ``s`` always has the same content, so an index can be checked
against the generator document by document.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from ferry.connectors.sdk import (
    Checkpoint,
    ConfigSchema,
    Delete,
    Document,
    Field,
    FieldType,
    Source,
    TaskPlan,
)
from ferry.errors import FieldViolation


class GeneratorSource(Source):
    """GeneratorSource yields ``docs`` documents of about ``doc_size`` bytes each."""

    name = "generator"
    description = "Synthetic documents from a seed, for benchmarks and tests."
    incremental = True
    schema = ConfigSchema(
        (
            Field(name="docs", type=FieldType.INTEGER, default=1000, minimum=0, maximum=10**10,
                  description="How many documents the source holds."),
            Field(name="doc_size", type=FieldType.INTEGER, default=1024, minimum=16,
                  maximum=10 * 1024 * 1024, description="Approximate bytes per document."),
            Field(name="seed", type=FieldType.INTEGER, default=0, description="Content seed."),
            Field(name="checkpoint_every", type=FieldType.INTEGER, default=500, minimum=1,
                  description="Yield a checkpoint after this many documents."),
            Field(name="deleted_every", type=FieldType.INTEGER, default=0, minimum=0,
                  description="When > 0, every n-th document no longer exists."),
        )
    )  # fmt: skip

    @classmethod
    def validate(cls, config: Mapping[str, Any]) -> list[FieldViolation]:
        if config.get("deleted_every") == 1:
            return [FieldViolation("config.deleted_every", "1 would delete every document")]
        return []

    @classmethod
    def plan_tasks(cls, config: Mapping[str, Any], tasks_max: int) -> Sequence[TaskPlan]:
        docs = int(config.get("docs", 0))
        count = max(1, min(tasks_max, docs or 1))
        step = -(-docs // count) if docs else 0
        # Rounding the step up can leave trailing tasks with nothing (or a start
        # past the end, e.g. 7 docs in 5 tasks): plan only tasks that have work.
        count = -(-docs // step) if docs else 1
        return [
            TaskPlan(
                partition=f"range-{i}", params={"start": i * step, "end": min(docs, (i + 1) * step)}
            )
            for i in range(count)
        ]

    def document(self, i: int) -> Document:
        """document is document number i, the same every time for the same seed."""
        seed = int(self.config.get("seed", 0))
        size = int(self.config.get("doc_size", 1024))
        digest = hashlib.blake2b(f"{seed}:{i}".encode(), digest_size=16).hexdigest()
        body = (digest * (size // len(digest) + 1))[: max(0, size - 64)]
        return Document(id=f"doc-{i}", source={"n": i, "seed": seed, "body": body})

    async def stream(
        self, task: TaskPlan, *, full: bool, cursor: Mapping[str, Any] | None
    ) -> AsyncIterator[Document | Delete | Checkpoint]:
        start = int((cursor or {}).get("next", task.params.get("start", 0)))
        end = int(task.params.get("end", self.config.get("docs", 0)))
        every = int(self.config.get("checkpoint_every", 500))
        deleted_every = int(self.config.get("deleted_every", 0))
        for i in range(start, end):
            if deleted_every and i % deleted_every == 0:
                yield Delete(id=f"doc-{i}")
            else:
                yield self.document(i)
            if (i + 1 - start) % every == 0:
                yield Checkpoint({"next": i + 1})
        yield Checkpoint({"next": end})
