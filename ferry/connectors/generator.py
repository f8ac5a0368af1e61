"""The synthetic generator source: deterministic documents from a seed.

Used for benchmarks and tests before any external source exists. The dataset
is a pure function of its params (``docs``, ``seed``, ``doc_size``,
``version``, ``updated_every``, ``deleted_every``), so an index can be checked
against the generator document by document, and an operator models a source
that changes between runs by editing them: grow ``docs`` to insert, shrink it
or change ``deleted_every`` to delete, bump ``version`` to update.

Cursors:

- ``{"next": i}``: a full stream stopped before position ``i``.
- ``{"base": P, "next": i}``: an incremental stream from dataset ``P``
  stopped before position ``i``.
- ``{"base": P}``: a finished stream; the next incremental stream yields only
  what differs between dataset ``P`` and the current one.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
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
from ferry.errors import FieldViolation, InvalidArgument

SCHEMA = ConfigSchema(
    (
        Field(name="docs", type=FieldType.INTEGER, default=1000, minimum=0, maximum=10**10,
              description="How many documents the source holds."),
        Field(name="doc_size", type=FieldType.INTEGER, default=1024, minimum=16,
              maximum=10 * 1024 * 1024, description="Approximate bytes per document."),
        Field(name="seed", type=FieldType.INTEGER, default=0, description="Content seed."),
        Field(name="checkpoint_every", type=FieldType.INTEGER, default=500, minimum=1,
              description="Yield a checkpoint after this many positions scanned."),
        Field(name="deleted_every", type=FieldType.INTEGER, default=0, minimum=0,
              description="When > 0, every n-th document no longer exists."),
        Field(name="version", type=FieldType.INTEGER, default=0, minimum=0,
              description="The source's state version; bumping it changes updated documents."),
        Field(name="updated_every", type=FieldType.INTEGER, default=0, minimum=0,
              description="When > 0, every n-th document's content depends on version."),
    )
)  # fmt: skip


def _whole(value: Any, where: str) -> int:
    # Cursors stored as protobuf Struct come back with floats for every number.
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise InvalidArgument.field(where, "must be an integer")


@dataclass(frozen=True, kw_only=True)
class Dataset:
    """Dataset is the generator's content: which documents exist and what they hold.

    Document ``i`` exists when ``i < docs`` and, if ``deleted_every`` > 0,
    ``i % deleted_every != 0``. Its content depends on ``seed``, ``doc_size``
    and, when ``updated_every`` > 0 and ``i % updated_every == 0``, ``version``.
    """

    docs: int
    seed: int
    doc_size: int
    version: int
    updated_every: int
    deleted_every: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Dataset:
        """from_config reads the params from a source config, defaults for missing keys."""
        c = {**SCHEMA.defaults, **config}
        return cls(**{name: int(c[name]) for name in _PARAMS})

    @classmethod
    def from_cursor(cls, base: Any) -> Dataset:
        """from_cursor reads a cursor's ``base``; a malformed one is InvalidArgument."""
        if not isinstance(base, Mapping):
            raise InvalidArgument.field("cursor.base", "must be an object")
        for name in _PARAMS:
            if name not in base:
                raise InvalidArgument.field(f"cursor.base.{name}", "is required")
        return cls(**{name: _whole(base[name], f"cursor.base.{name}") for name in _PARAMS})

    def as_cursor(self) -> dict[str, int]:
        """as_cursor is the params as a JSON object, the ``base`` of a cursor."""
        return asdict(self)

    def exists(self, i: int) -> bool:
        """exists says whether document i is in the dataset."""
        return 0 <= i < self.docs and not (self.deleted_every and i % self.deleted_every == 0)

    def version_of(self, i: int) -> int:
        """version_of is the version document i's content depends on, 0 when not updated."""
        return self.version if self.updated_every and i % self.updated_every == 0 else 0

    def document(self, i: int) -> Document:
        """document is document i, the same every time for the same params."""
        v = self.version_of(i)
        # Version 0 hashes as before versions existed, so old indices stay valid.
        key = f"{self.seed}:{i}" if v == 0 else f"{self.seed}:{i}:{v}"
        digest = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
        body = (digest * (self.doc_size // len(digest) + 1))[: max(0, self.doc_size - 64)]
        return Document(id=f"doc-{i}", source={"n": i, "seed": self.seed, "v": v, "body": body})

    def same_content(self, other: Dataset, i: int) -> bool:
        """same_content says whether document i holds the same in both datasets."""
        return (self.seed, self.doc_size, self.version_of(i)) == (
            other.seed,
            other.doc_size,
            other.version_of(i),
        )

    def first_difference(self, other: Dataset) -> int:
        """first_difference is a position below which the two datasets are the same.

        When only ``docs`` differs, that is the smaller of the two counts, so
        an incremental sync after an insert scans only the new documents.
        """

        def rules(d: Dataset) -> tuple[int, ...]:
            # Updates with version 0 change nothing: every document is at version 0.
            updates = (d.updated_every, d.version) if d.updated_every and d.version else (0, 0)
            return (d.seed, d.doc_size, d.deleted_every, *updates)

        return min(self.docs, other.docs) if rules(self) == rules(other) else 0


_PARAMS = tuple(Dataset.__dataclass_fields__)


class GeneratorSource(Source):
    """GeneratorSource yields ``docs`` documents of about ``doc_size`` bytes each.

    A full stream yields every existing document of its task's range. An
    incremental stream from a ``{"base": P}`` cursor yields only the
    differences from dataset P: documents that are new or changed, and
    deletes for documents that existed in P and no longer do. The last task
    of a plan also covers ids past ``docs`` that P held, so shrinking
    ``docs`` deletes them.
    """

    name = "generator"
    description = "Synthetic documents from a seed, for benchmarks and tests."
    incremental = True
    schema = SCHEMA

    @cached_property
    def dataset(self) -> Dataset:
        """dataset is the documents the config describes."""
        return Dataset.from_config(self.config)

    @classmethod
    def validate(cls, config: Mapping[str, Any]) -> list[FieldViolation]:
        if config.get("deleted_every") == 1:
            return [FieldViolation("config.deleted_every", "1 would delete every document")]
        return []

    @classmethod
    def plan_tasks(cls, config: Mapping[str, Any], tasks_max: int) -> Sequence[TaskPlan]:
        docs = int(config.get("docs", SCHEMA.defaults["docs"]))
        count = max(1, min(tasks_max, docs or 1))
        step = -(-docs // count) if docs else 0
        # Rounding the step up can leave trailing tasks with nothing (or a start
        # past the end, e.g. 7 docs in 5 tasks): plan only tasks that have work.
        count = -(-docs // step) if docs else 1
        plans = []
        for i in range(count):
            start, end = i * step, min(docs, (i + 1) * step)
            params: dict[str, Any] = {"start": start, "end": end}
            if i == count - 1:
                params["last"] = True
            plans.append(TaskPlan(partition=f"range-{i}", params=params, estimate=end - start))
        return plans

    def exists(self, i: int) -> bool:
        """exists says whether document i is in the source now."""
        return self.dataset.exists(i)

    def document(self, i: int) -> Document:
        """document is document number i, the same every time for the same params."""
        return self.dataset.document(i)

    async def stream(
        self, task: TaskPlan, *, full: bool, cursor: Mapping[str, Any] | None
    ) -> AsyncIterator[Document | Delete | Checkpoint]:
        now = self.dataset
        cursor = cursor or {}
        # A full stream ignores a base, and with it the position of an incremental run.
        base = None if full or "base" not in cursor else Dataset.from_cursor(cursor["base"])
        start = int(task.params.get("start", 0))
        end = int(task.params.get("end", now.docs))
        position = start
        if "next" in cursor and not (full and "base" in cursor):
            position = max(start, _whole(cursor["next"], "cursor.next"))
        if base is not None:
            if task.params.get("last"):
                end = max(end, base.docs)
            position = max(position, base.first_difference(now))
        every = int(self.config.get("checkpoint_every", SCHEMA.defaults["checkpoint_every"]))
        scan_from = position
        for i in range(position, end):
            if base is None:
                if now.exists(i):
                    yield now.document(i)
            elif now.exists(i):
                if not base.exists(i) or not base.same_content(now, i):
                    yield now.document(i)
            elif base.exists(i):
                yield Delete(id=f"doc-{i}")
            # Counting positions, not yields, bounds the rescan after a crash
            # even when few documents changed.
            if (i + 1 - scan_from) % every == 0 and i + 1 < end:
                at: dict[str, Any] = {"next": i + 1}
                yield Checkpoint(at if base is None else {"base": base.as_cursor(), **at})
        yield Checkpoint({"base": now.as_cursor()})
