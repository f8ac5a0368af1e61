"""Fixtures for replication tests: a second real etcd, so that each cluster has its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ferry.etcd import EmbeddedEtcd
from tests.helpers import ServiceProcess
from tests.replication.clusters import Cluster


@pytest.fixture
def leader(
    services: Callable[..., ServiceProcess], etcd_server: EmbeddedEtcd, tmp_path: Path
) -> Iterator[Cluster]:
    """leader is a leader cluster with one replicator (and no coordinator: none is needed)."""
    cluster = Cluster("leader", services, etcd_server.endpoint, tmp_path)
    cluster.replicator()
    yield cluster
    cluster.close()


@pytest.fixture
def follower(
    services: Callable[..., ServiceProcess],
    follower_etcd: EmbeddedEtcd,
    tmp_path: Path,
    leader: Cluster,
) -> Iterator[Cluster]:
    """follower is a follower cluster (coordinator, no replicator yet) knowing ``leader``
    as remote cluster "leader"."""
    cluster = Cluster("follower", services, follower_etcd.endpoint, tmp_path)
    cluster.coordinator()
    cluster.add_remote("leader", leader)
    yield cluster
    cluster.close()
