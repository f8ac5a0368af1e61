"""``ferry sync``, ``jobs``, ``agents drain`` and ``maintenance`` against fake servicers.

The fakes run on a real in-process gRPC server, record requests and answer
from canned data: these tests cover argument parsing, rendering, exit codes
and the Watch stream. The real servicers are exercised by the sync engine's
integration and end-to-end tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2

from ferry.cli import cluster, jobs
from ferry.cli.main import build_parser, main
from ferry.errors import FailedPrecondition, NotFound
from ferry.v1 import (
    agents_pb2_grpc,
    cluster_pb2,
    cluster_pb2_grpc,
    jobs_pb2_grpc,
)
from ferry.v1 import jobs_pb2 as pb
from tests.unit.fake_servers import FakeAgents, abort, rows, run_cli, serving

Ctx = grpc.ServicerContext
CREATED = "2026-11-21T11:00:00Z"


def _ts(text: str) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromJsonString(text)
    return ts


def _job(
    job_id: str = "orders-1", state: pb.JobState = pb.JOB_STATE_RUNNING, **fields: Any
) -> pb.Job:
    tasks = [
        pb.Task(
            id=f"{job_id}-0",
            partition="p0",
            agent_id="agent-a",
            state=pb.TASK_STATE_COMPLETED,
            counters=pb.SyncCounters(docs_seen=60, docs_indexed=58, docs_failed=2),
            claims=1,
        ),
        pb.Task(
            id=f"{job_id}-1",
            partition="p1",
            agent_id="agent-b",
            state=pb.TASK_STATE_FAILED,
            counters=pb.SyncCounters(docs_seen=40, docs_indexed=40),
            claims=2,
            error="source gone:\n  connection reset",
        ),
        pb.Task(id=f"{job_id}-2", partition="p2", state=pb.TASK_STATE_PENDING),
    ]
    job = pb.Job(
        id=job_id,
        connector="orders",
        index="orders-idx",
        kind=pb.JOB_KIND_FULL,
        trigger=pb.JOB_TRIGGER_ON_DEMAND,
        state=state,
        tasks=tasks,
        counters=pb.SyncCounters(
            docs_seen=100, docs_indexed=98, docs_deleted=7, docs_failed=2, bytes_indexed=4096
        ),
        create_time=_ts(CREATED),
        generation=3,
        connector_revision=5,
    )
    job.MergeFrom(pb.Job(**fields))
    return job


def _progress(
    state: pb.JobState, seen: int, estimate: int = 0, rate: float = 0.0, error: str = ""
) -> pb.JobProgress:
    return pb.JobProgress(
        job_id="orders-1",
        state=state,
        counters=pb.SyncCounters(
            docs_seen=seen,
            docs_indexed=seen,
            docs_total_estimate=estimate,
            docs_per_second=rate,
        ),
        tasks=[
            pb.TaskProgress(task_id="orders-1-0", state=pb.TASK_STATE_COMPLETED),
            pb.TaskProgress(task_id="orders-1-1", state=pb.TASK_STATE_RUNNING),
        ],
        error=error,
    )


@dataclass
class FakeJobs(jobs_pb2_grpc.JobsServicer):
    """FakeJobs knows orders-1 (and orders-2 when listing, one job per page); Watch replays."""

    stream: list[pb.JobProgress] = field(default_factory=list)
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def Start(self, request: pb.StartJobRequest, context: Ctx) -> pb.Job:
        self.calls.append(("Start", request))
        if request.connector == "paused":
            abort(context, FailedPrecondition("connector 'paused' is CONNECTOR_STATE_PAUSED"))
        kind = request.kind or pb.JOB_KIND_FULL
        return _job(state=pb.JOB_STATE_PENDING, kind=kind, request_id=request.request_id)

    def Get(self, request: pb.GetJobRequest, context: Ctx) -> pb.Job:
        self.calls.append(("Get", request))
        if request.id != "orders-1":
            abort(context, NotFound("job", request.id))
        final = self.stream[-1].state if self.stream else pb.JOB_STATE_RUNNING
        return _job(state=final)

    def List(self, request: pb.ListJobsRequest, context: Ctx) -> pb.ListJobsResponse:
        self.calls.append(("List", request))
        if not request.page_token:
            return pb.ListJobsResponse(jobs=[_job()], next_page_token="orders-1")
        done = _job("orders-2", pb.JOB_STATE_COMPLETED, kind=pb.JOB_KIND_INCREMENTAL)
        return pb.ListJobsResponse(jobs=[done])

    def Cancel(self, request: pb.CancelJobRequest, context: Ctx) -> pb.Job:
        self.calls.append(("Cancel", request))
        return _job(state=pb.JOB_STATE_CANCELING, error=request.reason)

    def Watch(self, request: pb.WatchJobRequest, context: Ctx) -> Iterator[pb.JobProgress]:
        self.calls.append(("Watch", request))
        if request.id != "orders-1":
            abort(context, NotFound("job", request.id))
        yield from self.stream


@dataclass
class FakeMaintenance(cluster_pb2_grpc.ClusterServicer):
    """FakeMaintenance counts running tasks down by one per GetMaintenance, to a floor."""

    enabled: bool = False
    reason: str = ""
    running: int = 0
    floor: int = 0
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def SetMaintenance(
        self, request: cluster_pb2.SetMaintenanceRequest, context: Ctx
    ) -> cluster_pb2.MaintenanceStatus:
        self.calls.append(("SetMaintenance", request))
        self.enabled = request.enabled
        self.reason = (request.reason or "maintenance") if request.enabled else ""
        return self._status()

    def GetMaintenance(
        self, request: cluster_pb2.GetMaintenanceRequest, context: Ctx
    ) -> cluster_pb2.MaintenanceStatus:
        self.calls.append(("GetMaintenance", request))
        self.running = max(self.floor, self.running - 1)
        return self._status()

    def _status(self) -> cluster_pb2.MaintenanceStatus:
        return cluster_pb2.MaintenanceStatus(
            enabled=self.enabled, reason=self.reason, running_tasks=self.running
        )

    def Status(
        self, request: cluster_pb2.ClusterStatusRequest, context: Ctx
    ) -> cluster_pb2.ClusterStatus:
        return cluster_pb2.ClusterStatus(maintenance=self.enabled, answered_by="coord-a")


@dataclass
class Fake:
    address: str
    jobs: FakeJobs
    cluster: FakeMaintenance


@pytest.fixture(autouse=True)
def _no_coordinator_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FERRY_COORDINATOR", raising=False)


@pytest.fixture
def fake() -> Iterator[Fake]:
    fake_jobs, fake_cluster = FakeJobs(), FakeMaintenance()
    with serving(
        (jobs_pb2_grpc.add_JobsServicer_to_server, fake_jobs),
        (agents_pb2_grpc.add_AgentsServicer_to_server, FakeAgents()),
        (cluster_pb2_grpc.add_ClusterServicer_to_server, fake_cluster),
    ) as address:
        yield Fake(address, fake_jobs, fake_cluster)


def run(capsys: pytest.CaptureFixture[str], fake: Fake, *argv: str) -> tuple[int, str, str]:
    return run_cli(capsys, *argv, "--coordinator", fake.address)


def requests(fake_servicer: FakeJobs | FakeMaintenance, method: str) -> list[Any]:
    return [r for m, r in fake_servicer.calls if m == method]


# argument parsing


def test_sync_is_full_unless_incremental() -> None:
    parse = build_parser().parse_args
    assert parse(["sync", "orders"]).kind == pb.JOB_KIND_FULL
    assert parse(["sync", "orders", "--full"]).kind == pb.JOB_KIND_FULL
    args = parse(["sync", "orders", "--incremental", "--request-id", "r1", "--watch"])
    assert (args.kind, args.request_id, args.watch) == (pb.JOB_KIND_INCREMENTAL, "r1", True)


def test_states_are_read_in_any_case_and_repeat() -> None:
    args = build_parser().parse_args(
        ["jobs", "list", "--state", "running", "PENDING", "--state", "Job_State_Failed"]
    )
    assert args.states == [pb.JOB_STATE_RUNNING, pb.JOB_STATE_PENDING, pb.JOB_STATE_FAILED]
    assert build_parser().parse_args(["jobs", "list", "--kind", "FULL"]).kind == "full"


@pytest.mark.parametrize(
    "argv",
    [
        ["sync"],
        ["sync", "orders", "--full", "--incremental"],
        ["jobs"],
        ["jobs", "list", "--state", "sleeping"],
        ["jobs", "list", "--kind", "partial"],
        ["jobs", "watch", "orders-1", "--interval", "0"],
        ["jobs", "watch", "orders-1", "-o", "json"],
        ["agents", "drain"],
        ["maintenance"],
        ["maintenance", "on", "--wait-timeout", "soon"],
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code = main(argv)
    out, err = capsys.readouterr()

    assert (code, out) == (2, "")
    assert "usage: ferry" in err


def test_unknown_state_names_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "list", "--state", "sleeping"]) == 2
    assert "unknown job state 'sleeping'; choose from pending, running" in capsys.readouterr().err


# rendering


def test_progress_line_with_an_estimate() -> None:
    line = jobs.progress_line(_progress(pb.JOB_STATE_RUNNING, 250, estimate=1000, rate=42.26))

    assert line == (
        "orders-1 state=running seen=250/1000 progress=25.0% indexed=250 deleted=0 failed=0 "
        "rate=42.3/s tasks=1/2"
    )


def test_progress_line_without_an_estimate_and_when_completed() -> None:
    line = jobs.progress_line(_progress(pb.JOB_STATE_SUSPENDED, 250))
    assert line.startswith("orders-1 state=suspended seen=250 progress=- indexed=250 ")

    # The estimate was too high; a completed job is still 100%.
    done = jobs.progress_line(_progress(pb.JOB_STATE_COMPLETED, 900, estimate=1000))
    assert "state=completed seen=900/1000 progress=100.0% " in done


def test_render_progress_draws_a_bar_within_the_width() -> None:
    progress = _progress(pb.JOB_STATE_RUNNING, 2500, estimate=10000, rate=1234.5)

    line = jobs.render_progress(progress, 120)

    assert len(line) <= 120
    assert line.startswith("orders-1  [##########------------------------------]  25.0%")
    assert line.endswith("2,500/10,000 docs  1,234.5 docs/s  tasks 1/2  running")

    # The bar keeps its size while the numbers grow.
    later = _progress(pb.JOB_STATE_RUNNING, 9_999, estimate=10000, rate=123456.7)
    assert jobs.render_progress(later, 120).index("]") == line.index("]")

    narrow = jobs.render_progress(progress, 70)
    assert len(narrow) <= 70
    assert "[" not in narrow  # no room left for a bar: the numbers stay
    assert narrow.startswith("orders-1   25.0%  2,500/10,000 docs")

    assert len(jobs.render_progress(progress, 20)) == 20


def test_render_progress_counts_without_an_estimate() -> None:
    line = jobs.render_progress(_progress(pb.JOB_STATE_PENDING, 1234567), 200)

    assert line == "orders-1  1,234,567 docs  0.0 docs/s  tasks 1/2  pending"


def test_describe_shows_the_job_and_a_task_table() -> None:
    text = jobs.describe(_job(error="partition p1 failed"))

    header, tasks = text.split("\n\nTASKS (3)\n")
    assert "state:          running" in header
    assert "connector:      orders (revision 5)" in header
    assert "docs seen:      100" in header
    assert "error:          partition p1 failed" in header
    assert "started:        -" in header
    table = rows(tasks)
    assert table[0] == ["TASK", "PARTITION", "AGENT", "STATE", "SEEN", "INDEXED", "CLAIMS", "ERROR"]
    assert table[1] == ["orders-1-0", "p0", "agent-a", "completed", "60", "58", "1", "-"]
    assert table[2][:7] == ["orders-1-1", "p1", "agent-b", "failed", "40", "40", "2"]
    assert tasks.splitlines()[2].endswith("   source gone: connection reset")  # on one line
    assert table[3] == ["orders-1-2", "p2", "-", "pending", "0", "0", "0", "-"]


def test_jobs_table_and_age() -> None:
    created = _ts(CREATED)
    start = created.ToNanoseconds() / 1e9
    headers = ["ID", "CONNECTOR", "KIND", "TRIGGER", "STATE", "DOCS", "DELETED", "FAILED"]
    assert rows(jobs.jobs_table([_job()], now=start + 125)) == [
        [*headers, "TASKS", "AGE"],
        ["orders-1", "orders", "full", "on_demand", "running", "98", "7", "2", "1/3", "2m"],
    ]
    assert [jobs.age(created, start + s) for s in (-5, 59, 3600, 2 * 86400 + 5)] == [
        "0s",
        "59s",
        "1h",
        "2d",
    ]


# sync


def test_sync_starts_a_full_job_and_prints_it(
    capsys: pytest.CaptureFixture[str], fake: Fake
) -> None:
    code, out, _ = run(capsys, fake, "sync", "orders", "--request-id", "r-1")

    assert code == 0
    [request] = requests(fake.jobs, "Start")
    assert (request.connector, request.kind, request.request_id) == ("orders", 1, "r-1")
    table = rows(out)
    assert table[0][:5] == ["ID", "CONNECTOR", "KIND", "TRIGGER", "STATE"]
    assert table[1][:5] == ["orders-1", "orders", "full", "on_demand", "pending"]


def test_sync_json_is_the_job(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, _ = run(capsys, fake, "sync", "orders", "--incremental", "-o", "json")

    assert code == 0
    job = json.loads(out)
    assert (job["id"], job["kind"], job["state"]) == (
        "orders-1",
        "JOB_KIND_INCREMENTAL",
        "JOB_STATE_PENDING",
    )


def test_sync_of_a_paused_connector_fails(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, err = run(capsys, fake, "sync", "paused")

    assert (code, out) == (1, "")
    assert err.startswith("error: FAILED_PRECONDITION: connector 'paused'")


def test_sync_watch_follows_the_job_to_the_end(
    capsys: pytest.CaptureFixture[str], fake: Fake
) -> None:
    fake.jobs.stream = [
        _progress(pb.JOB_STATE_RUNNING, 10, estimate=100),
        _progress(pb.JOB_STATE_COMPLETED, 100, estimate=100),
    ]

    code, out, _ = run(capsys, fake, "sync", "orders", "--watch", "--interval", "0.2")

    assert code == 0
    lines = out.strip().splitlines()
    assert lines[1].startswith("orders-1 ")  # the job table first
    assert lines[2].startswith("orders-1 state=running seen=10/100 progress=10.0% ")
    assert lines[3].startswith("orders-1 state=completed seen=100/100 progress=100.0% ")
    [watch] = requests(fake.jobs, "Watch")
    assert watch.interval.ToMilliseconds() == 200


def test_sync_watch_json_prints_only_the_final_job_on_stdout(
    capsys: pytest.CaptureFixture[str], fake: Fake
) -> None:
    fake.jobs.stream = [_progress(pb.JOB_STATE_FAILED, 10, error="source gone")]

    code, out, err = run(capsys, fake, "sync", "orders", "--watch", "-o", "json")

    assert code == 1
    assert json.loads(out)["state"] == "JOB_STATE_FAILED"
    assert err.splitlines() == [
        "orders-1 state=failed seen=10 progress=- indexed=10 deleted=0 failed=0 rate=0.0/s "
        "tasks=1/2",
        "error: job orders-1 failed: source gone",
    ]


# jobs list, get, cancel, watch


def test_jobs_list_follows_pages_and_sends_the_filters(
    capsys: pytest.CaptureFixture[str], fake: Fake
) -> None:
    code, out, _ = run(
        capsys, fake, "jobs", "list", "--connector", "orders", "--index", "orders-idx",
        "--state", "Running", "completed", "--kind", "Incremental",
    )  # fmt: skip

    assert code == 0
    table = rows(out)
    assert [r[0] for r in table] == ["ID", "orders-1", "orders-2"]
    assert table[2][2:5] == ["incremental", "on_demand", "completed"]
    first, second = requests(fake.jobs, "List")
    assert (first.connector, first.index, first.kind) == ("orders", "orders-idx", 2)
    assert list(first.states) == [pb.JOB_STATE_RUNNING, pb.JOB_STATE_COMPLETED]
    assert second.page_token == "orders-1"


def test_jobs_list_json_is_an_array(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, _ = run(capsys, fake, "jobs", "list", "-o", "json")

    assert code == 0
    assert [j["id"] for j in json.loads(out)] == ["orders-1", "orders-2"]
    assert requests(fake.jobs, "List")[0].kind == pb.JOB_KIND_UNSPECIFIED


def test_jobs_get_and_missing_job(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, _ = run(capsys, fake, "jobs", "get", "orders-1")
    assert code == 0
    assert "id:             orders-1" in out
    assert "TASKS (3)" in out

    code, out, err = run(capsys, fake, "jobs", "get", "nope")
    assert (code, out) == (1, "")
    assert err.startswith("error: NOT_FOUND: ")


def test_jobs_cancel_sends_the_reason(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, _ = run(capsys, fake, "jobs", "cancel", "orders-1", "--reason", "wrong source")

    assert code == 0
    assert rows(out)[1][4] == "canceling"
    [request] = requests(fake.jobs, "Cancel")
    assert (request.id, request.reason) == ("orders-1", "wrong source")


@pytest.mark.parametrize(
    ("final", "code", "error"),
    [
        (pb.JOB_STATE_COMPLETED, 0, ""),
        (pb.JOB_STATE_FAILED, 1, "error: job orders-1 failed: task orders-1-1: boom\n"),
        (pb.JOB_STATE_CANCELED, 1, "error: job orders-1 canceled: task orders-1-1: boom\n"),
        (pb.JOB_STATE_SUSPENDED, 0, ""),  # the stream ended early: not a failure
    ],
)
def test_jobs_watch_exit_status_follows_the_last_state(
    capsys: pytest.CaptureFixture[str], fake: Fake, final: pb.JobState, code: int, error: str
) -> None:
    error_text = "task orders-1-1: boom" if error else ""
    fake.jobs.stream = [
        _progress(pb.JOB_STATE_PENDING, 0),
        _progress(pb.JOB_STATE_RUNNING, 5, rate=2.5),
        _progress(final, 9, error=error_text),
    ]

    got, out, err = run(capsys, fake, "jobs", "watch", "orders-1")

    assert (got, err) == (code, error)
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[1] == (
        "orders-1 state=running seen=5 progress=- indexed=5 deleted=0 failed=0 rate=2.5/s tasks=1/2"
    )


def test_jobs_watch_of_a_missing_job_fails_before_streaming(
    capsys: pytest.CaptureFixture[str], fake: Fake
) -> None:
    code, out, err = run(capsys, fake, "jobs", "watch", "nope")

    assert (code, out) == (1, "")
    assert err.startswith("error: NOT_FOUND: ")
    assert requests(fake.jobs, "Watch") == []


# agents drain and undrain


def test_agents_drain_and_undrain_print_the_new_state(
    capsys: pytest.CaptureFixture[str], fake: Fake
) -> None:
    assert run(capsys, fake, "agents", "drain", "agent-a")[:2] == (
        0,
        "agent-a draining (running tasks 3)\n",
    )
    assert run(capsys, fake, "agents", "undrain", "agent-a")[:2] == (
        0,
        "agent-a active (running tasks 0)\n",
    )
    code, out, _ = run(capsys, fake, "agents", "drain", "agent-a", "-o", "json")
    assert (code, json.loads(out)["state"]) == (0, "AGENT_STATE_DRAINING")
    code, _, err = run(capsys, fake, "agents", "drain", "agent-x")
    assert code == 1
    assert err.startswith("error: NOT_FOUND: ")


# maintenance


def test_maintenance_on_off_and_status(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    fake.cluster.running = 2

    code, out, _ = run(capsys, fake, "maintenance", "on", "--reason", "upgrade")
    assert code == 0
    assert out.splitlines() == [
        "maintenance:    on",
        "reason:         upgrade",
        "running tasks:  2",
    ]
    assert requests(fake.cluster, "SetMaintenance")[0].reason == "upgrade"

    code, out, _ = run(capsys, fake, "maintenance", "status", "-o", "json")
    assert (code, json.loads(out)) == (
        0,
        {"enabled": True, "reason": "upgrade", "running_tasks": 1},
    )

    code, out, _ = run(capsys, fake, "cluster", "status")
    assert "maintenance:  on" in out

    code, out, _ = run(capsys, fake, "maintenance", "off")
    assert code == 0
    assert out.splitlines()[0] == "maintenance:    off"
    assert requests(fake.cluster, "SetMaintenance")[-1].enabled is False


def test_maintenance_on_wait_polls_until_no_task_runs(
    capsys: pytest.CaptureFixture[str], fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster, "POLL_INTERVAL", 0.01)
    fake.cluster.running = 3

    code, out, _ = run(capsys, fake, "maintenance", "on", "--wait")

    assert code == 0
    assert out.splitlines() == [
        "waiting for 3 running tasks",
        "waiting for 2 running tasks",
        "waiting for 1 running task",
        "maintenance:    on",
        "reason:         maintenance",
        "running tasks:  0",
    ]


def test_maintenance_on_wait_gives_up_at_the_wait_timeout(
    capsys: pytest.CaptureFixture[str], fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster, "POLL_INTERVAL", 0.01)
    fake.cluster.running = fake.cluster.floor = 2

    code, out, err = run(
        capsys, fake, "maintenance", "on", "--wait", "--wait-timeout", "0.1", "-o", "json"
    )

    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "waiting for 2 running tasks",
        "error: maintenance is on, but 2 running tasks remain after 0.1s (--wait-timeout)",
    ]
    assert len(requests(fake.cluster, "GetMaintenance")) > 1
