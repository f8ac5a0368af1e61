"""ferry.v1.LeaderReplication with nearly-valid requests against a real leader index.

Beyond "deliberate answers only": a lease never moves backwards, a
Bootstrap that succeeds is whole (one last chunk, as many documents as it
announced), ReadOperations sends consecutive operations within the credit
granted, and listings match their glob.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

import pytest
from google.protobuf import struct_pb2
from hypothesis import given
from hypothesis import strategies as st

from ferry.v1 import indices_pb2
from ferry.v1 import leader_replication_pb2 as pb
from tests.fuzz.conftest import Services, fuzz_settings
from tests.fuzz.messages import nearly_valid
from tests.fuzz.outcome import Client

LEADER = pb.DESCRIPTOR.services_by_name["LeaderReplication"]
M = LEADER.methods_by_name
INDICES = indices_pb2.DESCRIPTOR.services_by_name["Indices"].methods_by_name
INDEX = "fz-leader"
SHARDS = 2
DOCS = 40

EXAMPLES = 60


@pytest.fixture(scope="module")
def leader(services: Services) -> Client:
    """leader is a client of the replicator, whose store holds INDEX with history: DOCS
    documents written twice, some deleted."""
    coordinator = services.coordinator_client
    assert coordinator.call(
        INDICES["Create"], indices_pb2.CreateIndexRequest(name=INDEX, shard_count=SHARDS)
    ).ok
    for version in range(2):
        source = struct_pb2.Struct()
        source.update({"v": version})
        ops = [
            indices_pb2.BulkOperation(
                type=indices_pb2.BULK_OPERATION_TYPE_INDEX, id=f"d{i}", source=source
            )
            for i in range(DOCS)
        ]
        bulk = indices_pb2.BulkRequest(index=INDEX, operations=ops)
        assert coordinator.call(INDICES["Bulk"], bulk).ok
    deletes = [
        indices_pb2.BulkOperation(type=indices_pb2.BULK_OPERATION_TYPE_DELETE, id=f"d{i}")
        for i in range(0, DOCS, 7)
    ]
    bulk = indices_pb2.BulkRequest(index=INDEX, operations=deletes)
    assert coordinator.call(INDICES["Bulk"], bulk).ok
    return services.replicator_client


shards = st.integers(0, SHARDS - 1)
puts = st.builds(
    pb.PutRetentionLeaseRequest,
    leader_index=st.just(INDEX),
    shard=shards,
    lease_id=st.sampled_from(["fz-put-a", "fz-put-b"]),
    retaining_seq_no=st.integers(0, 60),
    source=st.sampled_from(["", "follower/copy"]),
)
removes = st.builds(
    pb.RemoveRetentionLeaseRequest,
    leader_index=st.just(INDEX),
    shard=shards,
    lease_id=st.sampled_from(["fz-remove", "never-there"]),
)
bootstraps = st.builds(
    pb.BootstrapRequest,
    leader_index=st.just(INDEX),
    shard=shards,
    follower_index=st.just("copy"),
    retention_lease_id=st.just("fz-boot"),
    max_chunk_bytes=st.integers(0, 2000),
)
starts = st.builds(
    lambda shard, from_seq_no, version, size: pb.ReadOperationsRequest(
        start=pb.ReadStart(
            leader_index=INDEX,
            shard=shard,
            follower_index="copy",
            from_seq_no=from_seq_no,
            retention_lease_id="fz-read",
            schema_version=version,
            max_message_bytes=size,
        )
    ),
    shards,
    st.integers(0, 60),
    st.integers(0, 2),
    st.integers(0, 500),
)
credits = st.builds(
    lambda ops, size, checkpoint: pb.ReadOperationsRequest(
        credit=pb.ReadCredit(operations=ops, bytes=size, follower_global_checkpoint=checkpoint)
    ),
    st.integers(0, 30),
    st.integers(0, 5000),
    st.integers(-1, 60),
)


@pytest.fixture(scope="module")
def held() -> dict[tuple[int, str], int]:
    """held is the highest retaining_seq_no each lease was seen at, across examples."""
    return {}


@fuzz_settings(EXAMPLES)
@given(request=nearly_valid(puts))
def test_leases_never_move_backwards(
    leader: Client, held: dict[tuple[int, str], int], request: pb.PutRetentionLeaseRequest
) -> None:
    outcome = leader.call(M["PutRetentionLease"], request)
    if not outcome.ok:
        return
    lease = outcome.response
    key = (request.shard, request.lease_id)
    assert lease.id == request.lease_id
    assert lease.retaining_seq_no >= max(request.retaining_seq_no, held.get(key, 0)), lease
    held[key] = lease.retaining_seq_no


@fuzz_settings(EXAMPLES)
@given(request=nearly_valid(removes))
def test_removing_leases(leader: Client, request: pb.RemoveRetentionLeaseRequest) -> None:
    leader.call(M["RemoveRetentionLease"], request)


@fuzz_settings(EXAMPLES)
@given(request=nearly_valid(bootstraps))
def test_a_bootstrap_that_succeeds_is_whole(leader: Client, request: pb.BootstrapRequest) -> None:
    outcome = leader.call(M["Bootstrap"], request)
    if not outcome.ok:
        return
    chunks = outcome.responses
    assert chunks, "a bootstrap sends at least one chunk"
    assert [c.last for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert len({c.snapshot_seq_no for c in chunks}) == 1
    documents = [d for c in chunks for d in c.documents]
    assert len(documents) == chunks[0].total_documents
    assert len({d.doc_id for d in documents}) == len(documents)
    assert all(d.seq_no <= chunks[0].snapshot_seq_no for d in documents)


@fuzz_settings(EXAMPLES)
@given(
    start=nearly_valid(starts),
    grants=st.lists(nearly_valid(credits), max_size=3),
)
def test_read_operations_stay_within_the_credit(
    leader: Client, start: pb.ReadOperationsRequest, grants: list[pb.ReadOperationsRequest]
) -> None:
    outcome = leader.call(M["ReadOperations"], start, *grants)
    if not outcome.ok or start.WhichOneof("message") != "start":
        return
    messages = outcome.responses
    seq_nos = [op.seq_no for m in messages for op in m.operations]
    granted = sum(g.credit.operations for g in grants if g.WhichOneof("message") == "credit")
    assert len(seq_nos) <= granted
    if seq_nos:
        first = seq_nos[0]
        assert first == start.start.from_seq_no
        assert seq_nos == list(range(first, first + len(seq_nos)))
        assert seq_nos[-1] <= messages[-1].leader_global_checkpoint
    assert not any(m.history_trimmed for m in messages[:-1])


@fuzz_settings(EXAMPLES)
@given(
    request=nearly_valid(
        st.sampled_from(["", "*", "fz-*", "fz-l?ader", "nothing"]).map(
            lambda p: pb.ListLeaderIndicesRequest(pattern=p)
        )
    )
)
def test_listings_match_their_glob(leader: Client, request: pb.ListLeaderIndicesRequest) -> None:
    outcome = leader.call(M["ListIndices"], request)
    if not outcome.ok:
        return
    names = [i.name for i in outcome.response.indices]
    assert all(fnmatchcase(name, request.pattern or "*") for name in names)
    if fnmatchcase(INDEX, request.pattern or "*"):
        assert INDEX in names


@fuzz_settings(EXAMPLES)
@given(request=nearly_valid(st.just(pb.GetLeaderIndexRequest(name=INDEX))))
def test_get_index(leader: Client, request: pb.GetLeaderIndexRequest) -> None:
    outcome = leader.call(M["GetIndex"], request)
    if outcome.ok:
        index = outcome.response
        assert (index.name, index.shard_count) == (INDEX, SHARDS)
        assert index.doc_count == DOCS - len(range(0, DOCS, 7))
