"""Fixtures of the sync engine tests: a SyncCluster per test."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ferry.etcd import EmbeddedEtcd, Keys
from tests.e2e.paced_source import PLUGIN
from tests.helpers import ServiceProcess
from tests.sync.support import SyncCluster


@pytest.fixture
def cluster(
    services: Callable[..., ServiceProcess],
    etcd_server: EmbeddedEtcd,
    keys: Keys,
    tmp_path: Path,
) -> Iterator[SyncCluster]:
    """cluster is a SyncCluster with one coordinator started; add agents per test. Its
    services know the test-paced-generator, for syncs that must outlast what a test does."""
    start = functools.partial(services, env={"FERRY_CONNECTOR_PLUGINS": PLUGIN})
    sync = SyncCluster(start, etcd_server.endpoint, keys, tmp_path)
    sync.coordinator()
    yield sync
    sync.close()
