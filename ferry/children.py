"""Ending child processes we started: politely first, then for sure."""

from __future__ import annotations

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
