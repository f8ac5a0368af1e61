"""etcd's part of a backup: a snapshot of the whole etcd, and a portable dump of Ferry's keys.

The dump (``etcd-keys.jsonl``) holds one JSON object a line, ``{"key": ...,
"value": ...}``: the key relative to the cluster's prefix, the value in
base64. It is read at one revision, page by page, and leaves out every key
bound to a lease: sessions, member registrations, claims and elections belong
to processes of the old cluster and must not outlive them.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aetcd
from aetcd import rpc

from ferry.backup._manifest import FileSum, SummedFile
from ferry.errors import FailedPrecondition
from ferry.etcd import prefix_end
from ferry.etcd.client import range_request

SNAPSHOT_FILE = "etcd.snapshot"
KEYS_FILE = "etcd-keys.jsonl"
PAGE = 1000
"""PAGE is how many keys one range request of the dump reads."""
TXN_OPS = 100
"""TXN_OPS keeps each load transaction below etcd's default --max-txn-ops (128)."""
SNAPSHOT_TIMEOUT = 3600.0
"""SNAPSHOT_TIMEOUT bounds the snapshot stream (a large etcd takes a while)."""


def _range(root: str, start: bytes = b"", *, revision: int = 0, count_only: bool = False) -> Any:
    prefix = (root + "/").encode()
    return rpc.RangeRequest(
        key=start or prefix,
        range_end=prefix_end(root + "/"),
        limit=0 if count_only else PAGE,
        revision=revision,
        count_only=count_only,
    )


@dataclass(frozen=True)
class KeyDump:
    """KeyDump is what :func:`dump_keys` wrote."""

    revision: int
    """The revision every key was read at."""
    keys: int
    leased_skipped: int
    """Lease-bound keys left out."""
    file: FileSum


async def dump_keys(client: aetcd.Client, root: str, path: Path) -> KeyDump:
    """dump_keys writes the keys under ``root`` that have no lease into ``path``."""
    revision = written = skipped = 0
    start = b""
    out = await asyncio.to_thread(SummedFile, path)
    try:
        while True:
            page = await range_request(client, _range(root, start, revision=revision))
            revision = revision or page.header.revision  # every later page: the same revision
            lines = []
            for kv in page.kvs:
                if kv.lease:
                    skipped += 1
                    continue
                key = kv.key.decode()[len(root) :]
                value = base64.b64encode(kv.value).decode()
                lines.append(json.dumps({"key": key, "value": value}) + "\n")
            written += len(lines)
            await asyncio.to_thread(out.write, "".join(lines).encode())
            if not page.more:
                break
            start = page.kvs[-1].key + b"\0"
    finally:
        await asyncio.to_thread(out.close)
    return KeyDump(revision, written, skipped, out.sum)


async def save_snapshot(client: aetcd.Client, path: Path) -> FileSum:
    """save_snapshot streams etcd's Maintenance.Snapshot (the whole etcd, every prefix)
    into ``path``: the file ``etcdutl snapshot restore`` takes."""
    await client.connect()
    out = await asyncio.to_thread(SummedFile, path)
    try:
        stream = client.maintenancestub.Snapshot(
            rpc.SnapshotRequest(), timeout=SNAPSHOT_TIMEOUT, metadata=client.metadata
        )
        async for chunk in stream:
            await asyncio.to_thread(out.write, chunk.blob)
    finally:
        await asyncio.to_thread(out.close)
    return out.sum


async def count_keys(client: aetcd.Client, root: str) -> int:
    """count_keys is how many keys live under ``root``, leased ones included."""
    return int((await range_request(client, _range(root, count_only=True))).count)


async def delete_keys(client: aetcd.Client, root: str) -> None:
    """delete_keys removes every key under ``root``."""
    await client.delete_range((root + "/").encode(), prefix_end(root + "/"))


def read_dump(path: Path) -> Iterator[tuple[str, bytes]]:
    """read_dump yields (key relative to the prefix, value) from a dump file (blocking)."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                item = json.loads(line)
                yield item["key"], base64.b64decode(item["value"], validate=True)
            except (ValueError, KeyError, TypeError) as exc:
                raise FailedPrecondition(
                    f"{path} line {n}: not a key of a Ferry dump ({exc})",
                    type="BACKUP",
                    subject=str(path),
                ) from exc


async def load_keys(
    client: aetcd.Client,
    root: str,
    items: Sequence[tuple[str, bytes]],
    *,
    min_revision: int = 0,
) -> None:
    """load_keys puts every (key relative to the prefix, value) under ``root``. When
    etcd's revision is below ``min_revision`` afterwards, the last key is put again until
    it is not."""
    tx = client.transactions
    revision = 0
    for start in range(0, len(items), TXN_OPS):
        chunk = items[start : start + TXN_OPS]
        revision = await _commit(
            client, [tx.put((root + key).encode(), value) for key, value in chunk]
        )
    while items and revision < min_revision:
        key, value = items[-1]
        revision = await _commit(client, [tx.put((root + key).encode(), value)])


async def _commit(client: aetcd.Client, ops: list[object]) -> int:
    _, responses = await client.transaction(compare=[], success=ops, failure=[])
    return int(responses[-1].response_put.header.revision)
