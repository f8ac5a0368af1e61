"""The leader's planner as a pure function: cron ticks, assignment, drain, rebalancing."""

from __future__ import annotations

from collections import Counter

from aetcd import rpc, rtypes

from ferry.connectors import load_registry
from ferry.etcd import Keys
from ferry.sync import records
from ferry.sync.records import Claimed, JobRecord, TaskRecord
from ferry.sync.state import SyncState
from ferry.v1 import common_pb2, connectors_pb2
from ferry.v1 import jobs_pb2 as pb
from services.coordinator.scheduler import Planner, Put, latest_tick, wakes

KEYS = Keys("/t")
NOW = 1_800_000_000.0


def test_missed_ticks_collapse_into_the_latest() -> None:
    every_minute = "* * * * *"
    # An hour of missed ticks yields one run, for the most recent tick.
    tick = latest_tick(every_minute, NOW - 3600, NOW)
    assert tick is not None and NOW - 60 < tick <= NOW and tick % 60 == 0
    assert latest_tick("* * * * * */2", 100.0, 101.0) is None
    assert latest_tick("* * * * * */2", 100.0, 102.0) == 102.0


def _agent(agent_id: str, capacity: int = 4, **labels: str) -> common_pb2.AgentInfo:
    return common_pb2.AgentInfo(
        id=agent_id, max_concurrent_tasks=capacity, labels=labels, connector_types=["generator"]
    )


def _state(tasks: int, agents: list[common_pb2.AgentInfo], **selector: str) -> SyncState:
    connector = connectors_pb2.Connector(
        spec=connectors_pb2.ConnectorSpec(
            name="c", type="generator", index="i", tasks_max=tasks, agent_selector=selector
        ),
        state=connectors_pb2.CONNECTOR_STATE_RUNNING,
        revision=1,
    )
    job = pb.Job(id="j", connector="c", index="i", state=pb.JOB_STATE_RUNNING, generation=5)
    record = JobRecord(job)
    for n in range(tasks):
        task = pb.Task(id=records.task_id("j", n), job_id="j", partition=f"p{n}")
        task.state = pb.TASK_STATE_PENDING
        record.tasks.append(TaskRecord(task, 1, KEYS.task("j", task.id)))
    return SyncState(
        revision=10,
        connectors={"c": connector},
        jobs={"j": record},
        agents={a.id: a for a in agents},
    )


def _assigned(planner: Planner, state: SyncState) -> Counter[str]:
    decision = planner.decide(state, NOW)
    prefix = KEYS.all_assignments()
    placed: Counter[str] = Counter()
    for change in decision.changes:
        for op in change.ops:
            if isinstance(op, Put) and op.key.startswith(prefix):
                placed[op.key[len(prefix) :].split("/")[0]] += 1
    return placed


def test_least_loaded_first_within_capacity() -> None:
    planner = Planner(KEYS, load_registry())
    state = _state(10, [_agent("a", 2), _agent("b", 4), _agent("c", 8)])
    state.assigned = {"busy-1": "c", "busy-2": "c"}  # c already runs two other tasks
    placed = _assigned(planner, state)
    assert placed == Counter({"a": 2, "b": 4, "c": 4})  # a and b full; c takes the rest


def test_labels_pin_tasks_to_matching_agents() -> None:
    planner = Planner(KEYS, load_registry())
    state = _state(3, [_agent("near", 4, zone="db"), _agent("far", 4, zone="web")], zone="db")
    assert _assigned(planner, state) == Counter({"near": 3})


def test_a_claimed_task_is_never_assigned_again_until_released() -> None:
    planner = Planner(KEYS, load_registry())
    state = _state(2, [_agent("a"), _agent("b")])
    state.claims = {records.task_id("j", 0): Claimed("a", 42)}  # revoked, still releasing
    assert sum(_assigned(planner, state).values()) == 1


def test_drain_revokes_and_places_nothing_on_the_drained_agent() -> None:
    planner = Planner(KEYS, load_registry())
    state = _state(2, [_agent("a"), _agent("b")])
    t0, t1 = records.task_id("j", 0), records.task_id("j", 1)
    state.assigned = {t0: "a", t1: "b"}
    state.claims = {t0: Claimed("a", 1), t1: Claimed("b", 2)}
    state.drains = {"a"}
    decision = planner.decide(state, NOW)
    deleted = [op.key for c in decision.changes for op in c.ops if not isinstance(op, Put)]
    assert deleted == [KEYS.assignment("a", t0)]


def test_only_the_excess_moves_when_an_agent_joins() -> None:
    planner = Planner(KEYS, load_registry())
    state = _state(6, [_agent("a", 8), _agent("b", 8), _agent("new", 8)])
    ids = [records.task_id("j", n) for n in range(6)]
    state.assigned = {i: ("a" if n < 4 else "b") for n, i in enumerate(ids)}
    state.claims = {i: Claimed(state.assigned[i], n + 1) for n, i in enumerate(ids)}
    decision = planner.decide(state, NOW)
    revoked = [op.key for c in decision.changes for op in c.ops if not isinstance(op, Put)]
    # 4/2/0 -> 2/2/2 moves exactly two tasks, both from the busiest agent.
    assert len(revoked) == 2 and all(k.startswith(KEYS.assignments("a")) for k in revoked)


def test_completions_do_not_trigger_moves_once_balanced() -> None:
    planner = Planner(KEYS, load_registry())
    state = _state(4, [_agent("a", 8), _agent("b", 8)])
    ids = [records.task_id("j", n) for n in range(4)]
    state.assigned = {i: ("a" if n < 2 else "b") for n, i in enumerate(ids)}
    state.claims = {i: Claimed(state.assigned[i], n + 1) for n, i in enumerate(ids)}
    assert planner.decide(state, NOW).revoked == 0
    # b's two tasks complete: a holds 2, b none, but the agents did not change.
    for record in state.jobs["j"].tasks[2:]:
        record.task.state = pb.TASK_STATE_COMPLETED
        del state.assigned[record.task.id]
        del state.claims[record.task.id]
    assert planner.decide(state, NOW).revoked == 0


def test_maintenance_suspends_running_jobs_and_assigns_nothing() -> None:
    planner = Planner(KEYS, load_registry())
    state = _state(2, [_agent("a")])
    t0 = records.task_id("j", 0)
    state.assigned = {t0: "a"}
    state.claims = {t0: Claimed("a", 1)}
    state.maintenance = True
    decision = planner.decide(state, NOW)
    puts = [op for c in decision.changes for op in c.ops if isinstance(op, Put)]
    jobs = [records.decode_job(op.value) for op in puts if op.key == KEYS.job("j")]
    assert [j.state for j in jobs] == [pb.JOB_STATE_SUSPENDED]
    assert not [op for op in puts if op.key.startswith(KEYS.all_assignments())]
    deleted = [op.key for c in decision.changes for op in c.ops if not isinstance(op, Put)]
    assert deleted == [KEYS.assignment("a", t0)]


def _put(key: str, value: bytes, prev: bytes | None) -> rtypes.Event:
    before = rpc.KeyValue(key=key.encode(), value=prev) if prev is not None else None
    return rtypes.Event(rpc.Event.PUT, rpc.KeyValue(key=key.encode(), value=value), before)


def test_a_checkpoint_commit_does_not_wake_the_scheduler() -> None:
    key = KEYS.task("j", "j-0")
    running = pb.Task(id="j-0", job_id="j", partition="p0", state=pb.TASK_STATE_RUNNING, claims=1)
    checkpointed = pb.Task()
    checkpointed.CopyFrom(running)
    checkpointed.counters.docs_seen = 500
    checkpointed.cursor.update({"after": 500})
    checkpointed.checkpoint_time.GetCurrentTime()
    checkpointed.recent_document_errors.add(doc_id="d", message="bad")
    assert not wakes(KEYS, _put(key, records.encode(checkpointed), records.encode(running)))
    # Anything a pass decides on wakes it: the task's state, its claims, a new record.
    for change in ({"state": pb.TASK_STATE_COMPLETED}, {"claims": 2}):
        moved = pb.Task()
        moved.CopyFrom(checkpointed)
        for name, value in change.items():
            setattr(moved, name, value)
        assert wakes(KEYS, _put(key, records.encode(moved), records.encode(checkpointed)))
    assert wakes(KEYS, _put(key, records.encode(running), None))
    assert wakes(KEYS, _put(KEYS.job("j"), b"{}", b"{}"))  # not a task record
    deleted = rtypes.Event(rpc.Event.DELETE, rpc.KeyValue(key=key.encode()), None)
    assert wakes(KEYS, deleted)
