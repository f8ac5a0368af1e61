"""ferry.metrics: the /metrics endpoint and the collectors of live values."""

from __future__ import annotations

import asyncio
import socket
import time
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from ferry import metrics
from ferry.errors import InvalidArgument
from ferry.v1 import replication_pb2
from tests.scrape import Scrape, parse


def _read(registry: CollectorRegistry) -> Scrape:
    return parse(generate_latest(registry).decode())


async def test_the_endpoint_serves_the_registry_on_a_free_port_and_stops_idempotently() -> None:
    server = metrics.MetricsServer("127.0.0.1:0")
    await server.start()
    try:
        assert server.port > 0 and server.address == f"127.0.0.1:{server.port}"
        metrics.TASK_ASSIGNMENTS.inc(0)

        def get() -> tuple[str, str]:
            with urllib.request.urlopen(f"http://{server.address}/metrics", timeout=5) as r:
                return r.headers["Content-Type"], r.read().decode()

        content_type, body = await asyncio.to_thread(get)
        assert content_type.startswith("text/plain; version=")
        scraped = parse(body)
        assert scraped.values("ferry_task_assignments_total")
        assert scraped.values("process_resident_memory_bytes"), "process metrics included"
        assert not scraped.values("ferry_task_assignments_created"), "no *_created series"
    finally:
        await server.stop()
    await server.stop()
    with pytest.raises(OSError):
        await asyncio.to_thread(urllib.request.urlopen, f"http://{server.address}/metrics", None, 1)


async def test_an_empty_address_turns_the_endpoint_off() -> None:
    server = metrics.MetricsServer("")
    await server.start()
    assert server.address == "" and server.port == 0
    await server.stop()


@pytest.mark.parametrize("listen", ["nope", "127.0.0.1", ":9464", "127.0.0.1:http", "h:70000"])
def test_a_bad_address_names_metrics_listen(listen: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        metrics.MetricsServer(listen)
    assert raised.value.violations[0].field == "metrics_listen"


async def test_a_port_in_use_names_metrics_listen() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = metrics.MetricsServer(f"127.0.0.1:{taken.getsockname()[1]}")
        with pytest.raises(InvalidArgument) as raised:
            await server.start()
    assert raised.value.violations[0].field == "metrics_listen"
    await server.stop()


def test_checkpoint_lag_is_the_oldest_running_tasks_and_goes_when_it_ends() -> None:
    registry = CollectorRegistry()
    lag = metrics.CheckpointLag()
    registry.register(lag)
    first, second, other = object(), object(), object()
    now = time.monotonic()
    lag.mark(first, ("c", "i"), now - 30)
    lag.mark(second, ("c", "i"), now - 5)
    lag.mark(other, ("d", "j"), now - 1)
    [age] = _read(registry).values("ferry_checkpoint_lag_seconds", connector="c", index="i")
    assert 30 <= age < 40
    lag.mark(first, ("c", "i"), time.monotonic())  # it committed
    [age] = _read(registry).values("ferry_checkpoint_lag_seconds", connector="c", index="i")
    assert 5 <= age < 15
    for owner in (first, second):
        lag.forget(owner)
    scraped = _read(registry)
    assert scraped.values("ferry_checkpoint_lag_seconds", connector="c") == []
    assert len(scraped.values("ferry_checkpoint_lag_seconds", connector="d")) == 1


def test_follower_shards_export_their_sources_stats_until_removed() -> None:
    registry = CollectorRegistry()
    shards = metrics.FollowerShards()
    registry.register(shards)
    stats = [
        replication_pb2.ShardFollowStats(
            follower_index="copy",
            shard=n,
            lag_operations=10 * n,
            lag_millis=1500,
            operations_written=7,
            bootstraps=1,
            failed_read_requests=2,
        )
        for n in range(2)
    ]

    def source() -> list[replication_pb2.ShardFollowStats]:
        return stats

    shards.add(source)
    scraped = _read(registry)
    assert scraped.values("ferry_replication_lag_operations", index="copy", shard="1") == [10]
    assert scraped.values("ferry_replication_lag_seconds", shard="0") == [1.5]
    assert scraped.total("ferry_replication_operations_applied_total", index="copy") == 14
    assert scraped.total("ferry_replication_read_exceptions_total") == 4
    shards.remove(source)
    shards.remove(source)  # idempotent
    assert _read(registry).values("ferry_replication_lag_operations") == []
