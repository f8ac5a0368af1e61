"""A full sync, generator → SQLite index, against a raw SQLite bulk insert of the same documents.

SPEC §10: a sync of 1 KB documents reaches at least half of what a bare
in-process SQLite insert of the same documents does. Both sides produce the
generator's ``DOCS`` documents (``GeneratorSource(config).document(i)``) and
write them into files of one directory:

- raw: in this process, ``json.dumps`` of each document's source and
  ``executemany`` of the (id, JSON) rows into a plain table with an id primary
  key, one transaction per ``BATCH``, WAL and ``synchronous=NORMAL`` (the
  store's settings). Producing the documents is timed, as on Ferry's side:
  without the source there is nothing to insert.
- Ferry: one coordinator and one agent process over an embedded etcd, a
  generator connector with one task; from ``Jobs.Start`` until ``Jobs.Get``
  says COMPLETED (the sweep included). The agent writes batches of ``BATCH``
  and commits a checkpoint to etcd every ``CHECKPOINT_DOCS`` documents.

Rounds alternate, swapping which side goes first; each side reports its median.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench._cluster import Cluster, alternate
from bench.report import Row
from bench.store_write import raw_insert
from ferry.connectors.generator import GeneratorSource

FIGURE = "sync, generator → SQLite index, 1 KB docs"
DOCS = 100_000
DOC_BYTES = 1024
BATCH = 1000
SOURCE_CHECKPOINT_EVERY = 1000
CHECKPOINT_DOCS = 10_000
ROUNDS = 3
WARMUP_DOCS = 5000
SYNC_TIMEOUT = 600.0


def generator_config(docs: int, *, seed: int = 11) -> dict[str, Any]:
    """generator_config is the connector config both sides produce documents from."""
    return {
        "docs": docs,
        "doc_size": DOC_BYTES,
        "seed": seed,
        "checkpoint_every": SOURCE_CHECKPOINT_EVERY,
    }


def raw_round(path: Path, table: str, config: dict[str, Any], batch: int) -> float:
    """raw_round inserts the generator's documents as (id, JSON) rows into a fresh table,
    one transaction per batch; docs per second. Producing the documents is timed."""
    docs = int(config["docs"])
    source = GeneratorSource(config)
    documents = (source.document(i) for i in range(docs))
    return raw_insert(path, table, ((d.id, d.source) for d in documents), batch)


def ferry_round(cluster: Cluster, connector: str, config: dict[str, Any]) -> float:
    """ferry_round syncs a fresh generator connector into its own index; docs per second."""
    cluster.generator(connector, tasks_max=1, **config)
    return cluster.timed_sync(connector, int(config["docs"]), timeout=SYNC_TIMEOUT)


def measure(
    directory: Path, *, docs: int = DOCS, rounds: int = ROUNDS, warmup: int = WARMUP_DOCS
) -> tuple[list[float], list[float]]:
    """measure returns the raw and Ferry rates of each round, in docs per second.

    The index store is ``directory/store.db`` (connectors and indices
    ``sync-<round>``), the raw tables are in ``directory/raw.db`` (``raw_<round>``).
    A warm-up round of ``warmup`` documents goes first on both sides.
    """
    with Cluster(directory) as cluster:
        cluster.coordinator()
        cluster.agents(1, capacity=1, batch_docs=BATCH, checkpoint_docs=CHECKPOINT_DOCS)

        def raw(label: str, count: int = docs) -> float:
            return raw_round(directory / "raw.db", f"raw_{label}", generator_config(count), BATCH)

        def ferry(label: str, count: int = docs) -> float:
            return ferry_round(cluster, f"sync-{label}", generator_config(count))

        if warmup:
            raw("warmup", warmup)
            ferry("warmup", warmup)
        rates = alternate({"raw": raw, "ferry": ferry}, rounds=rounds, what="sync", unit="docs/s")
    return rates["raw"], rates["ferry"]


def run() -> list[Row]:
    """run measures both sides in a temporary directory and returns the §10 row."""
    with tempfile.TemporaryDirectory(prefix="ferry-bench-sync-") as tmp:
        raw, ferry = measure(Path(tmp))
    return [Row.of_rounds(FIGURE, ferry, raw, "docs/s", target=0.5)]
