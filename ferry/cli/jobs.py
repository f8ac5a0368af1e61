"""``ferry sync`` and ``ferry jobs ...``: start, list, inspect, cancel and watch sync jobs.

``jobs watch`` (and ``sync --watch``) redraws one progress line in place on a
terminal; anywhere else it prints one plain line per Watch message (see
:func:`progress_line`), so logs and tests can read it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TextIO

import grpc
from google.protobuf import timestamp_pb2

from ferry.cli import output
from ferry.cli.client import (
    EXIT_FAILURE,
    EXIT_OK,
    Coordinator,
    add_command,
    client_command,
    positive_seconds,
)
from ferry.v1 import jobs_pb2 as pb
from ferry.v1 import jobs_pb2_grpc

KINDS: dict[str, pb.JobKind] = {
    "full": pb.JOB_KIND_FULL,
    "incremental": pb.JOB_KIND_INCREMENTAL,
}
STATES: dict[str, pb.JobState] = {
    "pending": pb.JOB_STATE_PENDING,
    "running": pb.JOB_STATE_RUNNING,
    "completed": pb.JOB_STATE_COMPLETED,
    "failed": pb.JOB_STATE_FAILED,
    "canceling": pb.JOB_STATE_CANCELING,
    "canceled": pb.JOB_STATE_CANCELED,
    "suspended": pb.JOB_STATE_SUSPENDED,
}
"""STATES maps the short state names --state accepts (any case) to JobState values."""

_BAR_WIDTH = (10, 40)
"""_BAR_WIDTH bounds the bar of a live progress line, in characters."""
_TAIL_ROOM = 72
"""_TAIL_ROOM is kept after the bar for the numbers, so the bar keeps its size as they grow."""


def add_commands(subparsers: Any) -> None:
    """add_commands adds ``sync`` and ``jobs`` with its subcommands to the ``ferry`` parser."""
    one_job = "one Job object"

    text = "start a sync job for a connector (full unless --incremental)"
    p = add_command(subparsers, "sync", text, json_shape=f"{one_job}; with --watch the final Job")
    p.add_argument("name", help="connector name")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument(
        "--full",
        dest="kind",
        action="store_const",
        const=pb.JOB_KIND_FULL,
        help="read everything, then delete what the source no longer has (default)",
    )
    kind.add_argument(
        "--incremental",
        dest="kind",
        action="store_const",
        const=pb.JOB_KIND_INCREMENTAL,
        help="read only what changed since the last checkpoint",
    )
    p.set_defaults(kind=pb.JOB_KIND_FULL)
    p.add_argument(
        "--request-id",
        default="",
        metavar="ID",
        help="makes the call idempotent: a retry with the same id returns the same job",
    )
    p.add_argument(
        "--watch",
        action="store_true",
        help="then follow the job as 'jobs watch' does; exit 1 if it fails or is canceled",
    )
    _interval_option(p)
    p.set_defaults(func=client_command(_sync))

    text = "list, inspect, cancel and watch sync jobs"
    group = subparsers.add_parser("jobs", help=text, description=text)
    verbs = group.add_subparsers(dest="jobs_command", metavar="COMMAND", required=True)

    p = add_command(verbs, "list", "list jobs, newest first", json_shape="an array of Job")
    p.add_argument("--connector", default="", help="only jobs of this connector")
    p.add_argument("--index", default="", help="only jobs writing into this index")
    p.add_argument(
        "--state",
        dest="states",
        type=job_state,
        action="extend",
        nargs="+",
        default=[],
        metavar="STATE",
        help=f"only jobs in one of these states (repeatable, any case): {', '.join(STATES)}",
    )
    p.add_argument(
        "--kind",
        type=str.lower,
        choices=list(KINDS),
        default="",
        help="only jobs of this kind",
    )
    p.set_defaults(func=client_command(_list))

    p = add_command(verbs, "get", "show one job and its tasks", json_shape=one_job)
    p.add_argument("id")
    p.set_defaults(func=client_command(_get))

    text = "cancel a job: tasks checkpoint and stop, the job ends CANCELED"
    p = add_command(verbs, "cancel", text, json_shape=one_job)
    p.add_argument("id")
    p.add_argument("--reason", default="", help="recorded in the job's error")
    p.set_defaults(func=client_command(_cancel))

    text = (
        "follow a job's progress until it ends: exit 0 when it completes, "
        "1 when it fails or is canceled"
    )
    p = add_command(verbs, "watch", text)
    p.add_argument("id")
    _interval_option(p)
    p.set_defaults(func=client_command(_watch))


def _interval_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--interval",
        type=positive_seconds,
        default=0.0,
        metavar="SECONDS",
        help="least time between two progress updates (default: the coordinator's, 1s)",
    )


def job_state(text: str) -> pb.JobState:
    """job_state reads a --state value: a short name in any case (running) or the full name."""
    name = text.strip().lower().removeprefix("job_state_")
    if name not in STATES:
        raise argparse.ArgumentTypeError(
            f"unknown job state {text!r}; choose from {', '.join(STATES)}"
        )
    return STATES[name]


# Commands -----------------------------------------------------------------------


async def _sync(coordinator: Coordinator, args: argparse.Namespace) -> int:
    jobs = coordinator.jobs
    request = pb.StartJobRequest(connector=args.name, kind=args.kind, request_id=args.request_id)
    job: pb.Job = await coordinator.call(jobs.Start, request)
    if not args.watch:
        _print_job_summary(job, args)
        return EXIT_OK
    if output.wants_json(args):
        # stdout holds one JSON document: progress goes to stderr, the final Job to stdout.
        code = await _follow(coordinator, jobs, job.id, args.interval, sys.stderr)
        output.print_json(output.to_json(await coordinator.call(jobs.Get, _get_request(job.id))))
        return code
    print(jobs_table([job]), flush=True)
    return await _follow(coordinator, jobs, job.id, args.interval, sys.stdout)


async def _list(coordinator: Coordinator, args: argparse.Namespace) -> int:
    jobs: list[pb.Job] = await coordinator.all_pages(
        coordinator.jobs.List,
        lambda token: pb.ListJobsRequest(
            connector=args.connector,
            index=args.index,
            states=args.states,
            kind=KINDS.get(args.kind, pb.JOB_KIND_UNSPECIFIED),
            page_token=token,
        ),
        lambda page: page.jobs,
    )
    if output.wants_json(args):
        output.print_messages(jobs)
    else:
        print(jobs_table(jobs))
    return EXIT_OK


async def _get(coordinator: Coordinator, args: argparse.Namespace) -> int:
    job: pb.Job = await coordinator.call(coordinator.jobs.Get, _get_request(args.id))
    if output.wants_json(args):
        output.print_json(output.to_json(job))
    else:
        print(describe(job))
    return EXIT_OK


async def _cancel(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = pb.CancelJobRequest(id=args.id, reason=args.reason)
    job: pb.Job = await coordinator.call(coordinator.jobs.Cancel, request)
    _print_job_summary(job, args)
    return EXIT_OK


async def _watch(coordinator: Coordinator, args: argparse.Namespace) -> int:
    jobs = coordinator.jobs
    # A unary call first: it fails within --timeout when the coordinator cannot
    # be reached or the job does not exist; the stream itself has no deadline.
    await coordinator.call(jobs.Get, _get_request(args.id))
    return await _follow(coordinator, jobs, args.id, args.interval, sys.stdout)


def _get_request(job_id: str) -> pb.GetJobRequest:
    return pb.GetJobRequest(id=job_id)


def _print_job_summary(job: pb.Job, args: argparse.Namespace) -> None:
    if output.wants_json(args):
        output.print_json(output.to_json(job))
    else:
        print(jobs_table([job]))


async def _follow(
    coordinator: Coordinator,
    jobs: jobs_pb2_grpc.JobsAsyncStub,
    job_id: str,
    interval: float,
    stream: TextIO,
) -> int:
    """_follow renders Jobs.Watch on stream until it ends and returns the exit status.

    COMPLETED is 0; FAILED and CANCELED print the job's error on stderr and
    are 1; a stream that ends in any other state is 0.
    """
    request = pb.WatchJobRequest(id=job_id)
    if interval:
        request.interval.FromTimedelta(timedelta(seconds=interval))
    live = stream.isatty()
    last: pb.JobProgress | None = None
    try:
        async for progress in jobs.Watch(request):
            last = progress
            if live:
                width = shutil.get_terminal_size().columns - 1  # the last column wraps
                stream.write("\r\x1b[K" + render_progress(progress, width))
                stream.flush()
            else:
                print(progress_line(progress), file=stream, flush=True)
    except grpc.aio.AioRpcError as err:
        raise coordinator.failure(err) from None
    finally:
        if live and last is not None:
            stream.write("\n")
            stream.flush()
    if last is None or last.state == pb.JOB_STATE_COMPLETED:
        return EXIT_OK
    if last.state in (pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELED):
        state = output.enum_label(pb.JobState, last.state)
        print(f"error: job {job_id} {state}: {last.error or 'no reason given'}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


# Rendering ----------------------------------------------------------------------


def progress_line(progress: pb.JobProgress) -> str:
    """progress_line is one Watch message as a plain line of ``key=value`` fields.

    ``JOB_ID state=STATE seen=SEEN[/ESTIMATE] progress=PCT%|- indexed=N
    deleted=N failed=N rate=DOCS_PER_SECOND/s tasks=COMPLETED/TOTAL``; the
    estimate and percentage appear only when the source gave an estimate.
    """
    c = progress.counters
    seen = f"{c.docs_seen}/{c.docs_total_estimate}" if c.docs_total_estimate > 0 else c.docs_seen
    percent = _percent(progress)
    return " ".join(
        [
            progress.job_id,
            f"state={output.enum_label(pb.JobState, progress.state)}",
            f"seen={seen}",
            f"progress={'-' if percent is None else f'{percent:.1f}%'}",
            f"indexed={c.docs_indexed}",
            f"deleted={c.docs_deleted}",
            f"failed={c.docs_failed}",
            f"rate={c.docs_per_second:.1f}/s",
            f"tasks={_tasks_done(progress.tasks)}",
        ]
    )


def render_progress(progress: pb.JobProgress, width: int) -> str:
    """render_progress is the live line of a watched job, at most width characters.

    ``JOB_ID [#####-----] 42.0% 4,200/10,000 docs 350.2 docs/s tasks 1/4 running``
    with a percentage and bar when the source gave an estimate, else
    ``JOB_ID 4,200 docs 350.2 docs/s tasks 1/4 running``. The bar's size
    depends on width only (10 to 40 characters, none on a narrow terminal),
    so it does not jump between redraws; a line still too long is cut at width.
    """
    c = progress.counters
    state = output.enum_label(pb.JobState, progress.state)
    percent = _percent(progress)
    if percent is None:
        docs = f"{c.docs_seen:,} docs"
    else:
        docs = f"{percent:5.1f}%  {c.docs_seen:,}/{c.docs_total_estimate:,} docs"
    tail = f"{docs}  {c.docs_per_second:,.1f} docs/s  tasks {_tasks_done(progress.tasks)}  {state}"
    line = f"{progress.job_id}  {tail}"
    size = min(_BAR_WIDTH[1], width - len(progress.job_id) - _TAIL_ROOM)
    if percent is not None and size >= _BAR_WIDTH[0]:
        filled = int(size * percent / 100)
        line = f"{progress.job_id}  [{'#' * filled}{'-' * (size - filled)}] {tail}"
    return line[: max(width, 0)]


def _percent(progress: pb.JobProgress) -> float | None:
    """_percent is docs seen over the source's estimate (0-100), None without an estimate.

    A completed job is at 100% even when the estimate was too high.
    """
    estimate = progress.counters.docs_total_estimate
    if estimate <= 0:
        return None
    if progress.state == pb.JOB_STATE_COMPLETED:
        return 100.0
    return min(100.0, 100.0 * progress.counters.docs_seen / estimate)


def _tasks_done(tasks: Sequence[pb.Task] | Sequence[pb.TaskProgress]) -> str:
    done = sum(1 for t in tasks if t.state == pb.TASK_STATE_COMPLETED)
    return f"{done}/{len(tasks)}"


def jobs_table(jobs: Sequence[pb.Job], now: float | None = None) -> str:
    """jobs_table is one row per job; AGE counts from its creation to now (seconds since epoch)."""
    now = time.time() if now is None else now
    rows = [
        (
            j.id,
            j.connector,
            output.enum_label(pb.JobKind, j.kind),
            output.enum_label(pb.JobTrigger, j.trigger),
            output.enum_label(pb.JobState, j.state),
            j.counters.docs_indexed,
            j.counters.docs_deleted,
            j.counters.docs_failed,
            _tasks_done(j.tasks),
            age(j.create_time, now) if j.HasField("create_time") else "",
        )
        for j in jobs
    ]
    headers = ["ID", "CONNECTOR", "KIND", "TRIGGER", "STATE", "DOCS", "DELETED", "FAILED"]
    return output.table([*headers, "TASKS", "AGE"], rows)


def age(since: timestamp_pb2.Timestamp, now: float) -> str:
    """age is the time from since to now in its largest whole unit: 42s, 5m, 3h, 2d."""
    seconds = max(0, int(now - since.ToNanoseconds() / 1e9))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def describe(job: pb.Job) -> str:
    """describe is a job as a ``key: value`` block followed by a table of its tasks."""
    c = job.counters
    estimate = f" of ~{c.docs_total_estimate}" if c.docs_total_estimate > 0 else ""
    header = output.key_values(
        [
            ("id", job.id),
            ("connector", f"{job.connector} (revision {job.connector_revision})"),
            ("index", job.index),
            ("kind", output.enum_label(pb.JobKind, job.kind)),
            ("trigger", output.enum_label(pb.JobTrigger, job.trigger)),
            ("state", output.enum_label(pb.JobState, job.state)),
            ("error", _one_line(job.error)),
            ("generation", job.generation),
            ("request_id", job.request_id),
            ("created", _time(job, "create_time")),
            ("started", _time(job, "start_time")),
            ("ended", _time(job, "end_time")),
            ("docs seen", f"{c.docs_seen}{estimate}"),
            ("docs indexed", c.docs_indexed),
            ("docs deleted", c.docs_deleted),
            ("docs failed", c.docs_failed),
            ("bytes indexed", c.bytes_indexed),
        ]
    )
    return f"{header}\n\nTASKS ({len(job.tasks)})\n{tasks_table(job.tasks)}"


def tasks_table(tasks: Sequence[pb.Task]) -> str:
    """tasks_table is one row per task; an error is cut to one line."""
    rows = [
        (
            t.id,
            t.partition,
            t.agent_id,
            output.enum_label(pb.TaskState, t.state),
            t.counters.docs_seen,
            t.counters.docs_indexed,
            t.claims,
            _one_line(t.error),
        )
        for t in tasks
    ]
    headers = ["TASK", "PARTITION", "AGENT", "STATE", "SEEN", "INDEXED", "CLAIMS", "ERROR"]
    return output.table(headers, rows)


def _time(job: pb.Job, field: str) -> str:
    return getattr(job, field).ToJsonString() if job.HasField(field) else ""


def _one_line(text: str) -> str:
    return " ".join(text.split())
