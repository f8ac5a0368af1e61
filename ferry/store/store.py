"""Store: the interface every index store backend implements.

One shared test suite (``tests/store``) runs against every backend. The rules
each backend must keep:

- A bulk call is one transaction: every op lands or none does, even if the
  process is killed mid-call.
- Each shard numbers its operations 0, 1, 2, ... with no gap and no duplicate,
  however many writers (threads, processes, machines) write at once.
- A write whose :class:`Fence` token is lower than the highest the store has
  seen for that scope is refused with :class:`~ferry.errors.Fenced`; a higher
  token registers itself in the same transaction.
- A follower index refuses bulk writes; it changes only through
  :meth:`apply_operations` and the bootstrap calls, idempotently by seq_no.
- History is trimmed only below every live retention lease.
- Nothing blocks the event loop: backends do their I/O on threads or with an
  async driver.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from types import TracebackType

from ferry.errors import FailedPrecondition
from ferry.store.model import (
    DEFAULT_RETENTION,
    BulkResult,
    Document,
    Fence,
    IndexInfo,
    IndexSpec,
    Operation,
    Query,
    RetentionLease,
    Schema,
    SearchPage,
    ShardSeqNos,
    ShardStats,
    SnapshotDoc,
    Sort,
    Stamp,
    WriteOp,
)

MATCH_ALL = Query()
"""MATCH_ALL is the query every document matches."""


class HistoryTrimmed(FailedPrecondition):
    """HistoryTrimmed says operations below ``min_retained_seq_no`` are gone: re-bootstrap."""

    def __init__(self, index: str, shard: int, from_seq_no: int, min_retained_seq_no: int) -> None:
        super().__init__(
            f"history of {index}[{shard}] is trimmed below seq_no {min_retained_seq_no}; "
            f"operations from {from_seq_no} are no longer available",
            type="HISTORY_TRIMMED",
            subject=f"index/{index}/shard/{shard}",
        )
        self.min_retained_seq_no = min_retained_seq_no


class FollowerIndex(FailedPrecondition):
    """FollowerIndex says ordinary writes to a follower index are refused."""

    def __init__(self, index: str) -> None:
        super().__init__(
            f"index {index!r} is a follower: it takes only replicated operations",
            type="FOLLOWER",
            subject=f"index/{index}",
        )


class SchemaConflict(FailedPrecondition):
    """SchemaConflict says a schema change retypes or drops a field, or goes back a version."""

    def __init__(self, index: str, detail: str) -> None:
        super().__init__(
            f"schema conflict on {index!r}: {detail}", type="SCHEMA", subject=f"index/{index}"
        )


class Snapshot(abc.ABC):
    """Snapshot is a consistent view of one shard as of ``seq_no``.

    Documents come in id order, in batches, without loading the shard into
    memory. Writes made after the snapshot opened are not seen.
    """

    seq_no: int
    schema: Schema
    docs: int
    """docs is how many documents :meth:`batches` yields: the shard's live documents as of
    ``seq_no``, counted in the same consistent view."""

    @abc.abstractmethod
    def batches(self, size: int = 1000) -> AsyncIterator[list[SnapshotDoc]]:
        """batches yields the shard's documents, ``size`` at a time."""


class Store(abc.ABC):
    """Store holds indices: documents, per-shard history, fences and leases."""

    # Lifecycle -----------------------------------------------------------

    @abc.abstractmethod
    async def start(self) -> None:
        """start opens connections and creates the tables if needed; idempotent."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """stop closes every connection; idempotent."""

    async def __aenter__(self) -> Store:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # Indices ---------------------------------------------------------------

    @abc.abstractmethod
    async def create_index(self, spec: IndexSpec) -> IndexInfo:
        """create_index creates an empty index; AlreadyExists if the name is taken."""

    @abc.abstractmethod
    async def get_index(self, name: str) -> IndexInfo:
        """get_index returns the index; NotFound if absent."""

    @abc.abstractmethod
    async def list_indices(self) -> list[IndexInfo]:
        """list_indices returns every index in name order."""

    @abc.abstractmethod
    async def delete_index(self, name: str) -> None:
        """delete_index removes the index with its documents, history and leases."""

    @abc.abstractmethod
    async def update_schema(self, name: str, schema: Schema) -> IndexInfo:
        """update_schema installs a newer schema; SchemaConflict if it retypes or drops a
        field or does not raise the version."""

    @abc.abstractmethod
    async def promote(self, name: str) -> IndexInfo:
        """promote turns a follower into an ordinary index (unfollow); its seq_nos go on."""

    # Writes ----------------------------------------------------------------

    @abc.abstractmethod
    async def bulk(
        self,
        index: str,
        ops: Sequence[WriteOp],
        *,
        fence: Fence | None = None,
        stamp: Stamp | None = None,
    ) -> BulkResult:
        """bulk applies ops atomically and returns one item per op, in order.

        Limits (id, document and batch size) are checked before anything is
        written; an InvalidArgument names the offending op (``ops[3].id``).
        """

    @abc.abstractmethod
    async def fence(self, fence: Fence) -> None:
        """fence registers fence.token as the scope's owner; Fenced if a higher one exists."""

    @abc.abstractmethod
    async def sweep(
        self, index: str, stamp: Stamp, *, fence: Fence | None = None, batch: int = 1000
    ) -> int:
        """sweep deletes stamp.scope's documents of generations below stamp.generation.

        Each deletion is a DELETE operation in the history. Works in batches of
        ``batch`` (one transaction each), never holding the ids in memory.
        Returns how many documents it deleted.
        """

    # Reads -----------------------------------------------------------------

    @abc.abstractmethod
    async def get(self, index: str, doc_id: str) -> Document | None:
        """get returns the document, or None."""

    @abc.abstractmethod
    async def multi_get(self, index: str, doc_ids: Sequence[str]) -> list[Document | None]:
        """multi_get returns one entry per id, in order, None where absent."""

    @abc.abstractmethod
    async def count(self, index: str, query: Query = MATCH_ALL) -> int:
        """count returns how many documents match."""

    @abc.abstractmethod
    async def search(
        self,
        index: str,
        query: Query = MATCH_ALL,
        *,
        sort: Sequence[Sort] = (),
        size: int = 10,
        cursor: str = "",
    ) -> SearchPage:
        """search returns one page of matching documents; follow next_cursor for more."""

    # History, shards and replication -----------------------------------------

    @abc.abstractmethod
    async def shard_stats(self, index: str) -> list[ShardStats]:
        """shard_stats returns every shard's counters, in shard order."""

    @abc.abstractmethod
    async def shard_seq_nos(self, index: str, shard: int) -> ShardSeqNos:
        """shard_seq_nos is one shard's seq_nos. Unlike shard_stats it does not count the
        shard's documents, which PostgreSQL does by reading them all."""

    @abc.abstractmethod
    async def read_operations(
        self,
        index: str,
        shard: int,
        from_seq_no: int,
        *,
        max_ops: int = 5120,
        max_bytes: int = 32 * 1024 * 1024,
    ) -> list[Operation]:
        """read_operations returns the shard's operations from from_seq_no, in order.

        At most max_ops, and stops before max_bytes (but always returns at least
        one available operation). HistoryTrimmed if from_seq_no is below the
        shard's min_retained_seq_no.
        """

    @abc.abstractmethod
    def snapshot(self, index: str, shard: int) -> AbstractAsyncContextManager[Snapshot]:
        """snapshot opens a consistent view of the shard (see :class:`Snapshot`)."""

    @abc.abstractmethod
    async def put_retention_lease(
        self,
        index: str,
        shard: int,
        lease_id: str,
        retaining_seq_no: int,
        *,
        ttl: timedelta = DEFAULT_RETENTION,
        source: str = "",
    ) -> RetentionLease:
        """put_retention_lease adds or renews a lease; renewing never lowers retaining_seq_no
        below what the history still holds (HistoryTrimmed if asked to)."""

    @abc.abstractmethod
    async def remove_retention_lease(self, index: str, shard: int, lease_id: str) -> None:
        """remove_retention_lease drops a lease; a missing one is fine."""

    @abc.abstractmethod
    async def retention_leases(self, index: str) -> list[RetentionLease]:
        """retention_leases lists the index's leases, expired ones included until trimmed."""

    @abc.abstractmethod
    async def trim_history(self, index: str, *, now: float | None = None) -> int:
        """trim_history drops expired leases, then history no live lease needs.

        Only superseded operations (older versions, deletions) are dropped: a
        document's current operation stays while the document exists. Returns
        how many operations were removed; min_retained_seq_no moves up.
        """

    # Follower side -----------------------------------------------------------

    @abc.abstractmethod
    async def apply_operations(
        self, index: str, shard: int, ops: Sequence[Operation], *, fence: Fence | None = None
    ) -> int:
        """apply_operations applies replicated operations to a follower shard.

        Idempotent by seq_no and order-independent: an op already applied is
        skipped, and an older op never overwrites a newer one for the same id.
        The follower checkpoint (highest seq_no with everything below applied)
        moves in the same transaction and is returned. With ``fence``, a token
        below the scope's highest is refused (Fenced) and nothing is written;
        the bootstrap calls below fence the same way.
        """

    @abc.abstractmethod
    async def begin_bootstrap(self, index: str, shard: int, *, fence: Fence | None = None) -> None:
        """begin_bootstrap empties a follower shard before a snapshot is copied in."""

    @abc.abstractmethod
    async def apply_snapshot(
        self, index: str, shard: int, docs: Sequence[SnapshotDoc], *, fence: Fence | None = None
    ) -> None:
        """apply_snapshot writes a batch of snapshot documents with their leader seq_nos."""

    @abc.abstractmethod
    async def finish_bootstrap(
        self, index: str, shard: int, seq_no: int, *, fence: Fence | None = None
    ) -> None:
        """finish_bootstrap sets the follower checkpoint to the snapshot's seq_no."""
