"""Backup and restore of a Ferry cluster (SPEC §8.4): its etcd keys and its index store.

:func:`backup` writes a directory holding an etcd snapshot, a portable dump of
the cluster's keys and a consistent copy of the index store, with a manifest
of checksums; :func:`restore` brings that directory into a fresh cluster,
whose services then resume every job from its checkpoint. See docs/backup.md.
"""

from ferry.backup._cluster import backup, restore
from ferry.backup._etcd import KEYS_FILE, SNAPSHOT_FILE
from ferry.backup._manifest import (
    MANIFEST,
    PARTIAL,
    BackupInvalid,
    FileSum,
    Manifest,
    read_verified,
)

__all__ = [
    "KEYS_FILE",
    "MANIFEST",
    "PARTIAL",
    "SNAPSHOT_FILE",
    "BackupInvalid",
    "FileSum",
    "Manifest",
    "backup",
    "read_verified",
    "restore",
]
