"""Fixtures of the fault tests."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from ferry.etcd import EmbeddedEtcd


@pytest.fixture
def own_etcd(tmp_path: Path) -> Iterator[EmbeddedEtcd]:
    """own_etcd is an etcd this test may stop (SIGSTOP) without touching any other test."""
    with EmbeddedEtcd(tmp_path / "etcd") as server:
        yield server
        os.kill(server.pid, signal.SIGCONT)
