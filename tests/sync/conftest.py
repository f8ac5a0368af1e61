"""Fixtures of the sync engine tests: a SyncCluster per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ferry.etcd import EmbeddedEtcd, Keys
from tests.helpers import ServiceProcess
from tests.sync.support import SyncCluster


@pytest.fixture
def cluster(
    services: Callable[..., ServiceProcess],
    etcd_server: EmbeddedEtcd,
    keys: Keys,
    tmp_path: Path,
) -> Iterator[SyncCluster]:
    """cluster is a SyncCluster with one coordinator started; add agents per test."""
    sync = SyncCluster(services, etcd_server.endpoint, keys, tmp_path)
    sync.coordinator()
    yield sync
    sync.close()
