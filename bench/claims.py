"""Task claims through etcd, against raw etcd transactions from the same client.

SPEC §10: claims ≥ half the raw etcd transaction rate. Both sides use one
aetcd client on a private etcd, ``CONCURRENCY`` requests in flight, ``COUNT``
distinct fresh keys per round:

- raw: the minimal transaction a claim needs, ``Compare(create == 0)`` and one
  ``Put`` with no lease;
- Ferry: :func:`ferry.etcd.acquire` under one :class:`~ferry.etcd.Session`.

Rounds alternate, swapping which side goes first, and each side reports its
median, so drift on a busy machine (etcd shares its cores with this process)
falls on both sides alike.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable

import aetcd

from bench.report import Row
from ferry.etcd import EmbeddedEtcd, Keys, Session, acquire, connect

FIGURE = "task claims through etcd"
COUNT = 3000
CONCURRENCY = 32
ROUNDS = 5
WARMUP = 300
VALUE = b"agent-bench-0001"

Op = Callable[[str], Awaitable[object]]


async def rate(op: Op, keys: list[str], concurrency: int) -> float:
    """rate runs ``op`` once per key with ``concurrency`` in flight; returns ops per second."""
    pending = iter(keys)

    async def worker() -> None:
        for key in pending:  # the workers share one iterator: each key is done once
            await op(key)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(keys) / (time.perf_counter() - start)


def raw_txn(client: aetcd.Client) -> Op:
    """raw_txn is the raw limit: create-if-absent in one transaction, no lease."""
    tx = client.transactions

    async def op(key: str) -> None:
        ok, _ = await client.transaction(
            compare=[tx.create(key) == 0], success=[tx.put(key.encode(), VALUE)], failure=[]
        )
        if not ok:
            raise RuntimeError(f"raw transaction found {key} already there: keys must be fresh")

    return op


def ferry_claim(client: aetcd.Client, session: Session) -> Op:
    """ferry_claim is Ferry's path: a fenced claim under the session lease."""

    async def op(key: str) -> None:
        await acquire(client, session, key, VALUE)

    return op


def fresh_keys(run: str, count: int) -> list[str]:
    """fresh_keys are ``count`` task claim keys under a root no other round uses."""
    keys = Keys(f"/bench/claims/{run}")
    return [keys.claim("task", f"task-{i:06d}") for i in range(count)]


async def measure(
    endpoint: str, *, count: int = COUNT, concurrency: int = CONCURRENCY, rounds: int = ROUNDS
) -> tuple[list[float], list[float]]:
    """measure returns the raw and Ferry rates of each round, in claims per second."""
    client = connect(endpoint)
    await client.connect()
    try:
        async with Session(client, ttl=10) as session:
            sides = {"raw": raw_txn(client), "ferry": ferry_claim(client, session)}
            for name, op in sides.items():  # open the channel, warm etcd and the code paths
                await rate(op, fresh_keys(f"warmup-{name}", WARMUP), concurrency)
            rates: dict[str, list[float]] = {"raw": [], "ferry": []}
            for i in range(rounds):
                order = ["raw", "ferry"] if i % 2 == 0 else ["ferry", "raw"]
                for name in order:
                    measured = await rate(
                        sides[name], fresh_keys(f"{i}-{name}", count), concurrency
                    )
                    rates[name].append(measured)
                    print(
                        f"  claims round {i + 1}: {name:5} {measured:8.0f} txn/s", file=sys.stderr
                    )
            return rates["raw"], rates["ferry"]
    finally:
        await client.close()


def run() -> list[Row]:
    """run starts a private etcd, measures both sides and returns the §10 row."""
    with (
        tempfile.TemporaryDirectory(prefix="ferry-bench-claims-") as tmp,
        EmbeddedEtcd(tmp) as etcd,
    ):
        raw, ferry = asyncio.run(measure(etcd.endpoint))
    return [Row.of_rounds(FIGURE, ferry, raw, "txn/s", target=0.5)]
