"""Replication: how fast a follower applies the leader's history, and its lag under load.

SPEC §10: the apply rate reaches at least half of the raw store write rate,
and the lag's 99th percentile stays within 1 s while the leader takes 5000
operations a second. Both rows run on a :class:`bench._replication.Pair`: a
leader cluster (its own etcd and SQLite store, one replicator) and a follower
cluster (its own etcd and store, a coordinator and one replicator). The bench
writes to leader indices of ``SHARDS`` shards straight into the leader store
with :meth:`Store.bulk`, as an agent would: index operations of new documents
of about 200 bytes (``documents(..., doc_bytes=DOC_BYTES)``).

Apply rate, in operations per second:

- Ferry: a fresh leader index, followed while it is empty (a new follower
  copies a snapshot rather than the history: following an empty index makes
  the timed part the streaming path). Once every shard is FOLLOWING the
  follower is paused, ``OPS`` operations are written to the leader in batches
  of ``BATCH``, and the follower is resumed. Timed from ``Replication.Resume``
  until every follower shard's global checkpoint (read from the follower
  store every ``POLL_INTERVAL``) equals the leader's: the shard tasks being
  claimed again, the leader replicator reading its store, the gRPC stream and
  the follower replicator applying to its store. The follower is paused
  again afterwards, so that its idle streams do not load later rounds.
- raw limit: the store's own bulk write of the same operations, i.e. SPEC's
  "raw store write rate": :meth:`Store.bulk` of the same batches into a fresh
  ``SHARDS``-shard index of a fresh SQLite store, in this process.

Rounds alternate, swapping which side goes first, after a warm-up round of
``WARMUP_OPS`` on both sides; each side reports its median.

Lag, in seconds: a fresh leader index, followed while empty; a writer writes
``LAG_RATE`` operations a second to it, paced on a ``LAG_TICK`` clock (50
operations every 10 ms: each tick writes what is due since the start, so a
late tick is made up by the next rather than lost). For each batch written
after ``LAG_WARMUP`` seconds, its lag is the time from its commit on the
leader to the first poll of the follower store (every ``POLL_INTERVAL``)
whose checkpoints cover each of the batch's seq_nos, for ``LAG_SECONDS``. The
row is the 99th percentile against the 1 s bound; the median, the maximum
and the rate the writer achieved go to stderr. Fewer than
``MIN_RATE_SHARE`` of ``LAG_RATE`` operations a second fails the benchmark:
the figure is the lag at that rate.
"""

from __future__ import annotations

import asyncio
import collections
import math
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench._cluster import alternate
from bench._replication import Pair, checkpoints
from bench._store import documents, timed_bulk, write
from bench.report import Row
from ferry.store import NO_OPS, IndexOp, IndexSpec, Store, open_store

APPLY_FIGURE = "replication apply rate"
LAG_FIGURE = "replication lag p99 at 5k ops/s"
OPS = 200_000
DOC_BYTES = 256
SHARDS = 2
BATCH = 1000
ROUNDS = 3
WARMUP_OPS = 5000
POLL_INTERVAL = 0.02
CATCH_UP_TIMEOUT = 600.0
LAG_RATE = 5000
LAG_TICK = 0.01
LAG_SECONDS = 20.0
LAG_WARMUP = 3.0
LAG_BOUND = 1.0
LAG_TIMEOUT = 60.0
"""LAG_TIMEOUT fails the lag run when a batch is not on the follower this long after its write."""
MIN_RATE_SHARE = 0.95
MAX_BATCH = 1000
"""MAX_BATCH bounds one write of the lag run when the writer has fallen behind."""


async def caught_up(store: Store, index: str, want: list[int]) -> None:
    """caught_up polls the follower store until the index's checkpoints are ``want``;
    RuntimeError after CATCH_UP_TIMEOUT."""
    deadline = time.monotonic() + CATCH_UP_TIMEOUT
    while (got := await checkpoints(store, index)) != want:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"follower {index} at checkpoints {got} after {CATCH_UP_TIMEOUT:g}s, not {want}"
            )
        await asyncio.sleep(POLL_INTERVAL)


async def raw_round(directory: Path, label: str, ops: list[IndexOp], batch: int) -> float:
    """raw_round bulk-writes ops into a fresh index of a fresh store; operations per second."""
    async with open_store(f"sqlite:///{directory / f'raw-{label}.db'}") as store:
        return await timed_bulk(store, "raw", ops, batch, shards=SHARDS)


async def ferry_round(pair: Pair, index: str, ops: list[IndexOp], batch: int) -> float:
    """ferry_round times a paused follower of a fresh leader index catching up with ``ops``
    written meanwhile, from Resume; operations per second."""
    async with (
        open_store(pair.leader.store_url) as leader,
        open_store(pair.follower.store_url) as follower,
    ):
        await leader.create_index(IndexSpec(index, shards=SHARDS))
        await asyncio.to_thread(pair.follow, index, index)
        await asyncio.to_thread(pair.pause, index)
        await write(leader, index, ops, batch)
        want = await checkpoints(leader, index)
        start = time.perf_counter()
        await asyncio.to_thread(pair.resume, index)
        await caught_up(follower, index, want)
        elapsed = time.perf_counter() - start
        await asyncio.to_thread(pair.pause, index)
    return len(ops) / elapsed


def measure_apply(
    pair: Pair,
    directory: Path,
    *,
    ops: int = OPS,
    rounds: int = ROUNDS,
    warmup: int = WARMUP_OPS,
    batch: int = BATCH,
) -> tuple[list[float], list[float]]:
    """measure_apply returns the raw and Ferry apply rates of each round, in operations
    per second. Leader and follower indices are ``apply-<round>``, the raw stores
    ``directory/raw-<round>.db``; a warm-up round (``warmup``) goes first on both sides."""
    operations = documents(ops, doc_bytes=DOC_BYTES)

    def raw(label: str, count: int = ops) -> float:
        return asyncio.run(raw_round(directory, label, operations[:count], batch))

    def ferry(label: str, count: int = ops) -> float:
        return asyncio.run(ferry_round(pair, f"apply-{label}", operations[:count], batch))

    if warmup:
        raw("warmup", warmup)
        ferry("warmup", warmup)
    rates = alternate({"raw": raw, "ferry": ferry}, rounds=rounds, what="apply", unit="ops/s")
    return rates["raw"], rates["ferry"]


@dataclass(frozen=True)
class Batch:
    """Batch is one write of the lag run: when it committed, and its highest seq_no on
    each shard (NO_OPS where it wrote none)."""

    committed: float
    seq_nos: list[int]


@dataclass(frozen=True)
class Lag:
    """Lag is what a lag run measured."""

    seconds: list[float]
    """seconds are the lags of the batches written after the warm-up, in write order."""
    rate: float
    """rate is the operations per second the writer achieved after the warm-up."""

    def percentile(self, p: int) -> float:
        """percentile is the p-th percentile of the lags (1 ≤ p ≤ 99)."""
        if len(self.seconds) < 2:
            return self.seconds[0]
        return statistics.quantiles(self.seconds, n=100, method="inclusive")[p - 1]


async def write_steadily(
    store: Store,
    index: str,
    ops: list[IndexOp],
    pending: collections.deque[Batch],
    *,
    rate: float,
    warmup: float,
) -> float:
    """write_steadily writes ops at ``rate`` a second, on a ``LAG_TICK`` clock: each tick
    writes what is due since the start, up to MAX_BATCH. Batches committed after ``warmup``
    seconds go to ``pending``. Returns the rate achieved after the warm-up."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    written = measured = 0
    last = start + warmup
    while written < len(ops):
        ticks = math.floor((loop.time() - start) / LAG_TICK) + 1
        await asyncio.sleep(max(0.0, start + ticks * LAG_TICK - loop.time()))
        due = min(len(ops), int(rate * (loop.time() - start)))
        count = min(due - written, MAX_BATCH)
        if count <= 0:
            continue
        result = await store.bulk(index, ops[written : written + count])
        committed = loop.time()
        written += count
        if committed - start < warmup:
            continue
        seq_nos = [NO_OPS] * SHARDS
        for item in result.items:
            seq_nos[item.shard] = max(seq_nos[item.shard], item.seq_no)
        pending.append(Batch(committed, seq_nos))
        measured += count
        last = committed
    return measured / (last - start - warmup) if last > start + warmup else 0.0


async def watch_follower(
    store: Store,
    index: str,
    pending: collections.deque[Batch],
    writing: asyncio.Task[float],
) -> list[float]:
    """watch_follower polls the follower's checkpoints every POLL_INTERVAL and returns each
    pending batch's lag, until the writer is done and every batch is covered; RuntimeError
    when a batch is still missing LAG_TIMEOUT after its write."""
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    while True:
        got = await checkpoints(store, index)
        now = loop.time()
        while pending and all(g >= s for g, s in zip(got, pending[0].seq_nos, strict=True)):
            lags.append(now - pending.popleft().committed)
        if writing.done() and not pending:
            return lags
        if pending and now - pending[0].committed > LAG_TIMEOUT:
            raise RuntimeError(
                f"follower {index} still at checkpoints {got} after {LAG_TIMEOUT:g}s"
            )
        await asyncio.sleep(POLL_INTERVAL)


async def measure_lag(
    pair: Pair,
    *,
    rate: float = LAG_RATE,
    seconds: float = LAG_SECONDS,
    warmup: float = LAG_WARMUP,
    index: str = "lag",
) -> Lag:
    """measure_lag follows a fresh leader index ``index`` while writing to it at ``rate``
    operations a second for ``warmup + seconds``, and returns the lags after the warm-up."""
    ops = documents(math.ceil(rate * (warmup + seconds)), doc_bytes=DOC_BYTES, seed=13)
    pending: collections.deque[Batch] = collections.deque()
    async with (
        open_store(pair.leader.store_url) as leader,
        open_store(pair.follower.store_url) as follower,
    ):
        await leader.create_index(IndexSpec(index, shards=SHARDS))
        await asyncio.to_thread(pair.follow, index, index)
        async with asyncio.TaskGroup() as group:
            writing = group.create_task(
                write_steadily(leader, index, ops, pending, rate=rate, warmup=warmup)
            )
            watching = group.create_task(watch_follower(follower, index, pending, writing))
    lag = Lag(seconds=watching.result(), rate=writing.result())
    if lag.rate < MIN_RATE_SHARE * rate:
        raise RuntimeError(
            f"the writer reached {lag.rate:.0f} of {rate:g} operations a second: "
            "the machine is too busy for this figure"
        )
    return lag


def run() -> list[Row]:
    """run measures both figures on one pair of clusters in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="ferry-bench-replication-") as tmp:
        with Pair(Path(tmp)) as pair:
            raw, ferry = measure_apply(pair, Path(tmp))
            lag = asyncio.run(measure_lag(pair))
    print(
        f"  lag: {len(lag.seconds)} batches at {lag.rate:.0f} ops/s: "
        f"p50 {lag.percentile(50):.3f} s, p99 {lag.percentile(99):.3f} s, "
        f"max {max(lag.seconds):.3f} s",
        file=sys.stderr,
    )
    return [
        Row.of_rounds(APPLY_FIGURE, ferry, raw, "ops/s", target=0.5),
        Row(
            figure=LAG_FIGURE,
            ferry=lag.percentile(99),
            raw_limit=LAG_BOUND,
            unit="s",
            target=1.0,
            lower_is_better=True,
        ),
    ]
