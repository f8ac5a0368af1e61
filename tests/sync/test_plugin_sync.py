"""The third-party example plugin end to end: a real coordinator lists the ``git``
type it found through the entry point, and a real agent syncs a real repository."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ferry.store import open_store
from ferry.v1 import connectors_pb2, jobs_pb2
from tests.connectors.test_plugin import NOT_INSTALLED, GitRepo
from tests.sync.support import SyncCluster


def index_subjects(store_url: str, index: str, ids: list[str]) -> tuple[int, dict[str, str]]:
    """index_subjects is the index's document count and the subject of each of ids."""

    async def read() -> tuple[int, dict[str, str]]:
        async with open_store(store_url) as store:
            count = await store.count(index)
            docs = await store.multi_get(index, ids)
            return count, {i: d.source["subject"] for i, d in zip(ids, docs, strict=True) if d}

    return asyncio.run(read())


def test_list_types_shows_the_plugin_with_its_schema(cluster: SyncCluster) -> None:
    reply = cluster.connectors.ListTypes(connectors_pb2.ListConnectorTypesRequest(), timeout=5)
    types = {t.name: t for t in reply.types}
    assert "git" in types, NOT_INSTALLED
    git = types["git"]
    assert git.incremental
    assert git.description
    fields = {f.name: f for f in git.fields}
    assert list(fields) == ["repository", "branch", "max_commits", "checkpoint_every"]
    assert fields["repository"].required
    assert fields["repository"].type == connectors_pb2.FIELD_TYPE_STRING
    assert fields["branch"].default.string_value == "HEAD"
    assert fields["max_commits"].type == connectors_pb2.FIELD_TYPE_INTEGER
    assert not fields["max_commits"].required


def test_the_plugin_syncs_a_repository_full_then_incremental(
    cluster: SyncCluster, tmp_path: Path
) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("Add readme", body="Why: a worked example.", files={"README": "hi\n"})
    repo.commit_many(4, "first batch")
    agent = cluster.agent()
    info = next(a for a in cluster.list_agents() if a.id == agent.member_id)
    assert "git" in info.connector_types

    cluster.create("commits", "git", {"repository": str(repo.path), "checkpoint_every": 2})
    full = cluster.sync_and_wait("commits", jobs_pb2.JOB_KIND_FULL)

    shas = repo.rev_list("HEAD")
    assert len(shas) == 5
    assert full.counters.docs_indexed == 5
    count, subjects = index_subjects(cluster.store_url, "commits", shas)
    assert count == 5
    assert subjects == repo.subjects()

    new = repo.commit_many(3, "second batch")
    incremental = cluster.sync_and_wait("commits", jobs_pb2.JOB_KIND_INCREMENTAL)

    assert incremental.counters.docs_indexed == len(new)
    all_shas = repo.rev_list("HEAD")
    count, subjects = index_subjects(cluster.store_url, "commits", all_shas)
    assert count == 8
    assert subjects == repo.subjects()
    assert {subjects[sha] for sha in new} == {f"second batch {i}" for i in range(3)}

    # The offset the next INCREMENTAL starts from is the branch's head.
    offsets = cluster.connectors.GetOffsets(
        connectors_pb2.GetOffsetsRequest(name="commits"), timeout=5
    )
    assert [dict(o.cursor) for o in offsets.offsets] == [{"head": repo.head()}]


def test_the_plugin_runs_isolated_in_its_own_process(cluster: SyncCluster, tmp_path: Path) -> None:
    # The isolated child finds the plugin through the entry point too.
    repo = GitRepo(tmp_path / "repo")
    repo.commit_many(3, "c")
    cluster.agent()
    cluster.create(
        "isolated",
        "git",
        {"repository": str(repo.path)},
        isolation=connectors_pb2.ISOLATION_PROCESS,
    )
    job = cluster.sync_and_wait("isolated")
    assert job.counters.docs_indexed == 3
    count, subjects = index_subjects(cluster.store_url, "isolated", repo.rev_list("HEAD"))
    assert (count, subjects) == (3, repo.subjects())
