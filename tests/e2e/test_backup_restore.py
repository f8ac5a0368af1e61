"""Disaster recovery end to end: back up during a sync, lose etcd and the store, restore.

Real processes throughout: two etcd servers (the lost one and a fresh one), a
coordinator and an agent before and after, and the ``ferry backup`` and
``ferry restore`` commands as the operator runs them.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ferry import etcd as ferry_etcd
from ferry.etcd import EmbeddedEtcd, Keys
from ferry.sync import records
from ferry.v1 import connectors_pb2, jobs_pb2
from tests.e2e.paced_source import PLUGIN
from tests.helpers import ServiceProcess, ferry, wait_until
from tests.sync.support import SyncCluster, index_equals_generator, operations

SOURCE = {"docs": 24_000, "doc_size": 200, "seed": 5, "checkpoint_every": 400}
"""SOURCE is the generator's data; two tasks read it, pausing after each checkpoint."""
PAUSE_MS = 200
TASKS = 2
OLD_REVISIONS = 3000
"""The lost etcd is this many revisions ahead of the fresh one: its fencing tokens and its
running job's generation are far above anything the fresh etcd hands out at first."""


@pytest.fixture
def etcd_servers(tmp_path: Path) -> Iterator[Callable[[str], EmbeddedEtcd]]:
    """etcd_servers starts etcd servers of this test's own, each with its data dir."""
    started: list[EmbeddedEtcd] = []

    def start(name: str) -> EmbeddedEtcd:
        server = EmbeddedEtcd(tmp_path / name)
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


async def _advance(endpoint: str, revisions: int) -> None:
    client = ferry_etcd.connect(endpoint)
    try:
        for start in range(0, revisions, 100):
            await asyncio.gather(
                *(client.put(b"/elsewhere/busy", b"%d" % n) for n in range(start, start + 100))
            )
    finally:
        await client.close()


async def _tasks(endpoint: str, keys: Keys, job_id: str) -> list[jobs_pb2.Task]:
    client = ferry_etcd.connect(endpoint)
    try:
        got = await client.get_prefix(keys.tasks(job_id).encode())
        return [records.decode_task(kv.value) for kv in got]
    finally:
        await client.close()


async def _count(endpoint: str, prefix: str) -> int:
    client = ferry_etcd.connect(endpoint)
    try:
        return len(list(await client.get_prefix(prefix.encode())))
    finally:
        await client.close()


def test_restore_after_losing_etcd_and_the_store_resumes_the_sync_from_its_checkpoint(
    services: Callable[..., ServiceProcess],
    etcd_servers: Callable[[str], EmbeddedEtcd],
    tmp_path: Path,
) -> None:
    start = functools.partial(services, env={"FERRY_CONNECTOR_PLUGINS": PLUGIN})
    keys = Keys("/dr")
    lost = etcd_servers("etcd-lost")
    asyncio.run(_advance(lost.endpoint, OLD_REVISIONS))
    before = SyncCluster(start, lost.endpoint, keys, tmp_path)
    before.coordinator()
    before.agent(checkpoint_docs=400, checkpoint_interval=0.2)
    config = {**SOURCE, "pause_ms": PAUSE_MS}
    created = before.create("books", "test-paced-generator", config, tasks_max=TASKS)
    job = before.sync("books")

    def checkpointed() -> bool:
        readers = [t for t in before.job(job.id).tasks if not t.sweep]
        return len(readers) == TASKS and all(t.counters.docs_seen > 0 for t in readers)

    wait_until(checkpointed, timeout=30, what="every task committed a checkpoint")
    backup_dir = tmp_path / "backup"
    cluster_flags = ["--etcd-prefix", keys.root, "--store-url", before.store_url]
    made = ferry("backup", str(backup_dir), "--etcd-endpoints", lost.endpoint, *cluster_flags)
    assert made.returncode == 0, made.stderr

    # The disaster: every process stops, etcd's data and the store are gone.
    before.close()
    for proc in (*before.agents, *before.coordinators):
        proc.stop()
    lost.stop()
    shutil.rmtree(lost.data_dir)
    store_file = Path(before.store_url.removeprefix("sqlite:///"))
    for path in store_file.parent.glob(store_file.name + "*"):
        path.unlink()

    fresh = etcd_servers("etcd-fresh")
    done = ferry("restore", str(backup_dir), "--etcd-endpoints", fresh.endpoint, *cluster_flags)
    assert done.returncode == 0, done.stderr
    assert "restored" in done.stdout
    # Checkpoints are back, claims and registrations are not.
    restored_tasks = asyncio.run(_tasks(fresh.endpoint, keys, job.id))
    resumable = [t for t in restored_tasks if not t.sweep and t.HasField("cursor")]
    assert resumable, "the sync ended before the backup"
    assert all(0 < t.counters.docs_seen < SOURCE["docs"] for t in resumable)
    assert asyncio.run(_count(fresh.endpoint, keys.claims(records.CLAIM_KIND))) == 0
    assert asyncio.run(_count(fresh.endpoint, keys.agents())) == 0
    written_before = operations(before.store_url, "books")
    assert written_before > 0

    after = SyncCluster(start, fresh.endpoint, keys, tmp_path)
    after.coordinator()
    after.agent(checkpoint_docs=400, checkpoint_interval=0.2)
    connector = after.connectors.Get(connectors_pb2.GetConnectorRequest(name="books"), timeout=5)
    assert connector.spec == created.spec
    finished = after.wait_job(job.id, timeout=60)
    assert finished.state == jobs_pb2.JOB_STATE_COMPLETED, finished.error
    index_equals_generator(after.store_url, "books", **SOURCE)
    # It resumed from the checkpoints rather than starting over: fewer documents were
    # written after the restore than the source holds, and counters carried over.
    assert operations(after.store_url, "books") - written_before < SOURCE["docs"]
    assert finished.counters.docs_seen == SOURCE["docs"]
    assert all(t.claims >= 2 for t in finished.tasks if t.id in {r.id for r in resumable})

    # The next FULL sync after a source shrank removes what vanished: its generation (a
    # revision of the fresh etcd) is newer than every stamp of the restored documents.
    shrunk = {**SOURCE, "deleted_every": 3}
    after.update_config("books", deleted_every=3, pause_ms=0)
    after.sync_and_wait("books", timeout=60)
    index_equals_generator(after.store_url, "books", **shrunk)
    after.close()
