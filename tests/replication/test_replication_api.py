"""ferry.v1.Replication on a real coordinator process: remotes, followers, patterns, stats.

The follower cluster is one coordinator (real etcd, SQLite store); the leader
cluster, where one is needed, is a real replicator serving LeaderReplication
from its own SQLite store under its own etcd prefix, its indices created by
the test straight in that store.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import aetcd
import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ferry.etcd import EmbeddedEtcd, Keys, free_port
from ferry.v1 import replication_pb2 as pb
from ferry.v1 import replication_pb2_grpc
from tests.helpers import ServiceProcess

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
