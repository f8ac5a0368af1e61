"""Fixtures of the sync engine tests: a SyncCluster per test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ferry.connectors.registry import PLUGINS_ENV
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

    def start(role: str, etcd_endpoints: str, **kwargs: object) -> ServiceProcess:
        # Added to the plugins a test module sets, when the process starts.
        plugins = ",".join(filter(None, (os.environ.get(PLUGINS_ENV), PLUGIN)))
        return services(role, etcd_endpoints, env={PLUGINS_ENV: plugins}, **kwargs)

    sync = SyncCluster(start, etcd_server.endpoint, keys, tmp_path)
    sync.coordinator()
    yield sync
    sync.close()
