"""Jobs end to end: real coordinator and agents, generator source, SQLite index."""

from __future__ import annotations

from ferry.v1 import jobs_pb2
from tests.sync.support import SyncCluster, index_equals_generator


def test_full_sync_completes_and_index_equals_source(cluster: SyncCluster) -> None:
    cluster.agent()
    cluster.agent()
    config = {"docs": 5000, "doc_size": 100, "seed": 3, "checkpoint_every": 250}
    cluster.generator("gen", tasks_max=4, **config)

    job = cluster.sync("gen")
    done = cluster.wait_job(job.id)

    assert done.state == jobs_pb2.JOB_STATE_COMPLETED, done
    assert len([t for t in done.tasks if not t.sweep]) == 4
    assert done.counters.docs_seen == 5000
    assert done.counters.docs_indexed == 5000
    assert len({t.agent_id for t in done.tasks if not t.sweep}) == 2
    index_equals_generator(cluster.store_url, "gen", **config)
