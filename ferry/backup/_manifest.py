"""The manifest of a backup directory: what it holds, and the checksums that prove it whole."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ferry.errors import FailedPrecondition
from ferry.store.backup import IndexSummary, StoreCopy

FORMAT = 1
"""FORMAT is the layout version of a backup directory; a newer one is refused."""
MANIFEST = "manifest.json"
PARTIAL = ".partial"
"""PARTIAL is the folder a backup is written into before it is moved into place."""


class BackupInvalid(FailedPrecondition):
    """BackupInvalid says a backup directory is incomplete or damaged; ``subject`` names the
    file."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(f"{path}: {detail}", type="BACKUP", subject=str(path))


@dataclass(frozen=True)
class FileSum:
    """FileSum is one file of the backup: its size and SHA-256."""

    bytes: int
    sha256: str


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """Manifest describes one backup; it is written last, so a directory with one is
    complete."""

    format: int = FORMAT
    ferry_version: str
    created: str
    """When the backup started, ISO 8601 in UTC."""
    etcd_prefix: str
    etcd_revision: int
    """The revision Ferry's keys were read at (the snapshot is at this revision or later)."""
    etcd_keys: int
    """How many keys the dump holds (keys without a lease)."""
    etcd_leased_keys_skipped: int
    """Lease-bound keys left out: sessions, member registrations, claims, elections."""
    store: StoreCopy
    files: dict[str, FileSum] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Manifest:
        store = dict(raw["store"])
        indices = tuple(IndexSummary(**i) for i in store.pop("indices"))
        files = {name: FileSum(**f) for name, f in raw["files"].items()}
        return cls(
            **{k: v for k, v in raw.items() if k not in ("store", "files")},
            store=StoreCopy(
                kind=store["kind"],
                files=tuple(store["files"]),
                indices=indices,
                columns=store["columns"],
            ),
            files=files,
        )


class SummedFile:
    """SummedFile writes a new file and sums what it writes, so that a file written from
    memory is not read again for its checksum (blocking: call it in a thread)."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "wb")
        self._digest = hashlib.sha256()
        self._size = 0

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._digest.update(data)
        self._size += len(data)

    def close(self) -> None:
        self._file.close()

    @property
    def sum(self) -> FileSum:
        """sum is the size and SHA-256 of what was written so far."""
        return FileSum(self._size, self._digest.hexdigest())


def checksum(path: Path) -> FileSum:
    """checksum reads a file through (blocking: call it in a thread)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return FileSum(size, digest.hexdigest())


def read_verified(directory: Path) -> Manifest:
    """read_verified reads the manifest and checks every file against it (blocking);
    BackupInvalid names the first file that is missing, damaged or unexpected."""
    path = directory / MANIFEST
    if not path.is_file():
        partial = " (an unfinished backup is in .partial)" if (directory / PARTIAL).exists() else ""
        raise BackupInvalid(path, f"missing: not a complete Ferry backup{partial}")
    try:
        raw = json.loads(path.read_text())
        if raw.get("format", 0) > FORMAT:
            raise BackupInvalid(path, f"format {raw['format']} is newer than this Ferry reads")
        manifest = Manifest.from_json(raw)
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupInvalid(path, f"unreadable: {exc}") from exc
    for name, expected in sorted(manifest.files.items()):
        file = directory / name
        if not file.is_file():
            raise BackupInvalid(file, "missing")
        got = checksum(file)
        if got != expected:
            raise BackupInvalid(
                file,
                f"damaged: {got.bytes} bytes with SHA-256 {got.sha256}, the manifest says "
                f"{expected.bytes} bytes with {expected.sha256}",
            )
    return manifest
