"""A paused holder (SIGSTOP) reports its session lost by its local deadline, before etcd does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ferry.etcd import EmbeddedEtcd
from tests.helpers import REPO, wait_until

pytestmark = pytest.mark.faults

TTL = 6.0


def lease_ttl(endpoint: str, lease_id: int) -> int:
    """lease_ttl asks etcd (over its JSON gateway) how long the lease has left; -1 if gone."""
    import urllib.request

    body = json.dumps({"ID": str(lease_id)}).encode()
    req = urllib.request.Request(f"http://{endpoint}/v3/lease/timetolive", data=body)
    with urllib.request.urlopen(req, timeout=2) as resp:
        return int(json.load(resp).get("TTL", -1))


def test_sigstopped_holder_reports_loss_before_lease_expires(
    etcd_server: EmbeddedEtcd, tmp_path: Path
) -> None:
    out = tmp_path / "holder.jsonl"
    with open(out, "w") as sink:
        holder = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.holder", etcd_server.endpoint, str(TTL)],
            stdout=sink, stderr=subprocess.STDOUT, cwd=REPO,
        )  # fmt: skip
    try:

        def events() -> list[dict[str, object]]:
            return [
                json.loads(line) for line in out.read_text().splitlines() if line.startswith("{")
            ]

        wait_until(
            lambda: any(e["event"] == "renewed" for e in events()), timeout=20, what="a renewal"
        )
        started = next(e for e in events() if e["event"] == "started")
        lease_id, deadline = int(started["lease_id"]), float(started["deadline"])  # type: ignore[arg-type]
        assert deadline < TTL

        os.kill(holder.pid, signal.SIGSTOP)
        stopped_at = time.time()
        last_renewal = max(float(e["at"]) for e in events() if e["event"] == "renewed")  # type: ignore[arg-type]
        renewals_before = sum(1 for e in events() if e["event"] == "renewed")
        # Keep it paused until its local deadline has certainly passed (but not the TTL).
        wait_until(
            lambda: time.time() > last_renewal + deadline + 0.3, timeout=TTL, what="deadline"
        )
        assert lease_ttl(etcd_server.endpoint, lease_id) > 0, "etcd still holds the lease"
        os.kill(holder.pid, signal.SIGCONT)

        lost = wait_until(
            lambda: next((e for e in events() if e["event"] == "lost"), None),
            timeout=5,
            what="lost",
        )
        reported_at = float(lost["at"])  # type: ignore[arg-type]
        assert "deadline" in str(lost["reason"])
        # Reported before etcd could expire the lease (last renewal + TTL) ...
        assert reported_at < last_renewal + TTL, (reported_at - last_renewal, TTL)
        left = lease_ttl(etcd_server.endpoint, lease_id)
        assert left > 0, "etcd had not expired the lease yet when the loss was reported"
        assert left < TTL - 2, f"the paused holder renewed its lease after resuming ({left}s left)"
        # ... and without renewing after the pause.
        assert sum(1 for e in events() if e["event"] == "renewed") == renewals_before
        assert stopped_at < reported_at
    finally:
        os.kill(holder.pid, signal.SIGCONT)
        holder.kill()
        holder.wait()
