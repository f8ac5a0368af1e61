"""Claim: fenced ownership of one resource (a task, a shard) under a session lease.

A claim key is created in a transaction only if absent, attached to the
claimer's session lease. Its create revision is the owner's **fencing token**:
a later owner necessarily gets a higher one. Every write an owner makes on the
strength of its claim goes through :meth:`Claim.guarded`, which adds
``Compare(CreateRevision(claim) == token)``: once the claim has expired or
been taken over, the write is refused instead of clobbering the new owner's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import aetcd

from ferry.errors import FailedPrecondition, Fenced
from ferry.etcd.session import Session

log = logging.getLogger(__name__)


class ClaimTaken(FailedPrecondition):
    """ClaimTaken says somebody else holds the claim; ``holder`` is its value."""

    def __init__(self, key: str, holder: bytes, token: int) -> None:
        super().__init__(f"claim: {key} is held (token {token})", type="CLAIMED", subject=key)
        self.holder = holder
        self.token = token


@dataclass(frozen=True)
class Claim:
    """Claim is a held claim: its key, its fencing token and the lease it lives under."""

    key: str
    token: int
    lease_id: int
    value: bytes = b""

    def guard(self, client: aetcd.Client) -> aetcd.transactions.BaseCompare:
        """guard is the Compare that holds only while this claim is still the owner."""
        return client.transactions.create(self.key) == self.token

    async def guarded(
        self,
        client: aetcd.Client,
        success: list[Any],
        *,
        compare: list[Any] | None = None,
    ) -> list[Any]:
        """guarded runs ``success`` in one transaction only while the claim holds.

        Raises :class:`~ferry.errors.Fenced` when the claim was lost or taken over
        (or when an extra ``compare`` fails), returning nothing written.
        """
        ok, responses = await client.transaction(
            compare=[self.guard(client), *(compare or [])], success=success, failure=[]
        )
        if not ok:
            raise Fenced(self.key, f"token {self.token}")
        return list(responses)

    async def release(self, client: aetcd.Client) -> bool:
        """release deletes the claim key if it is still ours; False if it was not."""
        ok, _ = await client.transaction(
            compare=[self.guard(client)],
            success=[client.transactions.delete(self.key.encode())],
            failure=[],
        )
        return bool(ok)


async def acquire(client: aetcd.Client, session: Session, key: str, value: bytes = b"") -> Claim:
    """acquire creates the claim key under the session's lease if nobody holds it.

    Returns the held :class:`Claim`; raises :class:`ClaimTaken` naming the
    current holder otherwise. Edge case: a second acquire by the same session
    also gets ClaimTaken — claims are not re-entrant.
    """
    session.check()
    tx = client.transactions
    ok, responses = await client.transaction(
        compare=[tx.create(key) == 0],
        success=[tx.put(key.encode(), value, lease=session.lease_id)],
        failure=[tx.get(key.encode())],
    )
    if ok:
        token = responses[0].response_put.header.revision
        return Claim(key=key, token=token, lease_id=session.lease_id, value=value)
    held = responses[0]
    if not held:  # deleted between compare and get cannot happen in one txn; be explicit
        raise ClaimTaken(key, b"", 0)
    holder_value, meta = held[0]
    raise ClaimTaken(key, holder_value, meta.create_revision)


async def holder(client: aetcd.Client, key: str) -> Claim | None:
    """holder returns the claim currently held on key, or None."""
    got = await client.get(key.encode())
    if got is None:
        return None
    return Claim(key=key, token=got.create_revision, lease_id=got.lease, value=got.value)
