"""children: an asyncio child ends politely if it can, surely if it cannot; exists probes a pid."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

from ferry.children import exists, terminate_async


async def _python(code: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    assert await proc.stdout.readline() == b"ready\n"
    return proc


async def test_a_stopped_child_still_ends_on_sigterm() -> None:
    proc = await _python("import time; print('ready', flush=True); time.sleep(60)")
    proc.send_signal(signal.SIGSTOP)
    assert await terminate_async(proc, grace=10) == -signal.SIGTERM


async def test_a_child_ignoring_sigterm_is_killed_after_the_grace() -> None:
    proc = await _python(
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    assert await terminate_async(proc, grace=0.2) == -signal.SIGKILL


async def test_stopping_an_exited_child_returns_its_code() -> None:
    proc = await _python("print('ready', flush=True); raise SystemExit(3)")
    assert await proc.wait() == 3
    assert await terminate_async(proc, grace=1) == 3


def test_exists_sees_a_running_process_and_not_a_reaped_one() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                            stdin=subprocess.PIPE)  # fmt: skip
    assert exists(proc.pid)
    assert exists(1)  # init: another user's process on most machines, still there
    proc.communicate(b"")
    assert not exists(proc.pid)
