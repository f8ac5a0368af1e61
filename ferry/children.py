"""Ending child processes we started: politely first, then for sure."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from typing import Any


def terminate(proc: subprocess.Popen[Any], grace: float) -> int | None:
    """terminate ends a child: SIGCONT (a stopped child cannot act on SIGTERM), SIGTERM,
    then SIGKILL after ``grace`` seconds. Returns its exit code; a no-op once it exited."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


async def terminate_async(proc: asyncio.subprocess.Process, grace: float) -> int:
    """terminate_async is :func:`terminate` for an asyncio child: SIGCONT, SIGTERM, then SIGKILL
    after ``grace`` seconds. Returns its exit code; a no-op once it exited.

    A child that exits between the check and a signal is not an error.
    """
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGCONT)
            proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(grace):
                await proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
    return await proc.wait()


def exists(pid: int) -> bool:
    """exists says a process with this pid exists, by signal 0: also one of another user,
    and a zombie not yet reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
