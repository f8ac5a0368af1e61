"""Fixtures for TLS and token tests: a throwaway PKI and a tokens file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.security.certs import Authority, Pair


@dataclass(frozen=True)
class Pki:
    """Pki is a CA with a server and a client certificate, plus a stranger's client certificate
    (from another CA)."""

    ca: Authority
    server: Pair
    client: Pair
    stranger: Pair


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca = Authority(tmp_path / "pki")
    other = Authority(tmp_path / "other-pki", name="someone-else")
    return Pki(ca, ca.issue("server-1"), ca.issue("client-1"), other.issue("stranger"))
