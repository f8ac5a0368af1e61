"""The claims benchmark measures real claims: a small run against the test etcd."""

from __future__ import annotations

import aetcd

from bench.claims import fresh_keys, measure
from ferry.etcd import EmbeddedEtcd


async def test_claims_benchmark_measures_both_sides(
    etcd_server: EmbeddedEtcd, etcd_client: aetcd.Client
) -> None:
    raw, ferry = await measure(etcd_server.endpoint, count=40, concurrency=4, rounds=1)
    assert len(raw) == len(ferry) == 1
    assert raw[0] > 0 and ferry[0] > 0
    # acquire raises unless it created the claim, so a rate means 40 real claims;
    # they lived under the bench session's lease and went with it, unlike raw keys.
    assert await etcd_client.get(fresh_keys("0-raw", 40)[-1].encode()) is not None
    assert await etcd_client.get(fresh_keys("0-ferry", 40)[-1].encode()) is None
