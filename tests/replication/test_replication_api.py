"""ferry.v1.Replication on a real coordinator process: remotes, followers, patterns, stats.

The follower cluster is one coordinator (real etcd, SQLite store); the leader
cluster, where one is needed, is a real replicator serving LeaderReplication
from its own SQLite store under its own etcd prefix, its indices created by
the test straight in that store.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

import aetcd
import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ferry import etcd as ferry_etcd
from ferry.etcd import EmbeddedEtcd, Keys, free_port
from ferry.replication.records import CLAIM_KIND, FollowerRecord, ShardRecord, claim_resource
from ferry.store import FieldKind, IndexOp, IndexSpec, Schema, Store, proto
from ferry.v1 import indices_pb2, replication_pb2_grpc
from ferry.v1 import replication_pb2 as pb
from tests.helpers import ServiceProcess, wait_until
from tests.replication.clusters import Cluster

T = TypeVar("T")
ACTIVE = pb.FOLLOWER_STATUS_ACTIVE
PAUSED = pb.FOLLOWER_STATUS_PAUSED


def coordinator_args(tmp_path: Path, prefix: str, *extra: str) -> list[str]:
    return [
        "--etcd-prefix", prefix,
        "--store-url", f"sqlite:///{tmp_path / f'follower-{uuid.uuid4().hex[:6]}.db'}",
        "--auto-follow-interval", "0.2",
        *extra,
    ]  # fmt: skip


@pytest.fixture
def prefix() -> str:
    return f"/repl-api-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def coordinator(
    etcd_server: EmbeddedEtcd,
    services: Callable[..., ServiceProcess],
    tmp_path: Path,
    prefix: str,
) -> ServiceProcess:
    return services(
        "coordinator", etcd_server.endpoint, args=coordinator_args(tmp_path, prefix)
    ).wait_serving()


@pytest.fixture
def api(coordinator: ServiceProcess) -> Iterator[replication_pb2_grpc.ReplicationStub]:
    with grpc.insecure_channel(coordinator.address) as channel:
        yield replication_pb2_grpc.ReplicationStub(channel)


def failure(call: Callable[[], object]) -> tuple[grpc.StatusCode, str, list[str]]:
    """failure runs a call that must fail; returns its code, message and BadRequest fields."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    error: grpc.Call = caught.value  # type: ignore[assignment]
    fields: list[str] = []
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return error.code(), error.details() or "", fields


def remote(name: str = "leader", *addresses: str, token: str = "") -> pb.PutRemoteClusterRequest:
    return pb.PutRemoteClusterRequest(
        remote_cluster=pb.RemoteCluster(
            name=name, addresses=list(addresses) or [f"127.0.0.1:{free_port()}"], token=token
        )
    )


def pattern_request(
    name: str = "logs", remote_cluster: str = "leader", **fields: object
) -> pb.PutAutoFollowPatternRequest:
    values: dict[str, object] = {"leader_index_patterns": ["logs-*"], **fields}
    return pb.PutAutoFollowPatternRequest(
        pattern=pb.AutoFollowPattern(name=name, remote_cluster=remote_cluster, **values)  # type: ignore[arg-type]
    )


# Remote clusters ---------------------------------------------------------------------


def test_put_remote_cluster_names_every_bad_field(
    api: replication_pb2_grpc.ReplicationStub,
) -> None:
    request = pb.PutRemoteClusterRequest(
        remote_cluster=pb.RemoteCluster(
            name="Leader_1",
            addresses=["127.0.0.1:7000", "no-port", "host:99999"],
            token="s3cr3t-literal",
        )
    )
    code, message, fields = failure(lambda: api.PutRemoteCluster(request))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert fields == [
        "remote_cluster.name",
        "remote_cluster.addresses[1]",
        "remote_cluster.addresses[2]",
        "remote_cluster.token",
    ]
    assert "s3cr3t-literal" not in message
    code, _, fields = failure(
        lambda: api.PutRemoteCluster(
            pb.PutRemoteClusterRequest(remote_cluster=pb.RemoteCluster(name="leader"))
        )
    )
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["remote_cluster.addresses"])
    code, _, fields = failure(lambda: api.PutRemoteCluster(pb.PutRemoteClusterRequest()))
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["remote_cluster"])
    assert list(api.ListRemoteClusters(pb.ListRemoteClustersRequest()).remote_clusters) == []


async def test_remote_cluster_token_is_stored_as_a_reference_and_never_returned(
    api: replication_pb2_grpc.ReplicationStub, etcd_client: aetcd.Client, prefix: str
) -> None:
    put = api.PutRemoteCluster(remote("leader", "127.0.0.1:1", token="${env:LEADER_TOKEN}"))
    assert (put.name, list(put.addresses), put.token) == ("leader", ["127.0.0.1:1"], "")
    listed = api.ListRemoteClusters(pb.ListRemoteClustersRequest()).remote_clusters
    assert [(r.name, r.token) for r in listed] == [("leader", "")]
    stored = await etcd_client.get(Keys(prefix).remote("leader").encode())
    assert stored is not None
    assert json.loads(stored.value)["token"] == "${env:LEADER_TOKEN}"
    # Replacing the remote keeps one record with the new addresses.
    api.PutRemoteCluster(remote("leader", "127.0.0.1:2", "127.0.0.1:3"))
    listed = api.ListRemoteClusters(pb.ListRemoteClustersRequest()).remote_clusters
    assert [list(r.addresses) for r in listed] == [["127.0.0.1:2", "127.0.0.1:3"]]


def test_unreachable_remote_cluster_is_listed_not_connected(
    api: replication_pb2_grpc.ReplicationStub,
) -> None:
    api.PutRemoteCluster(remote("away", f"127.0.0.1:{free_port()}"))
    [listed] = api.ListRemoteClusters(pb.ListRemoteClustersRequest()).remote_clusters
    assert not listed.connected
    assert "unreachable" in listed.error


def test_delete_remote_cluster_is_refused_while_a_pattern_uses_it(
    api: replication_pb2_grpc.ReplicationStub,
) -> None:
    api.PutRemoteCluster(remote("leader"))
    api.PutAutoFollowPattern(pattern_request("logs", "leader"))
    code, message, _ = failure(
        lambda: api.DeleteRemoteCluster(pb.DeleteRemoteClusterRequest(name="leader"))
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "auto-follow pattern 'logs'" in message
    api.DeleteAutoFollowPattern(pb.DeleteAutoFollowPatternRequest(name="logs"))
    api.DeleteRemoteCluster(pb.DeleteRemoteClusterRequest(name="leader"))
    assert list(api.ListRemoteClusters(pb.ListRemoteClustersRequest()).remote_clusters) == []
    code, _, _ = failure(
        lambda: api.DeleteRemoteCluster(pb.DeleteRemoteClusterRequest(name="leader"))
    )
    assert code == grpc.StatusCode.NOT_FOUND


# Followers without a leader ---------------------------------------------------------------


def test_follow_names_every_bad_field(api: replication_pb2_grpc.ReplicationStub) -> None:
    request = pb.FollowRequest(
        follower_index="Orders",
        remote_cluster="leader_1",
        leader_index="",
        parameters=pb.FollowParameters(max_outstanding_read_requests=-1, max_read_request_size=-5),
    )
    code, _, fields = failure(lambda: api.Follow(request))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert fields == [
        "follower_index",
        "remote_cluster",
        "leader_index",
        "parameters.max_outstanding_read_requests",
        "parameters.max_read_request_size",
    ]


def test_follow_of_an_unknown_remote_cluster_is_not_found(
    api: replication_pb2_grpc.ReplicationStub,
) -> None:
    request = pb.FollowRequest(follower_index="orders", remote_cluster="nowhere", leader_index="o")
    code, message, _ = failure(lambda: api.Follow(request))
    assert code == grpc.StatusCode.NOT_FOUND
    assert "nowhere" in message


def test_follow_of_an_unreachable_remote_cluster_is_unavailable(
    api: replication_pb2_grpc.ReplicationStub,
) -> None:
    api.PutRemoteCluster(remote("away", f"127.0.0.1:{free_port()}"))
    request = pb.FollowRequest(follower_index="orders", remote_cluster="away", leader_index="o")
    code, message, _ = failure(lambda: api.Follow(request))
    assert code == grpc.StatusCode.UNAVAILABLE
    assert "remote cluster 'away' is unreachable" in message
    assert list(api.ListFollowers(pb.ListFollowersRequest()).followers) == []


def test_a_remote_token_that_cannot_be_resolved_is_refused_naming_it(
    api: replication_pb2_grpc.ReplicationStub,
) -> None:
    token = "${env:FERRY_TEST_UNSET_REMOTE_TOKEN}"
    api.PutRemoteCluster(remote("locked", f"127.0.0.1:{free_port()}", token=token))
    request = pb.FollowRequest(follower_index="orders", remote_cluster="locked", leader_index="o")
    code, message, _ = failure(lambda: api.Follow(request))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "FERRY_TEST_UNSET_REMOTE_TOKEN" in message and "not set" in message
    [listed] = api.ListRemoteClusters(pb.ListRemoteClustersRequest()).remote_clusters
    assert not listed.connected and "FERRY_TEST_UNSET_REMOTE_TOKEN" in listed.error


def test_calls_on_unknown_followers_are_not_found(
    api: replication_pb2_grpc.ReplicationStub,
) -> None:
    for call in (
        lambda: api.Pause(pb.PauseFollowerRequest(follower_index="ghost")),
        lambda: api.Resume(pb.ResumeFollowerRequest(follower_index="ghost")),
        lambda: api.Unfollow(pb.UnfollowRequest(follower_index="ghost")),
        lambda: api.Stats(pb.FollowStatsRequest(follower_indices=["ghost"])),
    ):
        code, message, _ = failure(call)
        assert code == grpc.StatusCode.NOT_FOUND
        assert "ghost" in message
    code, _, fields = failure(
        lambda: api.Stats(pb.FollowStatsRequest(follower_indices=["ok", "Not/Ok"]))
    )
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["follower_indices[1]"])
    code, _, fields = failure(
        lambda: api.Resume(
            pb.ResumeFollowerRequest(
                follower_index="ghost", parameters=pb.FollowParameters(max_write_buffer_count=-1)
            )
        )
    )
    assert (code, fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        ["parameters.max_write_buffer_count"],
    )
    stats = api.Stats(pb.FollowStatsRequest())
    assert list(stats.followers) == []


# Auto-follow patterns ---------------------------------------------------------------------


def test_put_auto_follow_pattern_names_every_bad_field(
    api: replication_pb2_grpc.ReplicationStub,
) -> None:
    request = pattern_request(
        "Logs",
        "leader_x",
        leader_index_patterns=[],
        leader_index_exclusion_patterns=[""],
        follower_index_template="copy",
        parameters=pb.FollowParameters(max_outstanding_write_requests=5000),
    )
    code, _, fields = failure(lambda: api.PutAutoFollowPattern(request))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert fields == [
        "pattern.name",
        "pattern.remote_cluster",
        "pattern.leader_index_patterns",
        "pattern.leader_index_exclusion_patterns[0]",
        "pattern.follower_index_template",
        "pattern.parameters.max_outstanding_write_requests",
    ]
    bad_template = pattern_request(follower_index_template="UP-{{leader_index}}")
    code, _, fields = failure(lambda: api.PutAutoFollowPattern(bad_template))
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["pattern.follower_index_template"])
    code, message, _ = failure(lambda: api.PutAutoFollowPattern(pattern_request("logs", "nope")))
    assert code == grpc.StatusCode.NOT_FOUND
    assert "nope" in message


def test_auto_follow_pattern_keeps_its_create_time_when_replaced(
    api: replication_pb2_grpc.ReplicationStub,
) -> None:
    api.PutRemoteCluster(remote("leader"))
    first = api.PutAutoFollowPattern(pattern_request("logs"))
    assert first.create_time.seconds > 0
    replaced = api.PutAutoFollowPattern(
        pattern_request(
            "logs",
            leader_index_patterns=["logs-*", "audit-*"],
            leader_index_exclusion_patterns=["logs-tmp-*"],
            follower_index_template="{{leader_index}}-copy",
            paused=True,
        )
    )
    assert replaced.create_time == first.create_time
    [listed] = api.ListAutoFollowPatterns(pb.ListAutoFollowPatternsRequest()).patterns
    assert listed == replaced
    assert list(listed.leader_index_patterns) == ["logs-*", "audit-*"]
    api.DeleteAutoFollowPattern(pb.DeleteAutoFollowPatternRequest(name="logs"))
    assert list(api.ListAutoFollowPatterns(pb.ListAutoFollowPatternsRequest()).patterns) == []
    code, _, _ = failure(
        lambda: api.DeleteAutoFollowPattern(pb.DeleteAutoFollowPatternRequest(name="logs"))
    )
    assert code == grpc.StatusCode.NOT_FOUND


# Read-only mode ------------------------------------------------------------------------------


def test_read_only_coordinator_refuses_every_mutating_replication_call(
    etcd_server: EmbeddedEtcd, services: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    args = coordinator_args(tmp_path, f"/repl-ro-{uuid.uuid4().hex[:8]}", "--read-only")
    proc = services("coordinator", etcd_server.endpoint, args=args).wait_serving()
    with grpc.insecure_channel(proc.address) as channel:
        api = replication_pb2_grpc.ReplicationStub(channel)
        for call in (
            lambda: api.PutRemoteCluster(remote("leader")),
            lambda: api.DeleteRemoteCluster(pb.DeleteRemoteClusterRequest(name="leader")),
            lambda: api.Follow(
                pb.FollowRequest(follower_index="a", remote_cluster="leader", leader_index="a")
            ),
            lambda: api.Pause(pb.PauseFollowerRequest(follower_index="a")),
            lambda: api.Resume(pb.ResumeFollowerRequest(follower_index="a")),
            lambda: api.Unfollow(pb.UnfollowRequest(follower_index="a")),
            lambda: api.PutAutoFollowPattern(pattern_request()),
            lambda: api.DeleteAutoFollowPattern(pb.DeleteAutoFollowPatternRequest(name="logs")),
        ):
            code, _, _ = failure(call)
            assert code == grpc.StatusCode.PERMISSION_DENIED
        assert list(api.ListRemoteClusters(pb.ListRemoteClustersRequest()).remote_clusters) == []
        assert list(api.ListFollowers(pb.ListFollowersRequest()).followers) == []
        assert list(api.ListAutoFollowPatterns(pb.ListAutoFollowPatternsRequest()).patterns) == []
        assert list(api.Stats(pb.FollowStatsRequest()).followers) == []


# With a leader cluster ------------------------------------------------------------------------
#
# ``leader`` and ``follower`` (tests/replication/conftest.py) are two real clusters with
# their own etcd: the leader's replicator serves LeaderReplication from its store, the
# follower's coordinator knows it as remote cluster "leader" and has no replicator, so
# nothing bootstraps unless a test starts one.

LEADER_SCHEMA = Schema(
    fields={"title": FieldKind.TEXT, "qty": FieldKind.LONG, "tags": FieldKind.KEYWORD}, version=3
)


def create_leader_index(leader: Cluster, name: str, shards: int = 1) -> None:
    leader.run(
        lambda store: store.create_index(IndexSpec(name=name, shards=shards, schema=LEADER_SCHEMA))
    )


def follow_request(name: str, leader_index: str, **params: object) -> pb.FollowRequest:
    return pb.FollowRequest(
        follower_index=name,
        remote_cluster="leader",
        leader_index=leader_index,
        parameters=pb.FollowParameters(**params),  # type: ignore[arg-type]
    )


def bulk_status(cluster: Cluster, index: str) -> grpc.StatusCode:
    """bulk_status is the status of an ordinary write to ``index`` (OK when it was written)."""
    op = indices_pb2.BulkOperation(type=indices_pb2.BULK_OPERATION_TYPE_DELETE, id="x")
    try:
        cluster.indices.Bulk(indices_pb2.BulkRequest(index=index, operations=[op]))
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def follower_names(follower: Cluster) -> dict[str, str]:
    """follower_names maps each follower index to the auto-follow pattern that made it."""
    listed = follower.replication.ListFollowers(pb.ListFollowersRequest()).followers
    return {f.follower_index: f.auto_follow_pattern for f in listed}


def test_follow_creates_a_follower_index_like_the_leader_that_refuses_writes(
    leader: Cluster, follower: Cluster
) -> None:
    create_leader_index(leader, "orders", shards=3)
    api = follower.replication

    created = api.Follow(follow_request("orders-copy", "orders", max_read_request_size=4096))

    assert (created.follower_index, created.remote_cluster, created.leader_index) == (
        "orders-copy", "leader", "orders",
    )  # fmt: skip
    assert created.status == ACTIVE and created.revision > 0 and created.create_time.seconds
    assert created.parameters.max_read_request_size == 4096
    assert created.parameters.max_read_request_operation_count == 5120  # defaults filled in
    assert created.parameters.read_poll_timeout.ToSeconds() == 60
    index = follower.indices.Get(indices_pb2.GetIndexRequest(name="orders-copy"))
    assert index.follower and index.shard_count == 3
    assert (index.leader.remote_cluster, index.leader.index) == ("leader", "orders")
    assert index.schema == proto.schema_to_proto(LEADER_SCHEMA)
    assert bulk_status(follower, "orders-copy") == grpc.StatusCode.FAILED_PRECONDITION
    assert list(api.ListFollowers(pb.ListFollowersRequest(remote_cluster="leader")).followers) == [
        created
    ]
    assert list(api.ListFollowers(pb.ListFollowersRequest(remote_cluster="other")).followers) == []


def test_follow_refuses_taken_names_and_unknown_leader_indices(
    leader: Cluster, follower: Cluster
) -> None:
    create_leader_index(leader, "orders")
    api = follower.replication
    api.Follow(follow_request("orders", "orders"))

    code, message, _ = failure(lambda: api.Follow(follow_request("orders", "orders")))
    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert "follower index 'orders'" in message
    follower.indices.Create(indices_pb2.CreateIndexRequest(name="plain"))
    code, message, _ = failure(lambda: api.Follow(follow_request("plain", "orders")))
    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert "index 'plain'" in message
    code, message, _ = failure(lambda: api.Follow(follow_request("ghost-copy", "ghost")))
    assert code == grpc.StatusCode.NOT_FOUND
    assert "leader index" in message and "ghost" in message
    assert sorted(follower_names(follower)) == ["orders"]
    code, message, _ = failure(
        lambda: api.DeleteRemoteCluster(pb.DeleteRemoteClusterRequest(name="leader"))
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "follower index 'orders'" in message


def on_etcd(endpoint: str, work: Callable[[aetcd.Client], Awaitable[T]]) -> T:
    """on_etcd runs ``await work(client)`` with a client of the etcd at endpoint."""

    async def call() -> T:
        client = ferry_etcd.connect(endpoint)
        await client.connect()
        try:
            return await work(client)
        finally:
            await client.close()

    return asyncio.run(call())


def test_pause_and_resume_merge_parameters_and_clear_fatal_exceptions(
    leader: Cluster, follower: Cluster, follower_etcd: EmbeddedEtcd
) -> None:
    create_leader_index(leader, "orders", shards=2)
    api = follower.replication
    created = api.Follow(
        follow_request(
            "orders", "orders", max_read_request_operation_count=100,
            read_poll_timeout=duration_pb2.Duration(seconds=5),
        )
    )  # fmt: skip
    paused = api.Pause(pb.PauseFollowerRequest(follower_index="orders"))
    assert paused.status == PAUSED and paused.revision > created.revision
    assert api.Pause(pb.PauseFollowerRequest(follower_index="orders")) == paused

    # A shard task that met a fatal error left it in its shard record.
    key = follower.keys.follow_shard("orders", 1).encode()
    fatal = ShardRecord(bootstraps=1, fatal_exception="leader index 'orders' not found")
    on_etcd(follower_etcd.endpoint, lambda client: client.put(key, fatal.encode()))
    [stats] = api.Stats(pb.FollowStatsRequest(follower_indices=["orders"])).followers
    assert [s.fatal_exception for s in stats.shards] == ["", fatal.fatal_exception]
    assert [s.state for s in stats.shards] == [pb.SHARD_FOLLOW_STATE_PAUSED] * 2

    resumed = api.Resume(
        pb.ResumeFollowerRequest(
            follower_index="orders",
            parameters=pb.FollowParameters(max_outstanding_read_requests=3),
        )
    )

    assert resumed.status == ACTIVE
    got = resumed.parameters
    assert (got.max_read_request_operation_count, got.max_outstanding_read_requests) == (100, 3)
    assert got.read_poll_timeout.ToSeconds() == 5
    assert got.max_write_buffer_size == 512 * 1024 * 1024
    stored = on_etcd(follower_etcd.endpoint, lambda client: client.get(key))
    assert stored is not None
    cleared = ShardRecord.decode(stored.value)
    assert (cleared.fatal_exception, cleared.bootstraps) == ("", 1)
    [listed] = api.ListFollowers(pb.ListFollowersRequest()).followers
    assert listed == resumed


def test_stats_of_a_follower_no_replicator_holds(leader: Cluster, follower: Cluster) -> None:
    create_leader_index(leader, "orders", shards=3)
    api = follower.replication
    api.Follow(follow_request("orders-copy", "orders"))

    response = api.Stats(pb.FollowStatsRequest())

    [stats] = response.followers
    assert (stats.follower_index, stats.remote_cluster, stats.leader_index, stats.status) == (
        "orders-copy", "leader", "orders", ACTIVE,
    )  # fmt: skip
    assert [s.shard for s in stats.shards] == [0, 1, 2]
    for shard in stats.shards:
        assert shard.state == pb.SHARD_FOLLOW_STATE_UNASSIGNED
        assert (shard.remote_cluster, shard.leader_index, shard.follower_index) == (
            "leader", "orders", "orders-copy",
        )  # fmt: skip
        assert (shard.follower_global_checkpoint, shard.follower_max_seq_no) == (-1, -1)
        assert shard.leader_global_checkpoint == -1 and not shard.replicator_id
    assert response.auto_follow == pb.AutoFollowStats()
    api.Pause(pb.PauseFollowerRequest(follower_index="orders-copy"))
    [stats] = api.Stats(pb.FollowStatsRequest(follower_indices=["orders-copy"])).followers
    assert stats.status == PAUSED
    assert {s.state for s in stats.shards} == {pb.SHARD_FOLLOW_STATE_PAUSED}


def test_stats_of_a_paused_follower_come_from_its_store(leader: Cluster, follower: Cluster) -> None:
    create_leader_index(leader, "orders", shards=2)
    ops = [IndexOp(f"o-{i}", {"qty": i}) for i in range(30)]
    leader.run(lambda store: store.bulk("orders", ops))
    follower.replicator()
    follower.follow("orders", "leader", "orders", read_poll_timeout=duration_pb2.Duration())
    follower.wait_caught_up(leader, "orders", "orders")
    follower.replication.Pause(pb.PauseFollowerRequest(follower_index="orders"))

    def paused() -> list[pb.ShardFollowStats]:
        shards = follower.shard_stats("orders")
        done = all(s.state == pb.SHARD_FOLLOW_STATE_PAUSED and not s.replicator_id for s in shards)
        return shards if done else []

    shards = wait_until(paused, what="both shards paused and released")
    # Nobody reports them now: the checkpoints are the follower store's own.
    stored = follower.checkpoints("orders")
    assert [(s.follower_global_checkpoint, s.follower_max_seq_no) for s in shards] == stored
    assert sum(gcp + 1 for gcp, _ in stored) == 30


def test_remote_clusters_are_probed(leader: Cluster, follower: Cluster) -> None:
    api = follower.replication
    api.PutRemoteCluster(remote("away", f"127.0.0.1:{free_port()}"))

    listed = api.ListRemoteClusters(pb.ListRemoteClustersRequest()).remote_clusters

    assert [(r.name, r.connected) for r in listed] == [("away", False), ("leader", True)]
    assert listed[0].error and not listed[1].error


async def _put_lease(store: Store, *, shard: int, lease_id: str) -> None:
    await store.put_retention_lease("orders", shard, lease_id, 0)


def test_unfollow_waits_for_the_shard_tasks_then_promotes_and_removes_the_leases(
    leader: Cluster, follower: Cluster, follower_etcd: EmbeddedEtcd
) -> None:
    create_leader_index(leader, "orders", shards=2)
    follower.follow("orders", "leader", "orders")
    keys = follower.keys
    got = on_etcd(follower_etcd.endpoint, lambda c: c.get(keys.follower("orders").encode()))
    lease_id = FollowerRecord.decode(got.value).lease_id
    # What the shard tasks hold: a retention lease per leader shard, and a claim on shard 0;
    # another follower's lease stays.
    for shard, lease in ((0, lease_id), (1, lease_id), (0, "elsewhere")):
        leader.run(partial(_put_lease, shard=shard, lease_id=lease))
    claim = keys.claim(CLAIM_KIND, claim_resource("orders", 0)).encode()
    on_etcd(follower_etcd.endpoint, lambda c: c.put(claim, b"follower-replicator-0"))

    with ThreadPoolExecutor(1) as pool:
        unfollowing = pool.submit(
            follower.replication.Unfollow, pb.UnfollowRequest(follower_index="orders")
        )
        # Paused first, so the shard tasks stop; nothing promoted while a claim is held.
        wait_until(
            lambda: (
                follower.replication.ListFollowers(pb.ListFollowersRequest()).followers[0].status
                == PAUSED
            ),
            what="follower paused by Unfollow",
        )
        assert bulk_status(follower, "orders") == grpc.StatusCode.FAILED_PRECONDITION
        assert not unfollowing.done()
        on_etcd(follower_etcd.endpoint, lambda c: c.delete(claim))
        index = unfollowing.result(timeout=30)

    assert (index.name, index.follower, index.shard_count) == ("orders", False, 2)
    leases = leader.run(lambda store: store.retention_leases("orders"))
    assert [lease.lease_id for lease in leases] == ["elsewhere"]
    assert bulk_status(follower, "orders") == grpc.StatusCode.OK
    assert follower_names(follower) == {}
    code, _, _ = failure(
        lambda: follower.replication.Unfollow(pb.UnfollowRequest(follower_index="orders"))
    )
    assert code == grpc.StatusCode.NOT_FOUND
    follower.replication.DeleteRemoteCluster(pb.DeleteRemoteClusterRequest(name="leader"))


def test_unfollow_of_a_paused_follower(leader: Cluster, follower: Cluster) -> None:
    create_leader_index(leader, "orders")
    follower.follow("orders", "leader", "orders")
    follower.replication.Pause(pb.PauseFollowerRequest(follower_index="orders"))

    index = follower.replication.Unfollow(pb.UnfollowRequest(follower_index="orders"))

    assert not index.follower
    assert bulk_status(follower, "orders") == grpc.StatusCode.OK


def test_auto_follow_follows_new_matching_leader_indices_only(
    leader: Cluster, follower: Cluster
) -> None:
    api = follower.replication
    create_leader_index(leader, "logs-old")
    api.PutAutoFollowPattern(
        pattern_request(
            "logs",
            leader_index_patterns=["logs-*"],
            leader_index_exclusion_patterns=["logs-tmp-*"],
            parameters=pb.FollowParameters(max_outstanding_read_requests=2),
        )
    )
    create_leader_index(leader, "logs-tmp-1")
    create_leader_index(leader, "logs-new", shards=2)

    wait_until(lambda: "logs-new" in follower_names(follower), what="logs-new auto-followed")

    # The round that followed logs-new saw logs-tmp-1 and logs-old too.
    assert follower_names(follower) == {"logs-new": "logs"}
    [created] = api.ListFollowers(pb.ListFollowersRequest()).followers
    assert created.parameters.max_outstanding_read_requests == 2
    index = follower.indices.Get(indices_pb2.GetIndexRequest(name="logs-new"))
    assert index.follower and index.shard_count == 2
    wait_until(
        lambda: (
            api.Stats(pb.FollowStatsRequest()).auto_follow.number_of_successful_follow_indices == 1
        ),
        what="auto-follow stats",
    )

    # follow_existing picks up an index older than the pattern, named by the template.
    api.PutAutoFollowPattern(
        pattern_request(
            "old",
            leader_index_patterns=["logs-old"],
            follower_index_template="{{leader_index}}-copy",
            follow_existing=True,
        )
    )
    wait_until(lambda: "logs-old-copy" in follower_names(follower), what="logs-old followed")

    # A deleted pattern follows nothing new: a marker index followed by another pattern
    # created after logs-later proves a round saw logs-later.
    api.DeleteAutoFollowPattern(pb.DeleteAutoFollowPatternRequest(name="logs"))
    api.PutAutoFollowPattern(pattern_request("marker", leader_index_patterns=["marker-*"]))
    create_leader_index(leader, "logs-later")
    create_leader_index(leader, "marker-1")
    wait_until(lambda: "marker-1" in follower_names(follower), what="marker-1 followed")
    assert follower_names(follower) == {
        "logs-new": "logs",
        "logs-old-copy": "old",
        "marker-1": "marker",
    }


def test_auto_follow_retries_a_failing_follow_less_and_less_often(
    leader: Cluster, follower: Cluster
) -> None:
    api = follower.replication
    api.PutAutoFollowPattern(
        pattern_request("long", follow_existing=True, follower_index_template="{{leader_index}}-c")
    )
    # 255 characters: a valid leader index whose follower name, 257, is not.
    create_leader_index(leader, "logs-" + "x" * 250)

    def failure_time(count: int) -> float:
        stats = api.Stats(pb.FollowStatsRequest()).auto_follow
        if stats.number_of_failed_follow_indices != count:
            return 0.0
        [error] = stats.recent_auto_follow_errors
        assert "follower_index" in error.error
        return error.time.ToMicroseconds() / 1e6

    second = wait_until(lambda: failure_time(2), timeout=15, what="second failed follow")
    third = wait_until(lambda: failure_time(3), timeout=15, what="third failed follow")
    # Rounds run every second; the second retry waits at least 2 s (backoff(2, 2.0, ...)).
    assert third - second >= 1.9
    assert follower_names(follower) == {}


def test_auto_follow_counts_an_ordinary_index_in_the_way_as_a_failure(
    leader: Cluster, follower: Cluster
) -> None:
    """A follower name taken by an ordinary index is not "already followed": it fails."""
    api = follower.replication
    follower.indices.Create(indices_pb2.CreateIndexRequest(name="logs-a"))
    create_leader_index(leader, "logs-a")
    api.PutAutoFollowPattern(pattern_request("logs", follow_existing=True))

    def failed() -> list[pb.AutoFollowError]:
        stats = api.Stats(pb.FollowStatsRequest()).auto_follow
        return (
            list(stats.recent_auto_follow_errors) if stats.number_of_failed_follow_indices else []
        )

    [error] = wait_until(failed, timeout=15, what="the clash counted as a failure")
    assert error.leader_index == "logs-a"
    assert "already exists" in error.error
    stats = api.Stats(pb.FollowStatsRequest()).auto_follow
    assert stats.number_of_successful_follow_indices == 0
    assert follower_names(follower) == {}


def test_stats_come_from_the_replicator_holding_each_shard_and_unfollow_ends_it(
    leader: Cluster, follower: Cluster
) -> None:
    create_leader_index(leader, "orders", shards=2)
    ops = [IndexOp(f"o-{i}", {"qty": i, "title": f"order {i}"}) for i in range(40)]
    leader.run(lambda store: store.bulk("orders", ops))
    replicator = follower.replicator()
    follower.follow("orders", "leader", "orders", read_poll_timeout=duration_pb2.Duration())
    follower.wait_caught_up(leader, "orders", "orders")

    def following() -> list[pb.ShardFollowStats]:
        shards = follower.shard_stats("orders")
        return shards if {s.state for s in shards} == {pb.SHARD_FOLLOW_STATE_FOLLOWING} else []

    shards = wait_until(following, what="both shards reported following")
    assert {s.replicator_id for s in shards} == {replicator.member_id}
    assert [s.shard for s in shards] == [0, 1]
    assert all(s.fencing_token.token > 0 and s.bootstraps == 1 for s in shards)
    # The store fence's scope, as the coordinator fills in for a shard nobody reports.
    assert [s.fencing_token.scope for s in shards] == ["follow/orders/0", "follow/orders/1"]
    assert sum(s.follower_global_checkpoint + 1 for s in shards) == 40
    assert len(leader.run(lambda store: store.retention_leases("orders"))) == 2

    index = follower.replication.Unfollow(pb.UnfollowRequest(follower_index="orders"))

    assert (index.follower, index.doc_count) == (False, 40)
    assert leader.run(lambda store: store.retention_leases("orders")) == []
    assert bulk_status(follower, "orders") == grpc.StatusCode.OK
