"""ferry.backup against a real etcd: what is captured, what is refused, what is left out."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

import aetcd
import pytest

from ferry import etcd as ferry_etcd
from ferry.backup import (
    KEYS_FILE,
    MANIFEST,
    PARTIAL,
    SNAPSHOT_FILE,
    BackupInvalid,
    backup,
    read_verified,
    restore,
)
from ferry.cli.up import embedded_etcd
from ferry.config import BackupConfig
from ferry.errors import FailedPrecondition
from ferry.etcd import EmbeddedEtcd, Keys
from ferry.etcd.embedded import etcd_binary
from ferry.store import IndexSpec, open_store
from ferry.store.backup import CURRENT_GENERATION, SQLITE_FILE
from ferry.sync import records
from ferry.v1 import jobs_pb2
from tests.store.support import docs
from tests.unit.fake_servers import run_cli


def _config(etcd_server: EmbeddedEtcd, keys: Keys, store: Path) -> BackupConfig:
    return BackupConfig(
        etcd_endpoints=etcd_server.endpoint, etcd_prefix=keys.root, store_url=f"sqlite:///{store}"
    )


def _job(job_id: str, state: jobs_pb2.JobState, generation: int) -> bytes:
    return records.encode(
        jobs_pb2.Job(id=job_id, connector="c1", state=state, generation=generation)
    )


async def _under(client: aetcd.Client, keys: Keys) -> dict[str, bytes]:
    got = await client.get_prefix((keys.root + "/").encode())
    return {kv.key.decode()[len(keys.root) :]: kv.value for kv in got}


@pytest.fixture
async def cluster(etcd_client: aetcd.Client, keys: Keys, tmp_path: Path) -> Path:
    """cluster fills a key root and a SQLite store as a cluster would; returns the store."""
    put = etcd_client.put
    await put(keys.connector("c1").encode(), b'{"spec": {"name": "c1"}}')
    await put(keys.checkpoint("c1", "range-0").encode(), b'{"cursor": {"next": 500}}')
    await put(keys.job("running").encode(), _job("running", jobs_pb2.JOB_STATE_RUNNING, 12345))
    await put(keys.job("done").encode(), _job("done", jobs_pb2.JOB_STATE_COMPLETED, 99))
    lease = await etcd_client.lease(60)
    await put(keys.agent("agent-1").encode(), b"{}", lease=lease.id)
    await put(keys.claim("tasks", "t-1").encode(), b"agent-1", lease=lease.id)
    store_path = tmp_path / "store.db"
    async with open_store(f"sqlite:///{store_path}") as store:
        await store.create_index(IndexSpec("c1", shards=2))
        await store.bulk("c1", docs("d-", 50))
    return store_path


async def test_backup_then_restore_into_a_fresh_prefix_and_store(
    etcd_server: EmbeddedEtcd, etcd_client: aetcd.Client, keys: Keys, cluster: Path, tmp_path: Path
) -> None:
    out = tmp_path / "backup"
    manifest = await backup(_config(etcd_server, keys, cluster), out)

    assert sorted(p.name for p in out.iterdir()) == sorted(
        [KEYS_FILE, MANIFEST, SNAPSHOT_FILE, SQLITE_FILE]
    )
    assert (manifest.etcd_keys, manifest.etcd_leased_keys_skipped) == (4, 2)
    assert manifest.etcd_prefix == keys.root and manifest.etcd_revision > 0
    assert [(i.name, i.docs) for i in manifest.store.indices] == [("c1", 50)]
    assert json.loads((out / MANIFEST).read_text())["files"][SQLITE_FILE]["sha256"]
    # Every file's size and SHA-256 (the etcd files' summed while they were written) hold.
    assert set(manifest.files) == {KEYS_FILE, SNAPSHOT_FILE, SQLITE_FILE}
    assert await asyncio.to_thread(read_verified, out) == manifest
    # The snapshot is one etcdutl can restore from.
    status = await asyncio.to_thread(
        subprocess.run,
        [str(etcd_binary().with_name("etcdutl")), "snapshot", "status", "-w", "json",
         str(out / SNAPSHOT_FILE)],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    assert json.loads(status.stdout)["revision"] >= manifest.etcd_revision

    fresh = Keys(keys.root + "-restored")
    restored_store = tmp_path / "fresh" / "store.db"
    await restore(_config(etcd_server, fresh, restored_store), out)

    before, after = await _under(etcd_client, keys), await _under(etcd_client, fresh)
    leased = {Keys("").agent("agent-1"), Keys("").claim("tasks", "t-1")}
    assert leased <= set(before)
    assert set(after) == set(before) - leased  # lease-bound keys stay behind
    assert (
        after[Keys("").checkpoint("c1", "range-0")] == before[Keys("").checkpoint("c1", "range-0")]
    )
    # The running job's generation starts over with the store's stamps; a finished one is kept.
    assert records.decode_job(after[Keys("").job("running")]).generation == CURRENT_GENERATION
    assert records.decode_job(after[Keys("").job("done")]).generation == 99
    assert (await ferry_etcd.probe(etcd_client)).revision > CURRENT_GENERATION
    async with open_store(f"sqlite:///{restored_store}") as store:
        assert await store.count("c1") == 50


async def test_restore_refuses_a_prefix_that_holds_keys_unless_forced(
    etcd_server: EmbeddedEtcd, etcd_client: aetcd.Client, keys: Keys, cluster: Path, tmp_path: Path
) -> None:
    out = tmp_path / "backup"
    await backup(_config(etcd_server, keys, cluster), out)
    target = Keys(keys.root + "-busy")
    await etcd_client.put(target.connector("stray").encode(), b"{}")
    target_store = tmp_path / "target.db"

    with pytest.raises(FailedPrecondition, match="already holds 1 keys") as refused:
        await restore(_config(etcd_server, target, target_store), out)
    assert refused.value.subject == "etcd_prefix"
    assert not target_store.exists()  # refused before anything was touched

    # A cluster whose services run is refused even with --force.
    with pytest.raises(FailedPrecondition, match=r"are running \(agent-1\)") as running:
        await restore(_config(etcd_server, keys, target_store), out, force=True)
    assert running.value.type == "RUNNING"
    assert not target_store.exists()

    await restore(_config(etcd_server, target, target_store), out, force=True)
    restored = await _under(etcd_client, target)
    assert Keys("").connector("stray") not in restored
    assert Keys("").connector("c1") in restored


@pytest.mark.parametrize("damage", ["unfinished", "corrupt", "missing"])
async def test_an_incomplete_or_damaged_backup_is_refused_naming_the_file(
    damage: str,
    etcd_server: EmbeddedEtcd,
    etcd_client: aetcd.Client,
    keys: Keys,
    cluster: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "backup"
    await backup(_config(etcd_server, keys, cluster), out)
    if damage == "unfinished":  # a backup that crashed before its manifest was in place
        (out / PARTIAL).mkdir()
        (out / MANIFEST).rename(out / PARTIAL / MANIFEST)
        named, why = out / MANIFEST, "not a complete Ferry backup (an unfinished backup is in"
    elif damage == "corrupt":
        data = bytearray((out / SQLITE_FILE).read_bytes())
        data[len(data) // 2] ^= 0xFF
        (out / SQLITE_FILE).write_bytes(bytes(data))
        named, why = out / SQLITE_FILE, "damaged"
    else:
        (out / KEYS_FILE).unlink()
        named, why = out / KEYS_FILE, "missing"
    target = Keys(keys.root + "-target")

    with pytest.raises(BackupInvalid, match=re.escape(why)) as refused:
        await restore(_config(etcd_server, target, tmp_path / "target.db"), out)
    assert refused.value.subject == str(named)
    assert str(named) in refused.value.message
    assert await _under(etcd_client, target) == {}
    assert not (tmp_path / "target.db").exists()


async def test_backup_refuses_a_directory_that_is_not_empty(
    etcd_server: EmbeddedEtcd, keys: Keys, cluster: Path, tmp_path: Path
) -> None:
    out = tmp_path / "backup"
    await backup(_config(etcd_server, keys, cluster), out)
    with pytest.raises(FailedPrecondition, match="already holds a backup"):
        await backup(_config(etcd_server, keys, cluster), out)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(FailedPrecondition, match="not empty"):
        await backup(_config(etcd_server, keys, cluster), tmp_path / "other")
    # What a crashed backup left in .partial is no obstacle.
    (tmp_path / "again" / PARTIAL).mkdir(parents=True)
    (tmp_path / "again" / PARTIAL / KEYS_FILE).write_text("half")
    await backup(_config(etcd_server, keys, cluster), tmp_path / "again")
    assert not (tmp_path / "again" / PARTIAL).exists()


def test_the_cli_restores_into_a_ferry_up_data_dir_starting_its_etcd(
    capsys: pytest.CaptureFixture[str], etcd_server: EmbeddedEtcd, keys: Keys, tmp_path: Path
) -> None:
    """``ferry backup --data-dir`` finds a running ``ferry up``'s etcd and store;
    ``ferry restore --data-dir`` into a new data dir starts its etcd for the restore."""
    up, new, out = tmp_path / "up", tmp_path / "new", str(tmp_path / "b")
    (up / "etcd").mkdir(parents=True)
    (up / "etcd" / "ports.json").write_text(json.dumps({"client": etcd_server.client_port}))
    prefix = ["--etcd-prefix", keys.root]
    code, _, err = run_cli(capsys, "backup", out, "--data-dir", str(up), *prefix)
    assert code == 1 and f"no SQLite store at {up / 'store' / 'ferry.db'}" in err

    asyncio.run(_put_connector(etcd_server.endpoint, keys, up / "store" / "ferry.db"))
    code, printed, err = run_cli(capsys, "backup", out, "--data-dir", str(up), *prefix)
    assert code == 0, err
    assert f"1 keys under {keys.root}/" in printed and "sqlite store, 1 indices" in printed
    code, printed, err = run_cli(capsys, "backup-check", out)
    assert code == 0, err
    assert json.loads(printed)["etcd_prefix"] == keys.root

    code, _, err = run_cli(capsys, "restore", out, "--data-dir", str(new), *prefix)
    assert code == 0, err
    assert (new / "store" / "ferry.db").is_file()
    with embedded_etcd(new) as etcd:  # the restore stopped it again; its data stayed
        assert asyncio.run(_connector(etcd.endpoint, keys)) == b"{}"

    Path(out, SQLITE_FILE).write_bytes(b"not a store")
    code, _, err = run_cli(capsys, "backup-check", out)
    assert code == 1 and f"{Path(out, SQLITE_FILE)}: damaged" in err


async def _put_connector(endpoint: str, keys: Keys, store_path: Path) -> None:
    async with open_store(f"sqlite:///{store_path}") as store:
        await store.create_index(IndexSpec("c1"))
    client = ferry_etcd.connect(endpoint)
    await client.put(keys.connector("c1").encode(), b"{}")
    await client.close()


async def _connector(endpoint: str, keys: Keys) -> bytes | None:
    client = ferry_etcd.connect(endpoint)
    got = await client.get(keys.connector("c1").encode())
    await client.close()
    return None if got is None else got.value
