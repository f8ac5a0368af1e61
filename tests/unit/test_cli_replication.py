"""``ferry remote``, ``follow``, ``followers`` and ``auto-follow`` against a fake Replication.

The fake records requests and answers from canned data: these tests cover
argument parsing (``--param`` above all), rendering and error reporting. The
real servicer is exercised by tests/replication/test_replication_api.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2

from ferry.errors import FailedPrecondition, NotFound
from ferry.v1 import indices_pb2, replication_pb2_grpc
from ferry.v1 import replication_pb2 as pb
from tests.unit.fake_servers import abort, rows, run_cli, serving

Ctx = grpc.ServicerContext
MIB = 1024 * 1024


def _ts(text: str) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromJsonString(text)
    return ts


def _follower(name: str, status: pb.FollowerStatus = pb.FOLLOWER_STATUS_ACTIVE) -> pb.Follower:
    return pb.Follower(
        follower_index=name,
        remote_cluster="dc1",
        leader_index=f"{name}-src",
        status=status,
        create_time=_ts("2026-11-21T11:00:00Z"),
    )


@dataclass
class FakeReplication(replication_pb2_grpc.ReplicationServicer):
    """FakeReplication echoes what it is sent; "ghost" is unknown and "dc1" is in use."""

    calls: list[tuple[str, Any]] = field(default_factory=list)

    def _seen(self, method: str, request: Any) -> None:
        self.calls.append((method, request))

    def PutRemoteCluster(self, request: pb.PutRemoteClusterRequest, context: Ctx) -> Any:
        self._seen("PutRemoteCluster", request)
        shown = pb.RemoteCluster()
        shown.CopyFrom(request.remote_cluster)
        shown.ClearField("token")
        return shown

    def ListRemoteClusters(self, request: pb.ListRemoteClustersRequest, context: Ctx) -> Any:
        return pb.ListRemoteClustersResponse(
            remote_clusters=[
                pb.RemoteCluster(name="dc1", addresses=["10.0.0.1:7100", "10.0.0.2:7100"],
                                 tls=True, connected=True),
                pb.RemoteCluster(name="dc2", addresses=["10.1.0.1:7100"],
                                 error="remote cluster 'dc2' is unreachable"),
            ]
        )  # fmt: skip

    def DeleteRemoteCluster(self, request: pb.DeleteRemoteClusterRequest, context: Ctx) -> Any:
        self._seen("DeleteRemoteCluster", request)
        if request.name == "dc1":
            abort(context, FailedPrecondition("remote cluster 'dc1' is used by follower 'a'"))
        return pb.DeleteRemoteClusterResponse()

    def Follow(self, request: pb.FollowRequest, context: Ctx) -> Any:
        self._seen("Follow", request)
        follower = _follower(request.follower_index)
        follower.leader_index = request.leader_index
        follower.parameters.CopyFrom(request.parameters)
        return follower

    def ListFollowers(self, request: pb.ListFollowersRequest, context: Ctx) -> Any:
        self._seen("ListFollowers", request)
        return pb.ListFollowersResponse(
            followers=[_follower("orders"), _follower("users", pb.FOLLOWER_STATUS_PAUSED)]
        )

    def Pause(self, request: pb.PauseFollowerRequest, context: Ctx) -> Any:
        if request.follower_index == "ghost":
            abort(context, NotFound("follower index", "ghost"))
        return _follower(request.follower_index, pb.FOLLOWER_STATUS_PAUSED)

    def Resume(self, request: pb.ResumeFollowerRequest, context: Ctx) -> Any:
        self._seen("Resume", request)
        return _follower(request.follower_index)

    def Unfollow(self, request: pb.UnfollowRequest, context: Ctx) -> Any:
        return indices_pb2.Index(name=request.follower_index, shard_count=2, doc_count=42)

    def Stats(self, request: pb.FollowStatsRequest, context: Ctx) -> Any:
        self._seen("Stats", request)
        shards = [
            pb.ShardFollowStats(
                shard=0, state=pb.SHARD_FOLLOW_STATE_FOLLOWING, leader_global_checkpoint=120,
                follower_global_checkpoint=100, lag_operations=20, lag_millis=350,
                write_buffer_operation_count=20, write_buffer_size_in_bytes=4096, bootstraps=1,
                replicator_id="rep-a",
            ),
            pb.ShardFollowStats(
                shard=1, state=pb.SHARD_FOLLOW_STATE_PAUSED, leader_global_checkpoint=-1,
                follower_global_checkpoint=7, bootstraps=2,
                fatal_exception="leader index gone:\nNOT_FOUND",
            ),
        ]  # fmt: skip
        return pb.FollowStatsResponse(
            followers=[
                pb.FollowerStats(
                    follower_index="orders",
                    remote_cluster="dc1",
                    leader_index="orders-src",
                    status=pb.FOLLOWER_STATUS_PAUSED,
                    shards=shards,
                )
            ],
            auto_follow=pb.AutoFollowStats(
                number_of_successful_follow_indices=3,
                number_of_failed_follow_indices=1,
                recent_auto_follow_errors=[
                    pb.AutoFollowError(
                        auto_follow_pattern="logs",
                        leader_index="logs-x",
                        error="ALREADY_EXISTS",
                        time=_ts("2026-11-21T12:00:00Z"),
                    )
                ],
            ),
        )

    def PutAutoFollowPattern(self, request: pb.PutAutoFollowPatternRequest, context: Ctx) -> Any:
        self._seen("PutAutoFollowPattern", request)
        return request.pattern

    def ListAutoFollowPatterns(
        self, request: pb.ListAutoFollowPatternsRequest, context: Ctx
    ) -> Any:
        return pb.ListAutoFollowPatternsResponse(
            patterns=[
                pb.AutoFollowPattern(
                    name="logs", remote_cluster="dc1", leader_index_patterns=["logs-*", "app-*"],
                    leader_index_exclusion_patterns=["logs-tmp-*"], paused=True,
                ),
                pb.AutoFollowPattern(
                    name="all", remote_cluster="dc2", leader_index_patterns=["*"],
                    follower_index_template="{{leader_index}}-copy", follow_existing=True,
                ),
            ]
        )  # fmt: skip

    def DeleteAutoFollowPattern(
        self, request: pb.DeleteAutoFollowPatternRequest, context: Ctx
    ) -> Any:
        self._seen("DeleteAutoFollowPattern", request)
        return pb.DeleteAutoFollowPatternResponse()


@dataclass
class Fake:
    address: str
    servicer: FakeReplication

    def requests(self, method: str) -> list[Any]:
        return [r for m, r in self.servicer.calls if m == method]


@pytest.fixture
def fake() -> Iterator[Fake]:
    servicer = FakeReplication()
    with serving((replication_pb2_grpc.add_ReplicationServicer_to_server, servicer)) as address:
        yield Fake(address, servicer)


def run(capsys: pytest.CaptureFixture[str], fake: Fake, *argv: str) -> tuple[int, str, str]:
    return run_cli(capsys, *argv, "--coordinator", fake.address)


# remote


def test_remote_add_sends_addresses_tls_and_the_token_reference(
    capsys: pytest.CaptureFixture[str], fake: Fake
) -> None:
    code, out, err = run(
        capsys, fake, "remote", "add", "dc1", "10.0.0.1:7100", "10.0.0.2:7100",
        "--tls", "--token", "${env:DC1_TOKEN}",
    )  # fmt: skip

    assert (code, err) == (0, "")
    (request,) = fake.requests("PutRemoteCluster")
    sent = request.remote_cluster
    assert (sent.name, list(sent.addresses), sent.tls, sent.token) == (
        "dc1", ["10.0.0.1:7100", "10.0.0.2:7100"], True, "${env:DC1_TOKEN}",
    )  # fmt: skip
    assert out == "remote dc1: 10.0.0.1:7100, 10.0.0.2:7100\n"


def test_remote_list_shows_whether_each_is_connected(
    capsys: pytest.CaptureFixture[str], fake: Fake
) -> None:
    code, out, _ = run(capsys, fake, "remote", "list")

    assert code == 0
    assert rows(out) == [
        ["NAME", "ADDRESSES", "TLS", "CONNECTED", "ERROR"],
        ["dc1", "10.0.0.1:7100,10.0.0.2:7100", "yes", "yes", "-"],
        ["dc2", "10.1.0.1:7100", "no", "no", "remote", "cluster", "'dc2'", "is", "unreachable"],
    ]
    code, out, _ = run(capsys, fake, "remote", "list", "-o", "json")
    assert [r["name"] for r in json.loads(out)] == ["dc1", "dc2"]


def test_remote_remove_in_use_reports_the_precondition(
    capsys: pytest.CaptureFixture[str], fake: Fake
) -> None:
    code, out, err = run(capsys, fake, "remote", "remove", "dc1")

    assert (code, out) == (1, "")
    assert err.strip() == (
        "error: FAILED_PRECONDITION: remote cluster 'dc1' is used by follower 'a'"
    )
    code, out, _ = run(capsys, fake, "remote", "remove", "dc2")
    assert (code, out) == (0, "remote dc2 removed\n")


# follow and --param


def test_follow_sends_every_kind_of_parameter(
    capsys: pytest.CaptureFixture[str], fake: Fake
) -> None:
    code, out, err = run(
        capsys, fake, "follow", "orders", "--remote", "dc1", "--leader", "orders-src",
        "--param", "max_read_request_operation_count=1024",
        "--param", "max_write_buffer_size=64MiB",
        "--param", "read_poll_timeout=5s",
        "--param", "max_retry_delay=250ms",
    )  # fmt: skip

    assert (code, err) == (0, "")
    (request,) = fake.requests("Follow")
    assert (request.follower_index, request.remote_cluster, request.leader_index) == (
        "orders", "dc1", "orders-src",
    )  # fmt: skip
    params = request.parameters
    assert params.max_read_request_operation_count == 1024
    assert params.max_write_buffer_size == 64 * MIB
    assert params.read_poll_timeout.ToMilliseconds() == 5000
    assert params.max_retry_delay.ToMilliseconds() == 250
    assert params.max_read_request_size == 0
    assert out == "orders follows dc1/orders-src (active)\n"


def test_follow_json_is_the_follower(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, _ = run(
        capsys, fake, "follow", "orders", "--remote", "dc1", "--leader", "src", "-o", "json",
        "--param", "read_poll_timeout=1m",
    )  # fmt: skip

    assert code == 0
    follower = json.loads(out)
    assert follower["status"] == "FOLLOWER_STATUS_ACTIVE"
    assert follower["parameters"] == {"read_poll_timeout": "60s"}


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("max_reads=3", "'max_reads' is not a follow parameter"),
        ("read_poll_timeout", "'read_poll_timeout' is not a follow parameter"),
        ("read_poll_timeout=5", "read_poll_timeout: '5' is not a duration"),
        ("max_retry_delay=soon", "max_retry_delay: 'soon' is not a duration"),
        ("max_outstanding_read_requests=many", "max_outstanding_read_requests: 'many' is not"),
        ("max_write_buffer_count=5MiB", "max_write_buffer_count: '5MiB' is not an integer"),
        ("max_read_request_size=-1", "max_read_request_size: '-1' is not an integer"),
    ],
)
def test_bad_params_are_usage_errors_naming_the_key(
    capsys: pytest.CaptureFixture[str], fake: Fake, param: str, message: str
) -> None:
    code, out, err = run(
        capsys, fake, "follow", "x", "--remote", "dc1", "--leader", "y", "--param", param
    )

    assert (code, out) == (2, "")
    assert message in err
    assert fake.servicer.calls == []


# followers


def test_followers_list_filters_by_remote(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, _ = run(capsys, fake, "followers", "list", "--remote", "dc1")

    assert code == 0
    assert [r.remote_cluster for r in fake.requests("ListFollowers")] == ["dc1"]
    assert rows(out) == [
        ["INDEX", "REMOTE", "LEADER", "STATUS", "PATTERN", "CREATED"],
        ["orders", "dc1", "orders-src", "active", "-", "2026-11-21T11:00:00Z"],
        ["users", "dc1", "users-src", "paused", "-", "2026-11-21T11:00:00Z"],
    ]
    code, out, _ = run(capsys, fake, "followers", "list", "-o", "json")
    assert code == 0
    assert [(f["follower_index"], f["status"]) for f in json.loads(out)] == [
        ("orders", "FOLLOWER_STATUS_ACTIVE"),
        ("users", "FOLLOWER_STATUS_PAUSED"),
    ]


def test_followers_stats_is_a_table_per_follower_and_the_auto_follow_counters(
    capsys: pytest.CaptureFixture[str], fake: Fake
) -> None:
    code, out, _ = run(capsys, fake, "followers", "stats", "orders")

    assert code == 0
    assert [list(r.follower_indices) for r in fake.requests("Stats")] == [["orders"]]
    follower, auto_follow = out.strip().split("\n\n")
    heading, *table = follower.splitlines()
    assert heading == "orders: follows dc1/orders-src (paused)"
    assert rows("\n".join(table)) == [
        ["SHARD", "STATE", "LEADER_GCP", "FOLLOWER_GCP", "LAG_OPS", "LAG_MS",
         "BUFFER_OPS/BYTES", "BOOTSTRAPS", "REPLICATOR", "FATAL_EXCEPTION"],
        ["0", "following", "120", "100", "20", "350", "20/4096", "1", "rep-a", "-"],
        ["1", "paused", "-1", "7", "0", "0", "0/0", "2", "-", "leader", "index", "gone:",
         "NOT_FOUND"],
    ]  # fmt: skip
    summary, *errors = auto_follow.splitlines()
    assert summary == "auto-follow: 3 followed, 1 failed, 0 failed remote listings"
    assert rows("\n".join(errors))[1] == [
        "2026-11-21T12:00:00Z", "logs", "logs-x", "ALREADY_EXISTS",
    ]  # fmt: skip


def test_followers_stats_json_is_the_response(
    capsys: pytest.CaptureFixture[str], fake: Fake
) -> None:
    code, out, _ = run(capsys, fake, "followers", "stats", "-o", "json")

    assert code == 0
    assert [list(r.follower_indices) for r in fake.requests("Stats")] == [[]]
    stats = json.loads(out)
    assert stats["followers"][0]["shards"][0]["lag_millis"] == "350"
    assert stats["auto_follow"]["number_of_successful_follow_indices"] == "3"


def test_pause_resume_and_unfollow(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    assert run(capsys, fake, "followers", "pause", "orders")[:2] == (
        0, "orders follows dc1/orders-src (paused)\n",
    )  # fmt: skip
    code, out, err = run(capsys, fake, "followers", "pause", "ghost")
    assert (code, out, err.strip()) == (
        1, "", "error: NOT_FOUND: follower index 'ghost' not found",
    )  # fmt: skip

    code, out, _ = run(
        capsys, fake, "followers", "resume", "orders", "--param", "max_outstanding_read_requests=4"
    )
    assert (code, out) == (0, "orders follows dc1/orders-src (active)\n")
    (request,) = fake.requests("Resume")
    assert request.parameters == pb.FollowParameters(max_outstanding_read_requests=4)

    code, out, _ = run(capsys, fake, "followers", "unfollow", "orders")
    assert (code, out) == (0, "orders unfollowed: an ordinary index with 42 docs\n")


# auto-follow


def test_auto_follow_put_sends_the_whole_pattern(
    capsys: pytest.CaptureFixture[str], fake: Fake
) -> None:
    code, out, _ = run(
        capsys, fake, "auto-follow", "put", "logs", "--remote", "dc1",
        "--pattern", "logs-*", "--pattern", "app-*", "--exclude", "logs-tmp-*",
        "--template", "{{leader_index}}-copy", "--follow-existing",
        "--param", "max_write_buffer_count=100",
    )  # fmt: skip

    assert (code, out) == (0, "auto-follow pattern logs stored\n")
    (request,) = fake.requests("PutAutoFollowPattern")
    assert request.pattern == pb.AutoFollowPattern(
        name="logs",
        remote_cluster="dc1",
        leader_index_patterns=["logs-*", "app-*"],
        leader_index_exclusion_patterns=["logs-tmp-*"],
        follower_index_template="{{leader_index}}-copy",
        parameters=pb.FollowParameters(max_write_buffer_count=100),
        follow_existing=True,
    )


def test_auto_follow_list_and_delete(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, _ = run(capsys, fake, "auto-follow", "list")

    assert code == 0
    assert rows(out) == [
        ["NAME", "REMOTE", "PATTERNS", "EXCLUDE", "TEMPLATE", "STATUS", "EXISTING"],
        ["logs", "dc1", "logs-*,app-*", "logs-tmp-*", "{{leader_index}}", "paused", "no"],
        ["all", "dc2", "*", "-", "{{leader_index}}-copy", "active", "yes"],
    ]
    code, out, _ = run(capsys, fake, "auto-follow", "list", "-o", "json")
    assert code == 0
    assert [p["name"] for p in json.loads(out)] == ["logs", "all"]
    code, out, _ = run(capsys, fake, "auto-follow", "delete", "logs")
    assert (code, out) == (0, "auto-follow pattern logs deleted\n")
    assert [r.name for r in fake.requests("DeleteAutoFollowPattern")] == ["logs"]


def test_auto_follow_put_needs_a_pattern(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, err = run(capsys, fake, "auto-follow", "put", "logs", "--remote", "dc1")

    assert (code, out) == (2, "")
    assert "--pattern" in err
    assert fake.servicer.calls == []
