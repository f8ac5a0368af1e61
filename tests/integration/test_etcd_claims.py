"""Claims on a real etcd: one winner among racers, fencing tokens refuse stale writes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aetcd
import pytest

from ferry.errors import Fenced, SessionLost
from ferry.etcd import Claim, ClaimTaken, Keys, Session, acquire, holder

OpenSession = Callable[[], Awaitable[Session]]


@pytest.fixture
async def open_session(etcd_client: aetcd.Client) -> AsyncIterator[OpenSession]:
    """open_session starts sessions on the shared client and closes every one at teardown."""
    opened: list[Session] = []

    async def open_() -> Session:
        session = await Session(etcd_client, ttl=5).start()
        opened.append(session)
        return session

    yield open_
    await asyncio.gather(*(s.close() for s in opened))


async def test_twenty_concurrent_claimers_one_wins(
    etcd_client: aetcd.Client, keys: Keys, open_session: OpenSession
) -> None:
    key = keys.claim("task", "race")
    sessions = [await open_session() for _ in range(20)]

    results = await asyncio.gather(
        *(acquire(etcd_client, s, key, f"claimer-{i}".encode()) for i, s in enumerate(sessions)),
        return_exceptions=True,
    )

    winners = [r for r in results if isinstance(r, Claim)]
    losers = [r for r in results if isinstance(r, ClaimTaken)]
    assert len(winners) == 1, results
    assert len(losers) == 19, results
    winner = winners[0]
    assert {loser.token for loser in losers} == {winner.token}
    assert {loser.holder for loser in losers} == {winner.value}
    stored = await holder(etcd_client, key)
    assert stored is not None
    assert (stored.token, stored.value, stored.lease_id) == (
        winner.token,
        winner.value,
        winner.lease_id,
    )


async def test_second_acquire_by_the_same_session_is_taken(
    etcd_client: aetcd.Client, keys: Keys, open_session: OpenSession
) -> None:
    session = await open_session()
    key = keys.claim("task", "reentrant")
    claim = await acquire(etcd_client, session, key, b"me")

    with pytest.raises(ClaimTaken) as taken:
        await acquire(etcd_client, session, key, b"me-again")
    assert taken.value.token == claim.token
    assert taken.value.holder == b"me"


async def test_stale_token_write_is_fenced(
    etcd_client: aetcd.Client, keys: Keys, open_session: OpenSession
) -> None:
    key = keys.claim("shard", "s0")
    guarded_key = keys.checkpoint("conn", "s0")
    session_a = await open_session()
    claim_a = await acquire(etcd_client, session_a, key, b"a")
    await session_a.close()
    session_b = await open_session()
    claim_b = await acquire(etcd_client, session_b, key, b"b")
    assert claim_b.token > claim_a.token
    tx = etcd_client.transactions

    with pytest.raises(Fenced) as fenced:
        await claim_a.guarded(etcd_client, [tx.put(guarded_key.encode(), b"from-a")])
    assert fenced.value.subject == key
    assert await etcd_client.get(guarded_key.encode()) is None

    await claim_b.guarded(etcd_client, [tx.put(guarded_key.encode(), b"from-b")])
    written = await etcd_client.get(guarded_key.encode())
    assert written is not None and written.value == b"from-b"

    assert await claim_a.release(etcd_client) is False
    still = await holder(etcd_client, key)
    assert still is not None and still.token == claim_b.token
    assert await claim_b.release(etcd_client) is True
    assert await holder(etcd_client, key) is None


async def test_guarded_extra_compare_failure_is_fenced(
    etcd_client: aetcd.Client, keys: Keys, open_session: OpenSession
) -> None:
    session = await open_session()
    claim = await acquire(etcd_client, session, keys.claim("shard", "s1"))
    target = keys.checkpoint("conn", "s1")
    tx = etcd_client.transactions

    with pytest.raises(Fenced):
        await claim.guarded(
            etcd_client,
            [tx.put(target.encode(), b"x")],
            compare=[tx.value(target) == b"never-written"],
        )
    assert await etcd_client.get(target.encode()) is None


async def test_claim_vanishes_with_its_session_and_tokens_increase(
    etcd_client: aetcd.Client, keys: Keys, open_session: OpenSession
) -> None:
    key = keys.claim("task", "handover")
    tokens: list[int] = []
    for owner in range(4):
        session = await open_session()
        claim = await acquire(etcd_client, session, key, f"owner-{owner}".encode())
        stored = await holder(etcd_client, key)
        assert stored is not None and stored.token == claim.token
        assert stored.lease_id == session.lease_id
        tokens.append(claim.token)
        await session.close()
        assert await holder(etcd_client, key) is None
    assert tokens == sorted(tokens)
    assert len(set(tokens)) == len(tokens)


async def test_acquire_with_a_lost_session_is_refused(
    etcd_client: aetcd.Client, keys: Keys, open_session: OpenSession
) -> None:
    session = await open_session()
    await session.orphan()
    key = keys.claim("task", "lost")

    with pytest.raises(SessionLost):
        await acquire(etcd_client, session, key)
    assert await holder(etcd_client, key) is None
