"""Basic sync rules applied by the framework during real syncs (SPEC §5.3)."""

from __future__ import annotations

import grpc
import pytest

from ferry.v1 import connectors_pb2 as pb
from ferry.v1 import jobs_pb2
from tests.sync.support import SyncCluster, bad_fields, generator_data, index_documents

INCLUDE, EXCLUDE = pb.RULE_POLICY_INCLUDE, pb.RULE_POLICY_EXCLUDE
RULES = pb.SyncRules(
    basic=[
        pb.BasicRule(field="n", operator=pb.RULE_OPERATOR_EQUALS, value="7", policy=EXCLUDE),
        pb.BasicRule(field="n", operator=pb.RULE_OPERATOR_LESS_THAN, value="300", policy=INCLUDE),
        pb.BasicRule(field="body", operator=pb.RULE_OPERATOR_REGEX, value="^0", policy=INCLUDE),
        pb.BasicRule(field="n", operator=pb.RULE_OPERATOR_GREATER_THAN, value="-1", policy=EXCLUDE),
    ]
)


def expected(**config: object) -> dict[str, dict[str, object]]:
    """expected applies the rules' meaning, written out by hand, to the generator's data."""
    source = generator_data(**config)
    found = {}
    for i in range(int(source.config["docs"])):
        doc = source.document(i)
        if i != 7 and (i < 300 or doc.source["body"].startswith("0")):
            found[doc.id] = doc.source
    return found


def test_rules_filter_full_then_incremental(cluster: SyncCluster) -> None:
    cluster.agent()
    config = {"docs": 3000, "doc_size": 128, "updated_every": 3, "version": 0}
    cluster.create("ruled", "generator", config, rules=RULES)
    cluster.sync_and_wait("ruled")
    before = expected(**config)
    assert index_documents(cluster.store_url, "ruled") == before

    config["version"] = 1
    after = expected(**config)
    dropped = set(before) - set(after)
    # Precondition: some indexed documents change into ones the rules exclude.
    assert any(int(doc_id.split("-")[1]) >= 300 for doc_id in dropped)
    cluster.update_config("ruled", version=1)
    job = cluster.sync_and_wait("ruled", jobs_pb2.JOB_KIND_INCREMENTAL)
    assert index_documents(cluster.store_url, "ruled") == after
    assert job.counters.docs_deleted == len(dropped)


def test_invalid_regex_is_refused_at_create_naming_the_rule(cluster: SyncCluster) -> None:
    rules = pb.SyncRules()
    rules.CopyFrom(RULES)
    rules.basic[2].value = "^(0"
    with pytest.raises(grpc.RpcError) as raised:
        cluster.create("bad", "generator", {}, rules=rules)
    problems = bad_fields(raised.value)
    assert list(problems) == ["spec.rules.basic[2].value"]
    assert problems["spec.rules.basic[2].value"].startswith("invalid regex")
    assert not cluster.connectors.List(pb.ListConnectorsRequest(), timeout=5).connectors
