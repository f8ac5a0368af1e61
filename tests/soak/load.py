"""The soak's moving parts: a changing SQLite source, chaos at a fixed seed, memory samples.

Each runs on its own: :class:`ItemsTable` is changed by the soak between sync
rounds; :class:`Chaos` and :class:`MemorySampler` are threads started and
stopped around the load (``stop`` re-raises what went wrong inside).
"""

from __future__ import annotations

import random
import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from tests.helpers import ServiceProcess


class ItemsTable:
    """ItemsTable is a SQLite table of items whose rows the soak inserts, updates and
    soft-deletes; ``updated`` grows with every change (the source's cursor column)."""

    def __init__(self, path: Path, rng: random.Random, rows: int) -> None:
        self.path = path
        self.rng = rng
        self.version = 0
        self.next_id = 1
        self.live: list[int] = []
        self._execute(
            "CREATE TABLE items (id integer PRIMARY KEY, body text NOT NULL, n integer NOT NULL,"
            " updated integer NOT NULL, deleted integer NOT NULL DEFAULT 0)"
        )
        self.insert(rows)

    @property
    def config(self) -> dict[str, Any]:
        """config is the sqlite connector's config for this table."""
        return {
            "path": str(self.path),
            "tables": ["items"],
            "cursor_column": "updated",
            "soft_delete_column": "deleted",
            "page_size": 500,
        }

    def _execute(self, sql: str, rows: Sequence[tuple[Any, ...]] = ()) -> None:
        conn = sqlite3.connect(self.path)
        try:
            with conn:
                if rows:
                    conn.executemany(sql, rows)
                else:
                    conn.execute(sql)
        finally:
            conn.close()

    def _stamp(self) -> int:
        self.version += 1
        return self.version

    def _body(self) -> str:
        return "item " + "x" * self.rng.randrange(10, 300)

    def insert(self, count: int) -> None:
        rows = []
        for _ in range(count):
            rows.append((self.next_id, self._body(), self.rng.randrange(10**6), self._stamp()))
            self.live.append(self.next_id)
            self.next_id += 1
        self._execute("INSERT INTO items (id, body, n, updated) VALUES (?, ?, ?, ?)", rows)

    def update(self, count: int) -> None:
        ids = self.rng.sample(self.live, min(count, len(self.live)))
        rows = [(self._body(), self.rng.randrange(10**6), self._stamp(), i) for i in ids]
        self._execute("UPDATE items SET body = ?, n = ?, updated = ? WHERE id = ?", rows)

    def delete(self, count: int) -> None:
        ids = set(self.rng.sample(self.live, min(count, len(self.live))))
        self.live = [i for i in self.live if i not in ids]
        self._execute(
            "UPDATE items SET deleted = 1, updated = ? WHERE id = ?",
            [(self._stamp(), i) for i in sorted(ids)],
        )

    def change(self) -> None:
        """change inserts, updates and soft-deletes a random handful of rows."""
        self.insert(self.rng.randrange(50, 400))
        self.update(self.rng.randrange(50, 400))
        self.delete(self.rng.randrange(10, 150))

    def documents(self) -> dict[str, dict[str, Any]]:
        """documents is what the index must hold: every row not soft-deleted."""
        conn = sqlite3.connect(self.path)
        try:
            rows = conn.execute(
                "SELECT id, body, n, updated, deleted FROM items WHERE NOT deleted"
            ).fetchall()
        finally:
            conn.close()
        return {
            str(i): {"id": i, "body": body, "n": n, "updated": updated, "deleted": deleted}
            for i, body, n, updated, deleted in rows
        }


class Background:
    """Background is a daemon thread running :meth:`run` until :meth:`stop`; whatever
    :meth:`run` raises is re-raised (once) by :meth:`stop`."""

    def __init__(self, name: str, stop_within: float) -> None:
        self._stop = threading.Event()
        self._stop_within = stop_within
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        """stop asks :meth:`run` to end, waits for it, and re-raises what failed."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=self._stop_within)
            assert not self._thread.is_alive(), f"{self._thread.name} did not stop"
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _main(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # noqa: BLE001 — re-raised by stop
            self._error = exc

    def run(self) -> None:
        """run works until ``self._stop`` is set."""
        raise NotImplementedError


@dataclass(frozen=True)
class Fault:
    """Fault is one thing Chaos did: SIGKILL and restart, or SIGSTOP for ``seconds``."""

    at: float
    action: str
    member: str
    seconds: float


class Chaos(Background):
    """Chaos kills (SIGKILL, then restart on the same address and id) or pauses (SIGSTOP,
    then SIGCONT) one victim at a time, every 1 to 3 s, in turn; victims, delays and
    durations are drawn from ``rng``.

    Pauses last 0.5 s to ``ttl`` + 1.5 s: some end before the victim's lease does,
    the others make it a zombie whose work moves elsewhere. :meth:`stop` resumes
    or restarts whatever is down before it returns.
    """

    def __init__(self, rng: random.Random, ttl: float) -> None:
        super().__init__("chaos", stop_within=60)  # a killed victim restarts before stop ends
        self.rng = rng
        self.victims: list[ServiceProcess] = []
        """victims are the processes to choose from; set before :meth:`start`."""
        self.ttl = ttl
        self.faults: list[Fault] = []

    def run(self) -> None:
        while not self._stop.wait(self.rng.uniform(1.0, 3.0)):
            victim = self.rng.choice(self.victims)
            if len(self.faults) % 2:
                self._kill(victim, self.rng.uniform(0.0, 1.5))
            else:
                self._pause(victim, self.rng.uniform(0.5, self.ttl + 1.5))

    def _kill(self, victim: ServiceProcess, down: float) -> None:
        victim.kill()
        self.faults.append(Fault(time.time(), "kill", victim.member_id, down))
        self._stop.wait(down)
        victim.start()
        victim.wait_serving(timeout=30)

    def _pause(self, victim: ServiceProcess, seconds: float) -> None:
        victim.signal(signal.SIGSTOP)
        self.faults.append(Fault(time.time(), "pause", victim.member_id, seconds))
        try:
            self._stop.wait(seconds)
        finally:
            victim.signal(signal.SIGCONT)

    def summary(self) -> str:
        counts = Counter((f.action, f.member) for f in self.faults)
        return ", ".join(f"{a} {m} x{n}" for (a, m), n in sorted(counts.items()))


def rss_kib(pid: int) -> int | None:
    """rss_kib is the process's resident set (VmRSS) in KiB; None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None  # a zombie has no VmRSS


@dataclass(frozen=True)
class Verdict:
    """Verdict is one series' flatness: the last quarter's peak against the first's."""

    member: str
    pid: int
    samples: int
    first_peak_mib: float
    last_peak_mib: float
    limit_mib: float

    @property
    def flat(self) -> bool:
        return self.last_peak_mib <= self.limit_mib


class MemorySampler(Background):
    """MemorySampler records every service process's RSS every ``interval`` seconds, one
    series per (member, pid): a restarted process starts a new series."""

    def __init__(
        self, processes: Callable[[], Sequence[ServiceProcess]], interval: float = 0.5
    ) -> None:
        super().__init__("memory", stop_within=10)
        self.processes = processes
        self.interval = interval
        self.series: dict[tuple[str, int], list[tuple[float, int]]] = {}

    def run(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.interval):
                return

    def sample(self) -> None:
        now = time.monotonic()
        for proc in self.processes():
            popen = proc.process
            if popen is None:
                continue
            kib = rss_kib(popen.pid)
            if kib is not None:
                self.series.setdefault((proc.member_id, popen.pid), []).append((now, kib))

    def write_csv(self, path: Path) -> None:
        """write_csv saves every sample: member, pid, seconds since the first sample, KiB."""
        start = min((series[0][0] for series in self.series.values()), default=0.0)
        with open(path, "w") as out:
            out.write("member,pid,seconds,rss_kib\n")
            for (member, pid), series in sorted(self.series.items()):
                for t, kib in series:
                    out.write(f"{member},{pid},{t - start:.1f},{kib}\n")

    def verdicts(
        self, *, warmup: float, growth: float, slack_mib: float, min_samples: int
    ) -> list[Verdict]:
        """verdicts judges every series, less its first ``warmup`` seconds (start-up, first
        work), that still has ``min_samples`` samples: flat when the last quarter's peak is
        at most the first quarter's peak * ``growth`` + ``slack_mib``."""
        found = []
        for (member, pid), series in sorted(self.series.items()):
            samples = [kib for t, kib in series if t >= series[0][0] + warmup]
            if len(samples) < min_samples:
                continue
            quarter = len(samples) // 4
            first = max(samples[:quarter]) / 1024
            last = max(samples[-quarter:]) / 1024
            found.append(
                Verdict(member, pid, len(samples), first, last, first * growth + slack_mib)
            )
        return found
