"""Test helpers: polling with a deadline, and real service processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ferry.children import terminate
from ferry.etcd import free_port

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent


def wait_until(
    condition: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.05, what: str = ""
) -> T:
    """wait_until polls ``condition`` until it returns something truthy, or fails the test."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = condition()
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 — kept for the failure message
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what or condition}: {last!r}"
            )
        time.sleep(interval)


async def eventually(
    condition: Callable[[], Awaitable[T]],
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 — mirrors wait_until
    interval: float = 0.05,
    what: str = "",
) -> T:
    """eventually is wait_until for async conditions."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = await condition()
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 — kept for the failure message
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what or condition}: {last!r}"
            )
        await asyncio.sleep(interval)


def health_status(address: str, service: str = "", timeout: float = 1.0) -> int:
    """health_status asks grpc.health.v1 on address; raises if unreachable."""
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        return int(reply.status)


def ferry(
    *args: str, timeout: float = 30.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """ferry runs the ``ferry`` CLI as a child process and captures its output; ``env`` adds
    variables to this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "ferry.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class ServiceProcess:
    """ServiceProcess runs ``ferry ROLE ...`` as a real child process on a free port."""

    def __init__(
        self,
        role: str,
        etcd_endpoints: str,
        log_dir: Path,
        *,
        args: Sequence[str] = (),
        lease_ttl: float = 3.0,
        member_id: str = "",
        env: dict[str, str] | None = None,
    ) -> None:
        self.role = role
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.member_id = member_id or f"{role}-{self.port}"
        self.log_path = log_dir / f"{self.member_id}.log"
        self.cmd = [
            sys.executable, "-m", "ferry.cli.main", role,
            "--etcd-endpoints", etcd_endpoints,
            "--listen", self.address,
            "--id", self.member_id,
            "--lease-ttl", str(lease_ttl),
            "--grace-period", "2",
            *args,
        ]  # fmt: skip
        self.env = {**os.environ, **(env or {})}
        # A TLS server answers plaintext health checks on its --health-listen address only.
        self.health_address = (
            self.cmd[self.cmd.index("--health-listen") + 1]
            if "--health-listen" in self.cmd
            else self.address
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=REPO, env=self.env,
            )  # fmt: skip
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_serving(self, timeout: float = 20.0) -> ServiceProcess:
        def serving() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"{self.member_id} exited: {self.log()[-3000:]}")
            return health_status(self.health_address) == SERVING

        wait_until(serving, timeout=timeout, what=f"{self.member_id} SERVING")
        return self

    def signal(self, sig: int) -> None:
        assert self.process is not None
        os.kill(self.process.pid, sig)

    def kill(self) -> None:
        """kill sends SIGKILL and reaps the process."""
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 15.0) -> int | None:
        """stop sends SIGTERM (resuming a stopped process first) and waits."""
        if self.process is None:
            return None
        return terminate(self.process, timeout)
