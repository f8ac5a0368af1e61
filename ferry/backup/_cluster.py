"""Backing up a running cluster, and restoring it into a fresh one.

**Order of capture.** A task writes a batch of documents to the store first
and commits the checkpoint that covers it to etcd afterwards. The backup reads
etcd first (the key dump at one revision, then the snapshot) and copies the
store after: every checkpoint in the backup was committed before the store
copy began, so the documents it covers are in the copy. The copy may hold
documents past a checkpoint; a resumed task reads them again from the
checkpoint, and documents are idempotent upserts by id, so nothing is lost and
nothing doubled. The other order could pair a checkpoint with a store copy
that lacks the documents before it: those would be lost.

**Restore** checks everything before it changes anything (the manifest's
checksums, an empty etcd prefix, an empty store of the backup's kind), then
restores the store and loads the keys last. Generations of the jobs running at
backup time are renumbered with the store's stamps (see
:mod:`ferry.store.backup`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import aetcd

from ferry import etcd
from ferry.backup._etcd import (
    KEYS_FILE,
    SNAPSHOT_FILE,
    count_keys,
    delete_keys,
    dump_keys,
    load_keys,
    read_dump,
    save_snapshot,
)
from ferry.backup._manifest import MANIFEST, PARTIAL, Manifest, checksum, read_verified
from ferry.config import BackupConfig
from ferry.errors import FailedPrecondition
from ferry.etcd import Keys
from ferry.etcd.client import unavailable
from ferry.security import etcd_tls
from ferry.store.backup import CURRENT_GENERATION, backup_store, restore_store
from ferry.sync import records
from ferry.sync.records import TERMINAL_JOB
from ferry.version import VERSION


async def backup(config: BackupConfig, directory: str | os.PathLike[str]) -> Manifest:
    """backup writes a backup of the cluster into ``directory`` (absent or empty).

    Everything goes into ``directory/.partial`` first; the files move into
    ``directory`` when all are written, the manifest last, so a backup that
    crashed never looks complete.
    """
    target = Path(directory)
    partial = target / PARTIAL
    await asyncio.to_thread(_prepare, target, partial)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    async with _etcd(config) as client:
        # etcd before the store: see the module docstring.
        dump = await dump_keys(client, config.etcd_prefix, partial / KEYS_FILE)
        snapshot = await save_snapshot(client, partial / SNAPSHOT_FILE)
    copy = await backup_store(config.store_url, partial)
    # The etcd files were summed as they were written; the store's files are read back.
    store_sums = await asyncio.to_thread(lambda: {n: checksum(partial / n) for n in copy.files})
    manifest = Manifest(
        ferry_version=VERSION,
        created=created,
        etcd_prefix=config.etcd_prefix,
        etcd_revision=dump.revision,
        etcd_keys=dump.keys,
        etcd_leased_keys_skipped=dump.leased_skipped,
        store=copy,
        files={KEYS_FILE: dump.file, SNAPSHOT_FILE: snapshot, **store_sums},
    )
    await asyncio.to_thread(_publish, target, partial, manifest)
    return manifest


async def restore(
    config: BackupConfig, directory: str | os.PathLike[str], *, force: bool = False
) -> Manifest:
    """restore brings the backup in ``directory`` into the cluster ``config`` names, whose
    etcd prefix and store must be empty (``force``: whatever they hold is replaced).

    Its services must not run meanwhile; started afterwards, they resume every
    job from its checkpoint.
    """
    source = Path(directory)
    manifest = await asyncio.to_thread(read_verified, source)
    items, generations = await asyncio.to_thread(_keys_to_load, source / KEYS_FILE)
    async with _etcd(config) as client:
        await _refuse_running(client, Keys(config.etcd_prefix))
        existing = await count_keys(client, config.etcd_prefix)
        if existing and not force:
            raise FailedPrecondition(
                f"etcd already holds {existing} keys under {config.etcd_prefix}/; restore into "
                "an empty prefix (or pass --force to replace them)",
                type="NOT_EMPTY",
                subject="etcd_prefix",
            )
        await restore_store(
            config.store_url, source, manifest.store, generations=generations, force=force
        )
        if existing:
            await delete_keys(client, config.etcd_prefix)
        # Jobs planned from now on get the revision as generation: above CURRENT.
        await load_keys(client, config.etcd_prefix, items, min_revision=CURRENT_GENERATION + 1)
    return manifest


@asynccontextmanager
async def _etcd(config: BackupConfig) -> AsyncIterator[aetcd.Client]:
    """_etcd lends a client for one ``async with``; etcd's connectivity errors become
    Unavailable."""
    client = etcd.connect(config.etcd_endpoints, tls=etcd_tls(config))
    try:
        yield client
    except etcd.CONNECTIVITY_ERRORS as exc:
        raise unavailable(exc) from exc
    finally:
        await client.close()


async def _refuse_running(client: aetcd.Client, keys: Keys) -> None:
    """_refuse_running fails when services of the target cluster are registered: they hold
    claims and caches a restore would pull the ground from under, even with --force."""
    running = []
    for prefix in (keys.coordinators(), keys.agents(), keys.replicators()):
        running += [
            kv.key.decode()[len(prefix) :] for kv in await client.get_prefix(prefix.encode())
        ]
    if running:
        raise FailedPrecondition(
            f"services of the cluster under {keys.root}/ are running ({', '.join(running[:5])}); "
            "stop them first (a crashed one's registration goes when its lease expires)",
            type="RUNNING",
            subject="etcd_prefix",
        )


def _keys_to_load(keys_file: Path) -> tuple[list[tuple[str, bytes]], dict[str, int]]:
    """_keys_to_load reads the dump (blocking): every key (relative to the prefix) with the
    value to load, and the generation of the jobs planned and not finished at backup time,
    by stamp scope. Those jobs' records get CURRENT_GENERATION instead."""
    jobs = Keys("").jobs()
    items: list[tuple[str, bytes]] = []
    generations: dict[str, int] = {}
    for key, value in read_dump(keys_file):
        if key.startswith(jobs):
            job = records.decode_job(value)
            if job.generation and job.state not in TERMINAL_JOB:
                scope = records.stamp_scope(job.connector)
                generations[scope] = max(generations.get(scope, 0), job.generation)
                job.generation = CURRENT_GENERATION
                value = records.encode(job)
        items.append((key, value))
    return items, generations


def _prepare(target: Path, partial: Path) -> None:
    if (target / MANIFEST).exists():
        raise FailedPrecondition(
            f"{target} already holds a backup", type="NOT_EMPTY", subject=str(target)
        )
    if target.exists():
        if not target.is_dir():
            raise FailedPrecondition(f"{target} is not a directory", subject=str(target))
        others = sorted(p.name for p in target.iterdir() if p.name != PARTIAL)
        if others:
            raise FailedPrecondition(
                f"{target} is not empty ({', '.join(others[:3])}...); back up into a new directory",
                type="NOT_EMPTY",
                subject=str(target),
            )
    shutil.rmtree(partial, ignore_errors=True)  # what a crashed backup left
    partial.mkdir(parents=True)


def _publish(target: Path, partial: Path, manifest: Manifest) -> None:
    (partial / MANIFEST).write_text(manifest.to_json())
    for name in (*manifest.files, MANIFEST):  # the manifest last: then the backup is complete
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial / name, target / name)
    shutil.rmtree(partial)
