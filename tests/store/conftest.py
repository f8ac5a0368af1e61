"""Fixtures for the store conformance suite: every test runs on SQLite and PostgreSQL.

``store_url`` names a fresh, empty store (a new SQLite file, or a new database
on one embedded PostgreSQL server shared by the session); ``store`` is a
started Store on it; ``open_store_at`` opens more instances on any URL (other
"processes" writing the same store, or tighter limits) and stops them after
the test.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from ferry.store import DEFAULT_LIMITS, Limits, Store, open_store

BACKENDS = ["sqlite", "postgresql"]

OpenStore = Callable[..., Awaitable[Store]]


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
