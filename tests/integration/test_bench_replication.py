"""The replication benchmark measures real replication: a tiny run, then the follower is
compared with the leader."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench import replication
from bench._replication import PAUSED, Pair
from tests.sync.support import index_documents


def test_replication_benchmark_measures_apply_rate_and_lag(tmp_path: Path) -> None:
    with Pair(tmp_path) as pair:
        raw, ferry = replication.measure_apply(pair, tmp_path, ops=2000, rounds=1, warmup=0)
        lag = asyncio.run(replication.measure_lag(pair, rate=1000, seconds=1.0, warmup=0.2))

        assert len(raw) == len(ferry) == 1
        assert raw[0] > 0 and ferry[0] > 0
        # The round's follower was paused again after catching up; the lag one follows.
        assert pair.states("apply-0") == [PAUSED] * replication.SHARDS
        for index, count in [("apply-0", 2000), ("lag", 1200)]:
            leader = index_documents(pair.leader.store_url, index)
            assert len(leader) == count
            assert index_documents(pair.follower.store_url, index) == leader
    # 10 ms ticks for 1 s after the warm-up: about 100 batches, each one covered.
    assert 80 <= len(lag.seconds) <= 110
    assert 0 < lag.percentile(50) <= lag.percentile(99) <= max(lag.seconds) < 5
    assert 0.95 * 1000 <= lag.rate <= 1.05 * 1000
    assert (tmp_path / "raw-0.db").exists()
