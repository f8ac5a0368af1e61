"""Process isolation: a connector's source runs in a child process (SPEC §4.9).

With ``isolation: ISOLATION_PROCESS`` the agent does not import and run the
source in its own process. It starts ``python -m services.agent.isolation``,
hands it the source type, the resolved config, the task plan and the cursor
on stdin, and reads the items the source yields from a dedicated pipe. Only
the source runs in the child: batching, fencing, checkpoints and store writes
stay in the agent, so a child can never write anything a zombie could. The
child pings the source before streaming, as the agent does in-process.

The child's memory is bounded twice: ``RLIMIT_DATA`` (its heap and private
mappings; an allocation past it raises MemoryError in the child), and the
agent polls the child's resident set and kills it past the limit. Either way,
and when the child crashes, the stream raises :class:`IsolatedSourceError`
with the reason; the task's error policy decides what follows (retry from the
checkpoint, then FAILED with that reason). Other connectors on the agent are
untouched.

The protocol on the pipe: frames of a 4-byte big-endian length and a pickle
of ``("items", [...])``, ``("error", ("Type: message", retriable))`` or
``("end", None)``. ``retriable`` is the source error's own flag (True for
errors that are not FerryErrors), so the error policy treats an isolated
source's error as it would in-process.
Both ends are this codebase, started together; the pipe is private to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import resource
import signal
import struct
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferry import children, logs, secrets
from ferry.connectors import Checkpoint, Delete, Document, Source, TaskPlan, load_registry
from ferry.errors import FerryError
from ferry.tasks import cancel_and_wait, closing

log = logging.getLogger(__name__)

Item = Document | Delete | Checkpoint

FRAME_ITEMS = 256
"""The child sends at most this many items per frame (and flushes at every checkpoint)."""
MEMORY_EXIT = 86
"""The child's exit code when an allocation failed against its memory limit."""
WATCH_INTERVAL = 0.1
"""How often the agent samples the child's resident set."""
STOP_GRACE = 2.0
READ_AHEAD = 2**20
"""The agent stops reading the pipe (and a full pipe blocks the child) once about twice
this is buffered; readexactly takes frames of any size regardless."""
_HEADER = struct.Struct(">I")


class IsolatedSourceError(Exception):
    """IsolatedSourceError says why an isolated source stopped: its error, a crash, or memory.

    ``retriable`` is False when the source's own error was a FerryError that retrying
    cannot heal (a config or precondition error); a crash or the memory limit is retriable.
    """

    def __init__(self, message: str, *, retriable: bool = True) -> None:
        super().__init__(message)
        self.retriable = retriable


@dataclass(frozen=True)
class Request:
    """Request is everything the child needs to run one stream."""

    source_type: str
    config: dict[str, Any]
    advanced: dict[str, Any]
    plan: TaskPlan
    full: bool
    cursor: dict[str, Any] | None
    memory_limit: int
    secrets: frozenset[str]
    member_id: str


# The agent's side -----------------------------------------------------------------


async def stream(request: Request) -> AsyncIterator[Item]:
    """stream runs the source in a child process and yields what it yields.

    Closing the generator (the task ends, is revoked or cancelled) stops the child.
    """
    read_fd, write_fd = os.pipe()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.agent.isolation",
            str(write_fd),
            stdin=asyncio.subprocess.PIPE,
            pass_fds=(write_fd,),
        )
    finally:
        os.close(write_fd)
    reader = asyncio.StreamReader(limit=READ_AHEAD)
    transport, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0)
    )
    over_limit = asyncio.Event()
    watchdog = asyncio.create_task(_watch_memory(proc.pid, request.memory_limit, over_limit))
    try:
        assert proc.stdin is not None
        proc.stdin.write(pickle.dumps(request))
        await proc.stdin.drain()
        proc.stdin.close()
        while True:
            frame = await _read_frame(reader)
            if frame is None:
                code = await proc.wait()
                raise IsolatedSourceError(_death(code, request.memory_limit, over_limit))
            kind, payload = frame
            if kind == "items":
                for item in payload:
                    yield item
            elif kind == "error":
                message, retriable = payload
                raise IsolatedSourceError(message, retriable=retriable)
            else:
                return
    finally:
        await cancel_and_wait(watchdog)
        transport.close()
        await children.terminate_async(proc, STOP_GRACE)


async def _read_frame(reader: asyncio.StreamReader) -> tuple[str, Any] | None:
    try:
        header = await reader.readexactly(_HEADER.size)
        body = await reader.readexactly(_HEADER.unpack(header)[0])
    except asyncio.IncompleteReadError:
        return None  # the child died mid-frame or before its end frame
    result: tuple[str, Any] = pickle.loads(body)
    return result


def _death(code: int, limit: int, over_limit: asyncio.Event) -> str:
    mib = limit / 2**20
    if over_limit.is_set() or code == MEMORY_EXIT:
        return f"connector process exceeded its memory limit of {mib:g} MiB and was stopped"
    if code < 0:
        return f"connector process crashed: killed by {signal.Signals(-code).name}"
    return f"connector process exited with code {code} before its stream ended"


async def _watch_memory(pid: int, limit: int, over_limit: asyncio.Event) -> None:
    """_watch_memory kills the child once its resident set passes the limit."""
    status = Path(f"/proc/{pid}/status")
    while True:
        await asyncio.sleep(WATCH_INTERVAL)
        rss = _rss(status)
        if rss is None:
            return
        if rss > limit:
            over_limit.set()
            log.warning(
                "isolated connector over its memory limit; killing it",
                extra={"pid": pid, "rss_bytes": rss, "limit_bytes": limit},
            )
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            return


def _rss(status: Path) -> int | None:
    # Read on the event loop: procfs answers from kernel memory in microseconds,
    # less than a hop to a thread would cost.
    try:
        text = status.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


async def pinged(
    source: Source, plan: TaskPlan, full: bool, cursor: dict[str, Any] | None
) -> AsyncIterator[Item]:
    """pinged checks the source is reachable, then streams it: how a source runs, in the
    agent's process or in a child."""
    await source.ping()
    async with closing(source.stream(plan, full=full, cursor=cursor)) as items:
        async for item in items:
            yield item


# The child's side -----------------------------------------------------------------


def main() -> None:
    out_fd = int(sys.argv[1])
    request: Request = pickle.loads(sys.stdin.buffer.read())
    # Anything a plugin prints must not corrupt the frames: stdout goes to stderr.
    sys.stdout = sys.stderr
    logs.configure("agent-isolated", request.member_id)
    for value in request.secrets:
        secrets.remember(value)
    resource.setrlimit(resource.RLIMIT_DATA, (request.memory_limit, request.memory_limit))
    out = os.fdopen(out_fd, "wb", buffering=0)
    try:
        asyncio.run(_serve(request, out))
    except MemoryError:
        os._exit(MEMORY_EXIT)


async def _serve(request: Request, out: Any) -> None:
    # A blocking write: while the agent is not reading, the child (whose loop runs
    # only this source) waits, which is the stream's flow control.
    def send(kind: str, payload: Any) -> None:
        body = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
        out.write(_HEADER.pack(len(body)) + body)

    registry = load_registry()
    source_cls = registry.get(request.source_type)
    if source_cls is None:
        send("error", (f"connector type {request.source_type!r} is not installed", False))
        return
    pending: list[Item] = []
    started = time.monotonic()
    try:
        source = source_cls(request.config, advanced_rules=request.advanced)
        async with closing(pinged(source, request.plan, request.full, request.cursor)) as items:
            async for item in items:
                pending.append(item)
                if len(pending) >= FRAME_ITEMS or isinstance(item, Checkpoint):
                    send("items", pending)
                    pending = []
        if pending:
            send("items", pending)
        send("end", None)
    except MemoryError:
        raise
    except BrokenPipeError:
        return  # the agent stopped reading: it has moved on
    except Exception as exc:  # noqa: BLE001 — reported to the agent, which applies the policy
        log.warning("isolated source failed", extra={"error": repr(exc)})
        retriable = exc.retriable if isinstance(exc, FerryError) else True
        send("error", (secrets.redact(f"{type(exc).__name__}: {exc}"), retriable))
    finally:
        log.debug("isolated stream ended", extra={"seconds": time.monotonic() - started})


if __name__ == "__main__":
    main()
