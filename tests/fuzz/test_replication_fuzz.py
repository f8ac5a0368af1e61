"""ferry.v1.Replication with nearly-valid requests against a real remote cluster.

The remote cluster is the fuzzing replicator itself (it serves LeaderReplication
from the shared store), so Follow reaches the leader, creates real follower
indices and the replicator really follows them. Beyond "deliberate answers
only": Follow accepts exactly the requests whose names and parameters are
valid, with the leader's shape and the defaults filled in, and Unfollow then
leaves an ordinary index; Resume merges exactly the parameters it is given;
no response ever carries a remote's token; patterns read back as stored.
"""

from __future__ import annotations

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferry.errors import MAX_STATUS_FIELD_BYTES, clip
from ferry.etcd import free_port
from ferry.names import dns1123_label_error, index_name_error
from ferry.replication import params
from ferry.secrets import REFERENCE
from ferry.v1 import indices_pb2
from ferry.v1 import replication_pb2 as pb
from tests.fuzz.conftest import Services, fuzz_settings
from tests.fuzz.messages import dns_labels, nearly_valid
from tests.fuzz.outcome import Client

M = pb.DESCRIPTOR.services_by_name["Replication"].methods_by_name
INDICES = indices_pb2.DESCRIPTOR.services_by_name["Indices"].methods_by_name
REMOTE = "fz-self"
LEADER_INDEX = "fz-repl-src"
SHARDS = 2
RESUME_TARGET = "fz-resume-target"
PARAMS = pb.FollowParameters(max_read_request_operation_count=64, max_outstanding_read_requests=2)

EXAMPLES = 40


@pytest.fixture(scope="module")
def api(services: Services) -> Client:
    """api is the coordinator, knowing the replicator as remote REMOTE, whose store has
    LEADER_INDEX; RESUME_TARGET follows it, paused."""
    client = services.coordinator_client
    created = client.call(
        INDICES["Create"], indices_pb2.CreateIndexRequest(name=LEADER_INDEX, shard_count=SHARDS)
    )
    assert created.ok, created
    remote = pb.RemoteCluster(name=REMOTE, addresses=[services.replicator.server.address])
    assert client.call(M["PutRemoteCluster"], pb.PutRemoteClusterRequest(remote_cluster=remote)).ok
    follow = pb.FollowRequest(
        follower_index=RESUME_TARGET, remote_cluster=REMOTE, leader_index=LEADER_INDEX
    )
    assert client.call(M["Follow"], follow).ok
    assert client.call(M["Pause"], pb.PauseFollowerRequest(follower_index=RESUME_TARGET)).ok
    in_use = client.call(M["DeleteRemoteCluster"], pb.DeleteRemoteClusterRequest(name=REMOTE))
    assert in_use.code == grpc.StatusCode.FAILED_PRECONDITION, in_use
    # A remote nobody answers for: Follow says so, naming it (the one deliberate UNAVAILABLE).
    away = pb.RemoteCluster(name="fz-away", addresses=[f"127.0.0.1:{free_port()}"])
    assert client.call(M["PutRemoteCluster"], pb.PutRemoteClusterRequest(remote_cluster=away)).ok
    follow = pb.FollowRequest(follower_index="fz-x", remote_cluster="fz-away", leader_index="x")
    assert client.call(M["Follow"], follow).code == grpc.StatusCode.UNAVAILABLE
    assert client.call(M["DeleteRemoteCluster"], pb.DeleteRemoteClusterRequest(name="fz-away")).ok
    return client


def _shown(fields: list[str]) -> set[str]:
    return {clip(f, MAX_STATUS_FIELD_BYTES) for f in fields}


def _follow_problems(request: pb.FollowRequest) -> list[str]:
    problems = [
        field
        for field, error in (
            ("follower_index", index_name_error(request.follower_index)),
            ("remote_cluster", dns1123_label_error(request.remote_cluster)),
            ("leader_index", index_name_error(request.leader_index)),
        )
        if error is not None
    ]
    return problems + [v.field for v in params.violations(request.parameters)]


def _follower(api: Client, name: str) -> pb.Follower:
    listed = api.call(M["ListFollowers"], pb.ListFollowersRequest(remote_cluster=REMOTE))
    [found] = [f for f in listed.response.followers if f.follower_index == name]
    return found


follows = nearly_valid(
    dns_labels.map(
        lambda n: pb.FollowRequest(
            follower_index=f"fz-f-{n}",  # Unfollow and Indices.Delete free the name again
            remote_cluster=REMOTE,
            leader_index=LEADER_INDEX,
            parameters=PARAMS,
        )
    )
)


@fuzz_settings(EXAMPLES)
@given(request=follows)
def test_follow_accepts_exactly_valid_requests_and_unfollow_ends_them(
    api: Client, request: pb.FollowRequest
) -> None:
    followed = api.call(M["Follow"], request)
    problems = _follow_problems(request)
    if followed.code == grpc.StatusCode.INVALID_ARGUMENT:
        assert problems and set(followed.fields()) <= _shown(problems), followed
        return
    assert not problems, followed
    if not followed.ok:
        # Another remote or leader index, or a name already taken.
        assert followed.code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS)
        return
    follower = followed.response
    assert follower.status == pb.FOLLOWER_STATUS_ACTIVE
    assert follower.parameters == params.effective(request.parameters).to_proto()
    assert _follower(api, request.follower_index) == follower
    name, leader_index = request.follower_index, request.leader_index
    leader = api.call(INDICES["Get"], indices_pb2.GetIndexRequest(name=leader_index)).response
    index = api.call(INDICES["Get"], indices_pb2.GetIndexRequest(name=name)).response
    assert (index.follower, index.leader.index) == (True, leader_index)
    assert (index.shard_count, index.schema) == (leader.shard_count, leader.schema)

    unfollowed = api.call(M["Unfollow"], pb.UnfollowRequest(follower_index=name))

    assert unfollowed.ok and not unfollowed.response.follower, unfollowed
    assert api.call(INDICES["Delete"], indices_pb2.DeleteIndexRequest(name=name)).ok


resumes = nearly_valid(
    st.just(
        pb.ResumeFollowerRequest(
            follower_index=RESUME_TARGET,
            parameters=pb.FollowParameters(max_write_buffer_count=1000),
        )
    )
)


@fuzz_settings(EXAMPLES)
@given(request=resumes)
def test_resume_merges_exactly_the_parameters_it_accepts(
    api: Client, request: pb.ResumeFollowerRequest
) -> None:
    assert api.call(M["Pause"], pb.PauseFollowerRequest(follower_index=RESUME_TARGET)).ok
    before = _follower(api, RESUME_TARGET).parameters

    resumed = api.call(M["Resume"], request)

    if not resumed.ok:
        return
    assert request.follower_index == RESUME_TARGET
    want = params.merged(before, request.parameters).to_proto()
    assert resumed.response.parameters == want
    assert resumed.response.status == pb.FOLLOWER_STATUS_ACTIVE
    assert _follower(api, RESUME_TARGET) == resumed.response
    stats = api.call(M["Stats"], pb.FollowStatsRequest(follower_indices=[RESUME_TARGET]))
    [shards] = [f.shards for f in stats.response.followers]
    assert [(s.shard, s.follower_index, s.leader_index) for s in shards] == [
        (i, RESUME_TARGET, LEADER_INDEX) for i in range(SHARDS)
    ]


remotes = nearly_valid(
    dns_labels.map(
        lambda n: pb.PutRemoteClusterRequest(
            remote_cluster=pb.RemoteCluster(
                name=f"fz-r-{n}"[:63].rstrip("-"),
                addresses=["127.0.0.1:1", "[::1]:2", "leader.example:7100"],
                token="${env:FZ_REMOTE_TOKEN}",
            )
        )
    )
)


@fuzz_settings(EXAMPLES)
@given(request=remotes)
def test_remote_clusters_never_show_their_token(
    api: Client, request: pb.PutRemoteClusterRequest
) -> None:
    put = api.call(M["PutRemoteCluster"], request)
    if not put.ok:
        return
    sent = request.remote_cluster
    assert not sent.token or REFERENCE.fullmatch(sent.token), sent.token
    stored = put.response
    assert (stored.name, list(stored.addresses), stored.tls, stored.token) == (
        sent.name, list(sent.addresses), sent.tls, "",
    )  # fmt: skip
    assert stored.name != REMOTE, "a mutation reached the fixture's remote: pick another name"
    assert api.call(M["DeleteRemoteCluster"], pb.DeleteRemoteClusterRequest(name=sent.name)).ok


patterns = nearly_valid(
    dns_labels.map(
        lambda n: pb.PutAutoFollowPatternRequest(
            pattern=pb.AutoFollowPattern(
                name=f"fz-p-{n}"[:63].rstrip("-"),
                remote_cluster=REMOTE,
                # Matches nothing, and paused: one mutated field cannot undo both.
                leader_index_patterns=["fz-none-*"],
                leader_index_exclusion_patterns=["fz-none-tmp-*"],
                follower_index_template="{{leader_index}}-copy",
                parameters=PARAMS,
                paused=True,
            )
        )
    )
)


@fuzz_settings(EXAMPLES)
@given(request=patterns)
def test_auto_follow_patterns_read_back_as_stored(
    api: Client, request: pb.PutAutoFollowPatternRequest
) -> None:
    put = api.call(M["PutAutoFollowPattern"], request)
    if not put.ok:
        return
    stored = put.response
    assert stored.create_time.seconds > 0
    got, sent = pb.AutoFollowPattern(), pb.AutoFollowPattern()
    got.CopyFrom(stored)
    sent.CopyFrom(request.pattern)
    for pattern in (got, sent):
        pattern.ClearField("create_time")  # set by the server, whatever was sent
    assert got == sent
    listed = api.call(M["ListAutoFollowPatterns"], pb.ListAutoFollowPatternsRequest())
    assert stored in listed.response.patterns
    deleted = api.call(
        M["DeleteAutoFollowPattern"], pb.DeleteAutoFollowPatternRequest(name=stored.name)
    )
    assert deleted.ok
