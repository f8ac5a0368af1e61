"""Job and task records as they live in etcd, and the names derived from them.

A job record (``jobs/{id}``) is written by the coordinator that created it and
then by the leader. A task record (``tasks/{job}/{task}``) is created by the
leader when it plans the job and afterwards written by the agent holding the
task's claim, every write guarded by the claim's token. Which agent a task is
assigned to lives in a separate key (``assign/{agent}/{task}``) so that the
leader can assign thousands of tasks without racing agents' checkpoints, and
whether it runs is the claim key (``claims/tasks/{task}``). :func:`view`
merges the three into the Task the API shows.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format, struct_pb2

from ferry.v1 import connectors_pb2
from ferry.v1 import jobs_pb2 as pb

TERMINAL_JOB = frozenset({pb.JOB_STATE_COMPLETED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELED})
TERMINAL_TASK = frozenset({pb.TASK_STATE_COMPLETED, pb.TASK_STATE_FAILED, pb.TASK_STATE_CANCELED})
CLAIM_KIND = "tasks"
"""CLAIM_KIND is the claims/ sub-prefix task claims live under."""
SWEEP_PARTITION = "_sweep"
"""SWEEP_PARTITION names a FULL job's final task; connector partitions never start with "_"."""


def new_job_id(connector: str) -> str:
    """new_job_id is unique and sorts by creation time within a connector."""
    return f"{connector}-{int(time.time() * 1000):011x}{secrets.token_hex(2)}"


def task_id(job_id: str, n: int) -> str:
    return f"{job_id}-{n}"


def fence_scope(connector: str, partition: str) -> str:
    """fence_scope is the store scope a task's writes are fenced in.

    Per connector and partition, not per job: a zombie of an earlier job
    (whose token is lower) is refused as well.
    """
    return f"{connector}/{partition}"


def stamp_scope(connector: str) -> str:
    """stamp_scope is the generation scope of a connector's documents in its index."""
    return connector


def encode(message: pb.Job | pb.Task) -> bytes:
    record = json_format.MessageToDict(message, preserving_proto_field_name=True)
    record.pop("revision", None)
    return json.dumps(record, separators=(",", ":")).encode()


def encode_connector(connector: connectors_pb2.Connector) -> bytes:
    record = json_format.MessageToDict(connector, preserving_proto_field_name=True)
    record.pop("revision", None)
    return json.dumps(record, sort_keys=True).encode()


def decode_connector(value: bytes, mod_revision: int) -> connectors_pb2.Connector:
    connector = json_format.Parse(value, connectors_pb2.Connector(), ignore_unknown_fields=True)
    connector.revision = mod_revision
    return connector


def decode_job(value: bytes, mod_revision: int = 0) -> pb.Job:
    job = json_format.Parse(value, pb.Job(), ignore_unknown_fields=True)
    job.revision = mod_revision
    return job


def decode_task(value: bytes) -> pb.Task:
    return json_format.Parse(value, pb.Task(), ignore_unknown_fields=True)


PROGRESS_FIELDS = frozenset({"counters", "cursor", "checkpoint_time", "recent_document_errors"})
"""PROGRESS_FIELDS are what an agent's checkpoint commit rewrites in its task record."""


def progress_only(before: bytes, after: bytes) -> bool:
    """progress_only says two encodings of a task record differ in PROGRESS_FIELDS only.

    A field added to Task later counts as a real change until it is listed here.
    """

    def rest(value: bytes) -> dict[str, Any]:
        return {k: v for k, v in json.loads(value).items() if k not in PROGRESS_FIELDS}

    try:
        return rest(before) == rest(after)
    except ValueError:
        return False


def to_struct(cursor: Mapping[str, Any] | None) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    if cursor:
        struct.update(dict(cursor))
    return struct


def from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    """from_struct turns a Struct back into plain JSON values; whole numbers become ints."""

    def plain(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return plain(json_format.MessageToDict(struct))


COUNTERS = ("docs_seen", "docs_indexed", "docs_deleted", "docs_failed", "bytes_indexed")


def add_counters(into: pb.SyncCounters, other: pb.SyncCounters) -> None:
    for name in (*COUNTERS, "docs_total_estimate"):
        setattr(into, name, getattr(into, name) + getattr(other, name))


@dataclass
class TaskRecord:
    """TaskRecord is a stored task with its etcd mod revision."""

    task: pb.Task
    revision: int
    key: str


@dataclass
class Claimed:
    """Claimed is a task claim as stored: the holder agent and the fencing token."""

    agent_id: str
    token: int


@dataclass
class JobRecord:
    """JobRecord is a stored job, its tasks, and where they run."""

    job: pb.Job
    tasks: list[TaskRecord] = field(default_factory=list)


def view(
    record: JobRecord,
    assigned: Mapping[str, str],
    claims: Mapping[str, Claimed],
) -> pb.Job:
    """view is the Job the API shows: task states merged from assignments and claims.

    A stored RUNNING task whose claim is gone (its agent died) shows as
    ASSIGNED or PENDING until it is claimed again; a stored PENDING task with
    an assignment shows as ASSIGNED. The job's counters are its tasks' sums.
    """
    job = pb.Job()
    job.CopyFrom(record.job)
    del job.tasks[:]
    totals = pb.SyncCounters()
    for stored in record.tasks:
        task = job.tasks.add()
        task.CopyFrom(stored.task)
        task.ClearField("cursor")
        claim = claims.get(task.id)
        agent = assigned.get(task.id, "")
        if task.state not in TERMINAL_TASK and task.state != pb.TASK_STATE_SUSPENDED:
            if claim is not None:
                task.state = pb.TASK_STATE_RUNNING
                task.agent_id = claim.agent_id
                task.fencing_token.token = claim.token
            elif agent:
                task.state = pb.TASK_STATE_ASSIGNED
                task.agent_id = agent
            else:
                task.state = pb.TASK_STATE_PENDING
                task.agent_id = ""
        if task.state != pb.TASK_STATE_RUNNING:
            task.counters.docs_per_second = 0
            task.counters.bytes_per_second = 0
        add_counters(totals, task.counters)
        totals.docs_per_second += task.counters.docs_per_second
        totals.bytes_per_second += task.counters.bytes_per_second
    job.counters.CopyFrom(totals)
    return job


def task_records(kvs: Iterable[tuple[bytes, bytes, int]]) -> dict[str, list[TaskRecord]]:
    """task_records groups (key, value, mod_revision) rows of tasks/ by job id, in plan order."""
    by_job: dict[str, list[TaskRecord]] = {}
    for key, value, revision in kvs:
        task = decode_task(value)
        by_job.setdefault(task.job_id, []).append(TaskRecord(task, revision, key.decode()))
    for tasks in by_job.values():
        tasks.sort(key=lambda r: (r.task.sweep, _plan_order(r.task.id)))
    return by_job


def _plan_order(task_id: str) -> int:
    tail = task_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0
