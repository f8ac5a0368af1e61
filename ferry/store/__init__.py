"""Ferry's index store: sharded indices with sequence-numbered history.

Open one with :func:`open_store` from a URL: ``sqlite:///path/to/file.db``
(embedded default) or ``postgresql://user@host/db`` (shared by many machines).
"""

from ferry.store.common import DEFAULT_LIMITS, Limits
from ferry.store.model import (
    NO_OPS,
    BulkItem,
    BulkResult,
    DeleteOp,
    Document,
    Fence,
    FieldKind,
    Filter,
    FilterOp,
    IndexInfo,
    IndexOp,
    IndexSpec,
    ItemResult,
    LeaderInfo,
    Operation,
    OpKind,
    Query,
    RetentionLease,
    Schema,
    SearchPage,
    ShardStats,
    SnapshotDoc,
    Sort,
    Stamp,
    WriteOp,
    shard_for,
)
from ferry.store.open import open_store
from ferry.store.store import FollowerIndex, HistoryTrimmed, SchemaConflict, Snapshot, Store

__all__ = [
    "DEFAULT_LIMITS",
    "NO_OPS",
    "BulkItem",
    "BulkResult",
    "DeleteOp",
    "Document",
    "Fence",
    "FieldKind",
    "Filter",
    "FilterOp",
    "FollowerIndex",
    "HistoryTrimmed",
    "IndexInfo",
    "IndexOp",
    "IndexSpec",
    "ItemResult",
    "LeaderInfo",
    "Limits",
    "OpKind",
    "Operation",
    "Query",
    "RetentionLease",
    "Schema",
    "SchemaConflict",
    "SearchPage",
    "ShardStats",
    "Snapshot",
    "SnapshotDoc",
    "Sort",
    "Stamp",
    "Store",
    "WriteOp",
    "open_store",
    "shard_for",
]
