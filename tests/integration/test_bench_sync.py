"""The sync benchmarks measure real work: tiny runs, then what they claim is checked."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import aetcd

from bench import agent_memory, assignment, failover, postgres_sync, sync_throughput
from ferry.connectors.generator import GeneratorSource
from ferry.etcd import EmbeddedEtcd, Keys, prefix_end
from ferry.store import Document, open_store


def test_sync_benchmark_measures_both_sides(tmp_path: Path) -> None:
    raw, ferry = sync_throughput.measure(tmp_path, docs=2000, rounds=1, warmup=0)

    assert len(raw) == len(ferry) == 1
    assert raw[0] > 0 and ferry[0] > 0
    # Both sides wrote the same generator documents (measure checks the counts too).
    config = sync_throughput.generator_config(2000)
    expected = GeneratorSource(config).document(1999)

    async def stored() -> tuple[int, Document | None]:
        async with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
            return await store.count("sync-0"), await store.get("sync-0", expected.id)

    count, doc = asyncio.run(stored())
    assert count == 2000
    assert doc is not None and doc.source == expected.source
    with closing(sqlite3.connect(tmp_path / "raw.db")) as conn:
        (count,) = conn.execute("SELECT count(*) FROM raw_0").fetchone()
    assert count == 2000


def test_failover_benchmark_kills_and_resumes(tmp_path: Path) -> None:
    [seconds] = failover.measure(tmp_path, docs=20_000, rounds=1)

    # The killed agent's lease had to expire first: at least two thirds of the TTL
    # (it is renewed every third), unless the kill never happened.
    assert failover.LEASE_TTL * 0.5 < seconds < failover.LEASE_TTL * 10


def test_agent_memory_benchmark_reads_peak_rss(tmp_path: Path) -> None:
    small, large = agent_memory.measure(tmp_path, docs=20_000)

    # A Python process with gRPC and protobuf loaded is tens of MB, not more than a GB.
    assert 20 < small < 1000 and 20 < large < 1000
    assert agent_memory.count_label(2_000_000) == "2M"
    assert agent_memory.count_label(200_000) == "200k"
    assert agent_memory.count_label(1234) == "1234"


async def test_assignment_benchmark_assigns_every_task(
    etcd_server: EmbeddedEtcd, etcd_client: aetcd.Client, keys: Keys
) -> None:
    raw, ferry = await assignment.measure(
        etcd_server.endpoint, agents=5, connectors=4, tasks_per_job=10, rounds=1, root=keys.root
    )

    assert len(raw) == len(ferry) == 1
    assert raw[0] > 0 and ferry[0] > 0
    round_keys = Keys(f"{keys.root}/0")
    prefix = round_keys.all_assignments()
    assigned = await etcd_client.get_range(prefix.encode(), prefix_end(prefix))
    assert len(assigned) == 40
    agents = {kv.key.decode()[len(prefix) :].split("/")[0] for kv in assigned}
    assert len(agents) == 5  # spread over every agent


def test_postgres_sync_benchmark_measures_three_sides(tmp_path: Path) -> None:
    read, write, ferry = postgres_sync.measure(tmp_path, scale=1, rounds=1)

    assert len(read) == len(write) == len(ferry) == 1
    assert min(read + write + ferry) > 0

    async def stored() -> tuple[int, Document | None]:
        async with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
            return await store.count("pg-0"), await store.get("pg-0", "100000")

    # Every pgbench account, as a document with the row's columns.
    count, doc = asyncio.run(stored())
    assert count == 100_000
    assert doc is not None and doc.source["aid"] == 100_000 and doc.source["bid"] == 1
    with closing(sqlite3.connect(tmp_path / "raw.db")) as conn:
        (count,) = conn.execute("SELECT count(*) FROM raw_0").fetchone()
    assert count == 100_000
