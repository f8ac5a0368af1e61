"""The leader's scheduler converging on 10k tasks over 50 agents, against a real etcd.

SPEC §10: with 10k tasks on 50 agents, assignment converges within 2 s. In
this process, against a private embedded etcd:

- ``AGENTS`` agents are registered as their processes would be (an
  ``AgentInfo`` each, able to run ``generator`` tasks, capacity
  ``CAPACITY``), and ``CONNECTORS`` generator connectors with ``tasks_max``
  ``TASKS_PER_JOB``, each with one PENDING job: planning yields
  ``CONNECTORS * TASKS_PER_JOB`` tasks.
- The leader's passes then run as the scheduler loop runs them —
  :func:`read_state`, :meth:`Planner.decide`, :func:`apply` guarded by a
  real :class:`Election` — back to back, until every task is assigned. The
  figure is the time from the start of the first pass (which plans the jobs)
  to the end of the pass whose writes assign the last task.

The row's raw limit is the bound (2 s). Beside it, the same etcd puts the
passes made are replayed raw, in transactions of ``TXN_OPS`` from the same
client, and printed: how much of the time etcd itself takes.

Rounds alternate the two sides under fresh key roots; each reports its median.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass

import aetcd
from google.protobuf import struct_pb2

from bench.report import Row
from ferry.connectors import Registry
from ferry.connectors.generator import GeneratorSource
from ferry.etcd import Election, EmbeddedEtcd, Keys, Session, connect
from ferry.member import encode_info, now_timestamp
from ferry.sync import records
from ferry.sync.state import loads, read_state
from ferry.v1 import common_pb2, connectors_pb2
from ferry.v1 import jobs_pb2 as pb
from services.coordinator.scheduler import TXN_OPS, Planner, Put, apply, new_job

FIGURE = "coordinator, 10k tasks on 50 agents"
AGENTS = 50
CAPACITY = 200
CONNECTORS = 100
TASKS_PER_JOB = 100
BOUND_SECONDS = 2.0
ROUNDS = 3
MAX_PASSES = 20


@dataclass
class Convergence:
    """Convergence is one measured run of the leader's passes."""

    seconds: float
    passes: int
    tasks: int
    puts: list[Put]
    """puts are every Put the passes applied, for the raw replay."""
    timings: list[tuple[float, float, float]]
    """timings are (read, decide, apply) seconds of each pass."""


async def populate(
    client: aetcd.Client, keys: Keys, *, agents: int, connectors: int, tasks_per_job: int
) -> int:
    """populate registers the agents and puts the connectors and their PENDING jobs;
    returns how many tasks planning will yield."""
    tx = client.transactions
    ops = []
    for n in range(agents):
        info = common_pb2.AgentInfo(
            id=f"agent-{n:03d}",
            address=f"127.0.0.1:{20000 + n}",
            max_concurrent_tasks=CAPACITY,
            connector_types=["generator"],
            state=common_pb2.AGENT_STATE_ACTIVE,
            start_time=now_timestamp(),
        )
        ops.append(tx.put(keys.agent(info.id).encode(), encode_info(info)))
    docs = tasks_per_job * 1000
    for n in range(connectors):
        config = struct_pb2.Struct()
        config.update({"docs": docs, "doc_size": 256, "seed": n})
        name = f"gen-{n:03d}"
        spec = connectors_pb2.ConnectorSpec(
            name=name, type="generator", index=name, config=config, tasks_max=tasks_per_job
        )
        now = now_timestamp()
        connector = connectors_pb2.Connector(
            spec=spec,
            state=connectors_pb2.CONNECTOR_STATE_RUNNING,
            create_time=now,
            update_time=now,
        )
        ops.append(tx.put(keys.connector(name).encode(), records.encode_connector(connector)))
        job = new_job(connector, pb.JOB_KIND_FULL, pb.JOB_TRIGGER_ON_DEMAND, time.time())
        ops.append(tx.put(keys.job(job.id).encode(), records.encode(job)))
    for start in range(0, len(ops), TXN_OPS):
        await client.transaction(compare=[], success=ops[start : start + TXN_OPS], failure=[])
    return connectors * tasks_per_job


async def converge(client: aetcd.Client, keys: Keys, election: Election, tasks: int) -> Convergence:
    """converge runs leader passes until ``tasks`` tasks are assigned; RuntimeError if
    they never are."""
    planner = Planner(keys, Registry([GeneratorSource]))
    puts: list[Put] = []
    timings = []
    assigned = 0
    start = time.perf_counter()
    for passes in range(1, MAX_PASSES + 1):
        t0 = time.perf_counter()
        state = await read_state(client, keys)
        t1 = time.perf_counter()
        decision = planner.decide(state, time.time())
        t2 = time.perf_counter()
        applied = await apply(client, decision.changes, election.guard())
        t3 = time.perf_counter()
        timings.append((t1 - t0, t2 - t1, t3 - t2))
        if applied != len(decision.changes):
            raise RuntimeError(f"pass {passes}: {len(decision.changes) - applied} changes refused")
        puts += [op for change in decision.changes for op in change.ops if isinstance(op, Put)]
        assigned += decision.assigned
        if assigned >= tasks:
            elapsed = t3 - start
            break
    else:
        raise RuntimeError(f"{assigned} of {tasks} tasks assigned after {MAX_PASSES} passes")
    state = await read_state(client, keys)
    planned = sum(len(r.tasks) for r in state.jobs.values())
    if planned != tasks or len(state.assigned) != tasks:
        raise RuntimeError(f"{len(state.assigned)} of {planned} tasks assigned, expected {tasks}")
    busiest = max(loads(state.assigned, state.claims).values())
    if busiest > CAPACITY:
        raise RuntimeError(f"an agent was given {busiest} tasks, capacity {CAPACITY}")
    return Convergence(elapsed, passes, tasks, puts, timings)


async def raw_puts(client: aetcd.Client, root: str, puts: list[Put]) -> float:
    """raw_puts writes the same keys (under ``root``) and values in plain transactions of
    TXN_OPS puts, one after another as the passes apply them; seconds."""
    tx = client.transactions
    start = time.perf_counter()
    for first in range(0, len(puts), TXN_OPS):
        ops = [tx.put((root + p.key).encode(), p.value) for p in puts[first : first + TXN_OPS]]
        await client.transaction(compare=[], success=ops, failure=[])
    return time.perf_counter() - start


async def measure(
    endpoint: str,
    *,
    agents: int = AGENTS,
    connectors: int = CONNECTORS,
    tasks_per_job: int = TASKS_PER_JOB,
    rounds: int = ROUNDS,
    root: str = "/bench/assignment",
) -> tuple[list[float], list[float]]:
    """measure returns the raw replay and convergence seconds of each round.

    Round ``i`` runs under the key root ``{root}/{i}``, its raw replay under
    ``{root}/raw/{i}``; both stay in etcd.
    """
    client = connect(endpoint)
    await client.connect()
    try:
        async with Session(client, ttl=10) as session:
            times: dict[str, list[float]] = {"raw": [], "ferry": []}
            last: list[Put] = []
            for i in range(rounds):
                keys = Keys(f"{root}/{i}")
                election = Election(client, session, keys.election())
                await election.campaign(b"bench")
                tasks = await populate(
                    client, keys, agents=agents, connectors=connectors, tasks_per_job=tasks_per_job
                )
                # The raw side replays the previous round's puts (the first round's, at first).
                for name in ["ferry", "raw"] if i % 2 == 0 else ["raw", "ferry"]:
                    if name == "ferry":
                        run = await converge(client, keys, election, tasks)
                        last = run.puts
                        times["ferry"].append(run.seconds)
                        passes = "; ".join(
                            f"read {r:.2f} decide {d:.2f} apply {a:.2f}" for r, d, a in run.timings
                        )
                        print(
                            f"  assignment round {i + 1}: ferry {run.seconds:6.2f} s, "
                            f"{run.passes} passes ({passes}), {len(run.puts)} puts",
                            file=sys.stderr,
                        )
                    else:
                        seconds = await raw_puts(client, f"{root}/raw/{i}", last)
                        times["raw"].append(seconds)
                        print(
                            f"  assignment round {i + 1}: raw   {seconds:6.2f} s, "
                            f"{len(last)} puts in transactions of {TXN_OPS}",
                            file=sys.stderr,
                        )
                await election.resign()
            return times["raw"], times["ferry"]
    finally:
        await client.close()


def run() -> list[Row]:
    """run starts a private etcd, measures and returns the §10 row (the bound as raw limit)."""
    with (
        tempfile.TemporaryDirectory(prefix="ferry-bench-assignment-") as tmp,
        EmbeddedEtcd(tmp) as etcd,
    ):
        raw, ferry = asyncio.run(measure(etcd.endpoint))
    converged, replay = statistics.median(ferry), statistics.median(raw)
    print(
        f"  assignment: {converged:.2f} s to converge, {replay:.2f} s of it the raw etcd "
        f"puts alone ({converged / replay:.1f} times as long)",
        file=sys.stderr,
    )
    return [
        Row(
            figure=FIGURE,
            ferry=converged,
            raw_limit=BOUND_SECONDS,
            unit="s",
            target=1.0,
            lower_is_better=True,
        )
    ]
