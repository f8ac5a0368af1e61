"""Agent memory: the peak RSS of an agent syncing 2M documents, against a 200k-document sync.

SPEC §10: memory stays flat — a full sync of 2M documents peaks at no more
than 250 MB, and within 10 % of a sync of 200k. One coordinator; for each
size a fresh agent process (capacity 1) runs a one-task generator job of
``DOC_BYTES``-byte documents (smaller than 1 KB to keep the 2M sync within
minutes: what must stay flat is the per-document state, not the document
size) and its peak resident set (``VmHWM`` of ``/proc/PID/status``) is read
when the job has completed, before the agent stops.

``FERRY_BENCH_MEMORY_DOCS`` sets the large size (the small one is a tenth of it).

Two rows: the 2M peak against the 250 MB bound, and against the 200k peak.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from bench._cluster import Cluster, environ_int
from bench.report import Row

DOCS = 2_000_000
DOC_BYTES = 256
BOUND_MB = 250.0
FLAT = 1.10
"""FLAT is how much more the large sync may peak at than the small one."""
SYNC_TIMEOUT = 1800.0


def count_label(n: int) -> str:
    """count_label writes a document count the way SPEC §10 does: 2M, 200k."""
    if n >= 1_000_000 and n % 100_000 == 0:
        return f"{n / 1_000_000:g}M"
    if n >= 1000 and n % 100 == 0:
        return f"{n / 1000:g}k"
    return str(n)


def peak_rss(cluster: Cluster, connector: str, docs: int) -> float:
    """peak_rss syncs ``docs`` documents on a fresh agent and returns its peak RSS in MiB."""
    [agent] = cluster.agents(1, capacity=1)
    cluster.generator(connector, docs=docs, doc_size=DOC_BYTES, seed=3, checkpoint_every=1000)
    start = time.perf_counter()
    job = cluster.wait_job(cluster.sync(connector), timeout=SYNC_TIMEOUT, interval=0.5)
    elapsed = time.perf_counter() - start
    if job.counters.docs_indexed != docs:
        raise RuntimeError(f"{connector} indexed {job.counters.docs_indexed} of {docs} documents")
    peak = agent.peak_rss_mb()
    agent.stop()
    print(
        f"  agent memory: {count_label(docs)} docs in {elapsed:.1f} s, peak RSS {peak:.1f} MiB",
        file=sys.stderr,
    )
    return peak


def measure(directory: Path, *, docs: int = DOCS) -> tuple[float, float]:
    """measure returns the agent's peak RSS (MiB) for a sync of docs/10, then of docs."""
    with Cluster(directory) as cluster:
        cluster.coordinator()
        small = peak_rss(cluster, "memory-small", docs // 10)
        large = peak_rss(cluster, "memory-large", docs)
    return small, large


def run() -> list[Row]:
    """run measures both sizes in a temporary directory and returns the two §10 rows."""
    docs = environ_int("FERRY_BENCH_MEMORY_DOCS", DOCS)
    with tempfile.TemporaryDirectory(prefix="ferry-bench-memory-") as tmp:
        small, large = measure(Path(tmp), docs=docs)
    figure = f"agent memory, full sync of {count_label(docs)} docs ({DOC_BYTES} B)"
    return [
        Row(
            figure=f"{figure}: peak RSS ≤ {BOUND_MB:g} MB",
            ferry=large,
            raw_limit=BOUND_MB,
            unit="MB",
            target=1.0,
            lower_is_better=True,
        ),
        Row(
            figure=f"{figure}: peak RSS vs {count_label(docs // 10)} docs",
            ferry=large,
            raw_limit=small,
            unit="MB",
            target=FLAT,
            lower_is_better=True,
        ),
    ]
