"""Retention leases as the leader side of replication keeps them: renewed, never moved back.

The store's put_retention_lease sets a lease where it is told. A follower's
lease must never move backwards (history the follower no longer needs stays
released), so renewals read the lease first and keep the higher seq_no.
"""

from __future__ import annotations

from datetime import timedelta

from ferry.store import HistoryTrimmed, RetentionLease, Store

RETRIES = 3
"""RETRIES bounds how often renew_lease(within_history=True) chases a history trimmed under
it."""


async def current_lease(
    store: Store, index: str, shard: int, lease_id: str
) -> RetentionLease | None:
    """current_lease is the stored lease, or None."""
    for lease in await store.retention_leases(index):
        if lease.shard == shard and lease.lease_id == lease_id:
            return lease
    return None


async def renew_lease(
    store: Store,
    index: str,
    shard: int,
    lease_id: str,
    retaining_seq_no: int,
    *,
    ttl: timedelta,
    source: str = "",
    within_history: bool = False,
) -> RetentionLease:
    """renew_lease adds a lease at retaining_seq_no, or renews one and moves it up to it.

    A lower retaining_seq_no only renews the lease. An empty ``source`` keeps
    the lease's own. HistoryTrimmed when a new lease asks for trimmed history,
    unless ``within_history`` (a lease a stream holds, which had expired or was
    removed meanwhile): then it holds what is left. Two renewals racing (read,
    then put) may leave the lower of their two seq_nos: that only keeps more
    history, never less.
    """
    retries = RETRIES if within_history else 0
    while True:
        lease = await current_lease(store, index, shard, lease_id)
        if lease is not None:
            retaining_seq_no = max(retaining_seq_no, lease.retaining_seq_no)
            source = source or lease.source
        try:
            return await store.put_retention_lease(
                index, shard, lease_id, retaining_seq_no, ttl=ttl, source=source
            )
        except HistoryTrimmed as exc:
            if retries == 0:
                raise
            retries -= 1
            retaining_seq_no = exc.min_retained_seq_no  # a trim may move it again meanwhile
