"""Soak: mixed load on two clusters while agents and replicators are killed and paused.

Three connectors sync round after round into the leader cluster — a generator
changed between syncs (INCREMENTAL), a three-task generator resized between
syncs (FULL) and a SQLite table with inserted, updated and soft-deleted rows
(INCREMENTAL) — while a follower cluster replicates the first one's index.
Meanwhile :class:`~tests.soak.load.Chaos` SIGKILLs (and restarts) or SIGSTOPs
(and resumes) agents and replicators of both clusters, its choices drawn at
a fixed seed. At the end every index equals its source and the follower equals
the leader document by document, and every service process's memory stayed
flat (see :data:`SLACK_MIB`).

``make soak`` runs :func:`test_soak` for ``FERRY_SOAK_SECONDS`` (default 180)
of load; the suite runs :func:`test_soak_smoke`, the same for 20 s.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import duration_pb2

from ferry.etcd import EmbeddedEtcd
from ferry.store._sqlite_schema import WRITER_CACHE_KIB
from ferry.v1 import jobs_pb2
from tests.helpers import ServiceProcess, wait_until
from tests.replication.clusters import Cluster
from tests.soak.load import Chaos, ItemsTable, MemorySampler, Verdict
from tests.sync.support import index_documents, index_equals_generator

SEED = 20_240_607
TTL = 3.0
SMOKE_SECONDS = 20.0
SOAK_SECONDS = float(os.environ.get("FERRY_SOAK_SECONDS") or 0)
WARMUP = 10.0
GROWTH = 1.2
SLACK_MIB = WRITER_CACHE_KIB / 1024 + 8
"""A process's RSS is sampled every 0.5 s; its series, less the first WARMUP seconds
(imports, first connections), is flat when the last quarter's peak is at most the first
quarter's peak * GROWTH + SLACK_MIB: the SQLite writer's page cache, which fills up to
WRITER_CACHE_KIB as a store grows, and 8 MiB."""
MIN_SAMPLES = 16
"""Series shorter than this (a process restarted near the end) are shown, not judged."""

FULL, INCREMENTAL = jobs_pb2.JOB_KIND_FULL, jobs_pb2.JOB_KIND_INCREMENTAL


class Soak:
    """Soak is the two clusters, their sources and the rounds of syncs."""

    def __init__(
        self,
        services: Callable[..., ServiceProcess],
        leader_etcd: str,
        follower_etcd: str,
        tmp_path: Path,
        seed: int,
    ) -> None:
        self.tmp_path = tmp_path
        self.rng = random.Random(seed)
        self.leader = Cluster("leader", services, leader_etcd, tmp_path, lease_ttl=TTL)
        self.follower = Cluster("follower", services, follower_etcd, tmp_path, lease_ttl=TTL)
        self.items = ItemsTable(tmp_path / "items.db", random.Random(seed + 1), rows=4000)
        self.gen: dict[str, Any] = {
            "docs": 20_000, "doc_size": 200, "seed": seed % 1000, "updated_every": 5,
            "version": 0, "checkpoint_every": 500,
        }  # fmt: skip
        self.wide: dict[str, Any] = {"docs": 30_000, "doc_size": 100, "seed": seed % 997}
        self.rounds = 0
        self.jobs = 0

    def processes(self) -> list[ServiceProcess]:
        return [
            *self.leader.coordinators,
            *self.leader.agents,
            *self.leader.replicators,
            *self.follower.coordinators,
            *self.follower.replicators,
        ]

    def victims(self) -> list[ServiceProcess]:
        return [*self.leader.agents, *self.leader.replicators, *self.follower.replicators]

    def start(self) -> None:
        """start runs every process (in parallel), then creates the connectors."""
        self.leader.coordinator()
        self.follower.coordinator()
        for _ in range(3):
            self.leader.agent(capacity=3, checkpoint_docs=2000, checkpoint_interval=1.0, wait=False)
        for cluster in (self.leader, self.follower):
            for _ in range(2):
                cluster.replicator(wait=False)
        for proc in self.processes():
            proc.wait_serving()
        wanted = {a.member_id for a in self.leader.agents}
        wait_until(
            lambda: wanted <= {a.id for a in self.leader.list_agents()}, what="agents registered"
        )
        self.follower.add_remote("leader", self.leader)
        self.leader.generator("gen", **self.gen)
        self.leader.generator("wide", tasks_max=3, **self.wide)
        self.leader.create("items", "sqlite", self.items.config)

    def change_sources(self) -> None:
        """change_sources changes what each connector reads, at random (seeded)."""
        self.items.change()
        move = self.rng.choice(["version", "grow", "shrink"])
        if move == "version":
            self.gen["version"] += 1
        elif move == "grow":
            self.gen["docs"] += self.rng.randrange(500, 3000)
        else:
            self.gen["docs"] -= self.rng.randrange(200, 1500)
        self.wide["docs"] = self.rng.randrange(25_000, 35_000)
        self.leader.update_config("gen", **self.gen)
        self.leader.update_config("wide", **self.wide)

    def sync_round(self) -> None:
        """sync_round syncs the three connectors at once and waits until every job COMPLETED."""
        kind = FULL if self.rounds == 0 else INCREMENTAL
        started = [
            self.leader.sync("gen", kind),
            self.leader.sync("items", kind),
            self.leader.sync("wide", FULL),
        ]
        for job in started:
            done = self.leader.wait_job(job.id, timeout=180)
            assert done.state == jobs_pb2.JOB_STATE_COMPLETED, (
                f"round {self.rounds}: job {done.id} of {done.connector} ended "
                f"{jobs_pb2.JobState.Name(done.state)}: {done.error} "
                + "; ".join(f"{t.id}: {t.error}" for t in done.tasks if t.error)
            )
        self.rounds += 1
        self.jobs += len(started)

    def follow(self) -> None:
        self.follower.follow(
            "gen-copy", "leader", "gen", max_retry_delay=duration_pb2.Duration(seconds=1)
        )

    def check(self) -> dict[str, int]:
        """check compares every index with its source and the follower with the leader,
        document by document; returns each index's size."""
        index_equals_generator(self.leader.store_url, "gen", **self.gen)
        index_equals_generator(self.leader.store_url, "wide", **self.wide)
        want = self.items.documents()
        got = index_documents(self.leader.store_url, "items")
        assert len(got) == len(want), f"items: index {len(got)} documents, table {len(want)}"
        differ = [i for i in want if got.get(i) != want[i]]
        assert not differ, f"items: {len(differ)} documents differ, e.g. {differ[:3]}"
        self.follower.wait_caught_up(self.leader, "gen", "gen-copy", timeout=120)
        self.follower.assert_equal(self.leader, "gen", "gen-copy")
        return {"gen": self.gen["docs"], "wide": self.wide["docs"], "items": len(want)}


def soak(
    services: Callable[..., ServiceProcess],
    leader_etcd: EmbeddedEtcd,
    follower_etcd: EmbeddedEtcd,
    tmp_path: Path,
    seconds: float,
) -> None:
    """soak runs the load with chaos for ``seconds``, then one calm round, and checks."""
    began = time.monotonic()
    run = Soak(services, leader_etcd.endpoint, follower_etcd.endpoint, tmp_path, SEED)
    memory = MemorySampler(run.processes).start()
    chaos = Chaos(random.Random(SEED + 2), TTL)
    try:
        run.start()
        chaos.victims = run.victims()
        run.sync_round()  # the first, calm: creates the indices
        run.follow()
        chaos.start()
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            run.change_sources()
            run.sync_round()
        chaos.stop()
        run.change_sources()
        run.sync_round()
        sizes = run.check()
    finally:
        chaos.stop()
        memory.stop()
        memory.write_csv(tmp_path / "memory.csv")
    verdicts = memory.verdicts(
        warmup=WARMUP, growth=GROWTH, slack_mib=SLACK_MIB, min_samples=MIN_SAMPLES
    )
    print(summary(run, chaos, verdicts, sizes, time.monotonic() - began, seconds))
    # The load met both kinds of fault (they alternate, one every 1 to 3 s).
    assert {f.action for f in chaos.faults} == {"kill", "pause"}, chaos.summary()
    assert verdicts, "no memory series long enough to judge"
    grown = [v for v in verdicts if not v.flat]
    assert not grown, "memory grew: " + "; ".join(
        f"{v.member} (pid {v.pid}) {v.first_peak_mib:.0f} -> {v.last_peak_mib:.0f} MiB"
        for v in grown
    )


def summary(
    run: Soak,
    chaos: Chaos,
    verdicts: list[Verdict],
    sizes: dict[str, int],
    took: float,
    seconds: float,
) -> str:
    lines = [
        f"soak: seed {SEED}, {seconds:.0f} s of chaos, {took:.0f} s in all: {run.rounds} rounds, "
        f"{run.jobs} jobs COMPLETED; indices equal their sources "
        f"({', '.join(f'{k} {v}' for k, v in sizes.items())} documents); "
        "gen-copy equals gen",
        f"faults ({len(chaos.faults)}): {chaos.summary() or 'none'}",
        f"logs and memory.csv (every sample) in {run.tmp_path}",
        f"memory after {WARMUP:.0f} s (flat: last-quarter peak <= first-quarter peak * {GROWTH}"
        f" + {SLACK_MIB:.0f} MiB):",
    ]
    for v in verdicts:
        lines.append(
            f"  {v.member:<24} pid {v.pid:<7} {v.samples:>4} samples  "
            f"{v.first_peak_mib:6.1f} → {v.last_peak_mib:6.1f} MiB  "
            f"(limit {v.limit_mib:6.1f})  {'flat' if v.flat else 'GREW'}"
        )
    return "\n".join(lines)


@pytest.fixture
def soak_run(
    services: Callable[..., ServiceProcess],
    etcd_server: EmbeddedEtcd,
    follower_etcd: EmbeddedEtcd,
    tmp_path: Path,
) -> Iterator[Callable[[float], None]]:
    yield lambda seconds: soak(services, etcd_server, follower_etcd, tmp_path, seconds)


@pytest.mark.faults
@pytest.mark.timeout(SOAK_SECONDS + 600)
def test_soak(soak_run: Callable[[float], None]) -> None:
    if not SOAK_SECONDS:
        pytest.skip(
            "the soak runs only for FERRY_SOAK_SECONDS seconds (make soak sets it); "
            f"test_soak_smoke runs it for {SMOKE_SECONDS:.0f} s"
        )
    soak_run(SOAK_SECONDS)


@pytest.mark.faults
def test_soak_smoke(soak_run: Callable[[float], None]) -> None:
    soak_run(SMOKE_SECONDS)
