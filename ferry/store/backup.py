"""Consistent copies of an index store, and restoring one into a fresh store.

Each backend is copied natively, exactly (documents, per-shard seq_nos and
history, follower checkpoints, tombstones, retention leases):

- **SQLite**: the online backup API copies the file in one step, that is in one
  read transaction, while writers go on (WAL); the copy is a single file,
  ``store.sqlite``.
- **PostgreSQL**: every ``ferry_`` table is copied out (``COPY ... TO STDOUT``,
  text format) in one ``REPEATABLE READ`` transaction, one file per table under
  ``store/``; restoring copies them back in, in one transaction.

A copy restores into a store of the same kind only.

Restoring also makes the store fit the fresh etcd it is restored beside. Two
of the store's values are etcd revisions of the old cluster, and a new etcd
starts again from revision 1:

- **Fencing tokens** (claim create revisions): every fence record is removed.
  No claim survives a restore (claims are lease-bound), so no earlier owner
  can come back, and keeping the records would refuse every new, lower token.
- **Generation stamps** (a FULL job's generation is the revision it was
  planned at; its sweep deletes the documents of older generations): they are
  renumbered to :data:`PAST_GENERATION` and :data:`CURRENT_GENERATION`, so
  that the generations of jobs planned after the restore (new revisions, all
  above both) are again newer than every stamp. Per stamp scope, documents
  stamped at or above the generation of the job still running at backup time
  become CURRENT (the restored job record gets CURRENT too), older ones PAST.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferry.errors import FailedPrecondition, Unavailable
from ferry.store._postgres_schema import INDEX_TABLES, UNAVAILABLE, create_tables, redact
from ferry.store._sqlite_schema import BUSY_TIMEOUT_S, SCHEMA_VERSION
from ferry.store.open import open_store
from ferry.store.sqlite import SqliteStore

PAST_GENERATION = 1
"""PAST_GENERATION stamps, after a restore, documents older than their scope's running job."""
CURRENT_GENERATION = 2
"""CURRENT_GENERATION is a restored running job's generation, and its documents' stamp."""

SQLITE_FILE = "store.sqlite"
POSTGRES_DIR = "store"
POSTGRES_TABLES = ("ferry_indices", "ferry_shards", *INDEX_TABLES, "ferry_fences")
"""POSTGRES_TABLES is every table of the PostgreSQL store."""


@dataclass(frozen=True)
class IndexSummary:
    """IndexSummary is one index of a store copy, as the manifest lists it."""

    name: str
    shards: int
    docs: int
    follower: bool


@dataclass(frozen=True)
class StoreCopy:
    """StoreCopy says what :func:`backup_store` wrote: the store's kind, its files
    (relative to the backup directory), the columns of each PostgreSQL table file,
    and the indices."""

    kind: str
    files: tuple[str, ...]
    indices: tuple[IndexSummary, ...]
    columns: Mapping[str, Sequence[str]]


async def backup_store(url: str, directory: Path) -> StoreCopy:
    """backup_store writes a consistent copy of the store into ``directory``."""
    store = open_store(url)
    if isinstance(store, SqliteStore):
        indices = await asyncio.to_thread(_sqlite_backup, store.path, directory / SQLITE_FILE)
        return StoreCopy("sqlite", (SQLITE_FILE,), tuple(indices), {})
    await asyncio.to_thread((directory / POSTGRES_DIR).mkdir)
    return await _postgres_backup(url, directory)


async def restore_store(
    url: str,
    directory: Path,
    copy: StoreCopy,
    *,
    generations: Mapping[str, int],
    force: bool = False,
) -> None:
    """restore_store puts a copy in place of the store at ``url``, which must hold no
    index (or ``force``: whatever it holds is replaced). ``generations`` maps each stamp
    scope with a job running at backup time to that job's generation (see the module)."""
    store = open_store(url)
    kind = "sqlite" if isinstance(store, SqliteStore) else "postgresql"
    if kind != copy.kind:
        raise FailedPrecondition(
            f"the backup holds a {copy.kind} store; store_url names a {kind} one",
            type="STORE_KIND",
            subject="store_url",
        )
    if isinstance(store, SqliteStore):
        await asyncio.to_thread(
            _sqlite_restore, store.path, directory / SQLITE_FILE, generations, force
        )
        return
    await _postgres_restore(url, directory, copy, generations, force)


def _not_empty(where: str, indices: int) -> FailedPrecondition:
    return FailedPrecondition(
        f"the store at {where} already holds {indices} indices; restore into an empty store "
        "(or pass --force to replace it)",
        type="NOT_EMPTY",
        subject="store_url",
    )


# SQLite --------------------------------------------------------------------------


def _sqlite_backup(path: str, dest: Path) -> list[IndexSummary]:
    if not Path(path).is_file():
        raise FailedPrecondition(f"no SQLite store at {path}", type="NO_STORE", subject="store_url")
    source = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
    try:
        target = sqlite3.connect(dest)
        try:
            # pages=-1 copies the whole file in one step, inside one read transaction:
            # a consistent copy, taken while the services go on writing (WAL).
            source.backup(target, pages=-1)
            # One self-contained file: no -wal beside it.
            target.execute("PRAGMA journal_mode = DELETE")
            version = target.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                raise FailedPrecondition(
                    f"{path} is not a Ferry store of schema version {SCHEMA_VERSION} "
                    f"(user_version {version})",
                    type="NO_STORE",
                    subject="store_url",
                )
            rows = target.execute(
                "SELECT name, shards, leader IS NOT NULL,"
                " (SELECT coalesce(sum(doc_count), 0) FROM shards WHERE index_id = i.id)"
                " FROM indices i ORDER BY name"
            ).fetchall()
        finally:
            target.close()
    finally:
        source.close()
    return [
        IndexSummary(name, shards, docs, bool(follower)) for name, shards, follower, docs in rows
    ]


def _sqlite_restore(path: str, copy: Path, generations: Mapping[str, int], force: bool) -> None:
    target = Path(path)
    if target.exists() and not force:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
        try:
            has_table = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'indices'"
            ).fetchone()
            indices = conn.execute("SELECT count(*) FROM indices").fetchone()[0] if has_table else 0
        finally:
            conn.close()
        if indices:
            raise _not_empty(path, indices)
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(target.name + ".restoring")
    shutil.copyfile(copy, staged)
    conn = sqlite3.connect(staged, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM fences")
        for scope, generation in generations.items():
            conn.execute(
                "UPDATE docs SET generation = CASE WHEN generation >= ? THEN ? ELSE ? END"
                " WHERE scope = ? AND generation IS NOT NULL",
                (generation, CURRENT_GENERATION, PAST_GENERATION, scope),
            )
        scopes = list(generations)
        conn.execute(
            "UPDATE docs SET generation = ? WHERE generation IS NOT NULL AND generation != ?"
            f" AND scope NOT IN ({', '.join('?' * len(scopes))})",
            (PAST_GENERATION, PAST_GENERATION, *scopes),
        )
        conn.execute("COMMIT")
    finally:
        conn.close()
    # The old file's WAL must not be replayed into the copy.
    for suffix in ("-wal", "-shm"):
        Path(path + suffix).unlink(missing_ok=True)
    os.replace(staged, target)


# PostgreSQL ----------------------------------------------------------------------


async def _connect(url: str) -> Any:
    import asyncpg

    try:
        return await asyncpg.connect(url)
    except UNAVAILABLE as exc:
        raise Unavailable(f"PostgreSQL at {redact(url)}: {exc}") from exc


async def _postgres_backup(url: str, directory: Path) -> StoreCopy:
    conn = await _connect(url)
    try:
        # One snapshot for every table, taken at the first statement below.
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            if await conn.fetchval("SELECT to_regclass('ferry_indices')") is None:
                raise FailedPrecondition(
                    f"no Ferry store in {redact(url)}", type="NO_STORE", subject="store_url"
                )
            files, columns = [], {}
            for table in POSTGRES_TABLES:
                statement = await conn.prepare(f"SELECT * FROM {table} LIMIT 0")
                columns[table] = [a.name for a in statement.get_attributes()]
                name = f"{POSTGRES_DIR}/{table}.tsv"
                await conn.copy_from_table(table, output=str(directory / name))
                files.append(name)
            rows = await conn.fetch(
                "SELECT name, shards, leader_index IS NOT NULL AS follower,"
                " (SELECT count(*) FROM ferry_docs d WHERE d.index_id = i.id) AS docs"
                " FROM ferry_indices i ORDER BY name"
            )
    except UNAVAILABLE as exc:
        raise Unavailable(f"PostgreSQL at {redact(url)}: {exc}") from exc
    finally:
        await conn.close()
    indices = tuple(IndexSummary(r["name"], r["shards"], r["docs"], r["follower"]) for r in rows)
    return StoreCopy("postgresql", tuple(files), indices, columns)


async def _postgres_restore(
    url: str, directory: Path, copy: StoreCopy, generations: Mapping[str, int], force: bool
) -> None:
    conn = await _connect(url)
    try:
        async with conn.transaction():
            await create_tables(conn)  # a fresh database has none
            indices = await conn.fetchval("SELECT count(*) FROM ferry_indices")
            if indices and not force:
                raise _not_empty(redact(url), indices)
            await conn.execute(f"TRUNCATE {', '.join(POSTGRES_TABLES)}")
            for table in POSTGRES_TABLES:
                await conn.copy_to_table(
                    table,
                    source=str(directory / POSTGRES_DIR / f"{table}.tsv"),
                    columns=list(copy.columns[table]),
                )
            await conn.execute(
                "SELECT setval(pg_get_serial_sequence('ferry_indices', 'id'), max(id))"
                " FROM ferry_indices"
            )
            await conn.execute("DELETE FROM ferry_fences")
            for scope, generation in generations.items():
                await conn.execute(
                    "UPDATE ferry_docs SET generation = CASE WHEN generation >= $1::bigint"
                    " THEN $2::bigint ELSE $3::bigint END"
                    " WHERE scope = $4 AND generation IS NOT NULL",
                    generation,
                    CURRENT_GENERATION,
                    PAST_GENERATION,
                    scope,
                )
            await conn.execute(
                "UPDATE ferry_docs SET generation = $1 WHERE generation IS NOT NULL"
                " AND generation <> $1 AND scope <> ALL($2::text[])",
                PAST_GENERATION,
                list(generations),
            )
    except UNAVAILABLE as exc:
        raise Unavailable(f"PostgreSQL at {redact(url)}: {exc}") from exc
    finally:
        await conn.close()
