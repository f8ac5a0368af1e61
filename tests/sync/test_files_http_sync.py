"""The filesystem and HTTP sources end to end: real coordinator and agent processes,
the index read back from the store."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from ferry.connectors import Document, TaskPlan
from ferry.connectors.filesystem import FilesystemSource
from ferry.v1 import jobs_pb2
from tests.connectors.http_api import JsonApi, serve_in_thread
from tests.sync.support import SyncCluster, index_documents

TOKEN = "Bearer sync-t0ken-value"


def tree_documents(root: Path, tasks_max: int) -> dict[str, dict[str, Any]]:
    """tree_documents is what a FULL read of the tree yields, every task of the plan."""
    config, problems = FilesystemSource.schema.validate({"path": str(root)})
    assert problems == []
    plans = FilesystemSource.plan_tasks(config, tasks_max)

    async def read(plan: TaskPlan) -> dict[str, dict[str, Any]]:
        stream = FilesystemSource(config).stream(plan, full=True, cursor=None)
        return {item.id: item.source async for item in stream if isinstance(item, Document)}

    found: dict[str, dict[str, Any]] = {}
    for plan in plans:
        found.update(asyncio.run(read(plan)))
    return found


def test_filesystem_full_then_incremental_follows_the_tree(
    cluster: SyncCluster, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "a.txt").write_text("alpha")
    (root / "sub").mkdir()
    (root / "sub/b.txt").write_text("beta")
    (root / "sub/c.md").write_text("gamma")
    (root / "rows.jsonl").write_text('{"n": 1}\n{"n": 2}\n{"n": 3}\n')
    (root / "table.csv").write_text("name,qty\npear,3\nfig,5\n")
    cluster.agent()
    cluster.create("files", "filesystem", {"path": str(root)}, tasks_max=2)

    cluster.sync_and_wait("files")
    index = index_documents(cluster.store_url, "files")
    assert set(index) == {"a.txt", "sub/b.txt", "sub/c.md", "rows.jsonl:1", "rows.jsonl:2",
                          "rows.jsonl:3", "table.csv:2", "table.csv:3"}  # fmt: skip
    assert index == tree_documents(root, 2)

    (root / "a.txt").write_text("alpha, longer now")
    (root / "sub/b.txt").unlink()
    (root / "new.txt").write_text("new")
    (root / "rows.jsonl").write_text('{"n": 1}\n{"n": 20}\n')
    os.utime(root / "table.csv", ns=(1, 1))  # touched only: the hash says unchanged
    job = cluster.sync_and_wait("files", jobs_pb2.JOB_KIND_INCREMENTAL)

    index = index_documents(cluster.store_url, "files")
    assert index == tree_documents(root, 2)
    assert "sub/b.txt" not in index and "rows.jsonl:3" not in index
    assert index["a.txt"]["content"] == "alpha, longer now"
    # a.txt, new.txt, two rows written; b.txt and a row deleted; nothing else read.
    assert (job.counters.docs_indexed, job.counters.docs_deleted) == (4, 2)


def test_http_pages_arrive_completely_through_429_and_500(
    cluster: SyncCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FERRY_HTTP_SYNC_TOKEN", TOKEN.removeprefix("Bearer "))
    records = [{"id": n, "title": f"record {n}"} for n in range(1, 14)]  # pages of 5, 5, 3
    api = JsonApi(records, token=TOKEN)
    api.fail("2", 429, {"Retry-After": "1"})
    api.fail("3", 500)
    cluster.agent()  # its environment holds the token

    with serve_in_thread(api) as base:
        config = {
            "url": f"{base}/pages",
            "id_field": "id",
            "pagination": "page",
            "page_size_param": "size",
            "page_size": 5,
            "auth_value": "Bearer ${env:FERRY_HTTP_SYNC_TOKEN}",
            "initial_backoff_seconds": 0.05,
        }
        cluster.create("api", "http", config)
        job = cluster.sync_and_wait("api")

    index = index_documents(cluster.store_url, "api")
    assert index == {str(r["id"]): r for r in records}
    assert job.counters.docs_indexed == 13
    # Each failed page was asked for twice, and the short third page was the last.
    assert [len(api.seen(page)) for page in ("2", "3", "4")] == [2, 2, 0]
    assert {r.authorization for r in api.requests} == {TOKEN}
    limited, retried = api.seen("2")
    assert retried.at - limited.at >= 1.0
