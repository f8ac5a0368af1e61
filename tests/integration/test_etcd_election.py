"""Election on a real etcd: one leader, served in campaign order, guards fence the deposed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import cast

import aetcd
import pytest

from ferry.errors import SessionLost
from ferry.etcd import Election, Keys, Leader, NotLeader, Session, current_leader, observe_leader
from tests.helpers import eventually

OpenSession = Callable[[], Awaitable[Session]]
WAIT = 10.0


@pytest.fixture
async def open_session(etcd_client: aetcd.Client) -> AsyncIterator[OpenSession]:
    """open_session starts sessions and closes every one at teardown (close is idempotent)."""
    opened: list[Session] = []

    async def open_() -> Session:
        session = await Session(etcd_client, ttl=5).start()
        opened.append(session)
        return session

    yield open_
    for session in opened:
        await session.close()


@pytest.fixture
async def tasks() -> AsyncIterator[list[asyncio.Task[int]]]:
    """tasks collects campaign tasks and cancels any left running at teardown."""
    started: list[asyncio.Task[int]] = []
    yield started
    for task in started:
        task.cancel()
    await asyncio.gather(*started, return_exceptions=True)


async def key_exists(client: aetcd.Client, key: str) -> None:
    async def exists() -> bool:
        return await client.get(key.encode()) is not None

    await eventually(exists, timeout=WAIT, what=f"{key} to exist")


async def start_campaign(
    client: aetcd.Client, election: Election, value: bytes, tasks: list[asyncio.Task[int]]
) -> asyncio.Task[int]:
    """start_campaign campaigns in the background and returns once the candidacy is queued."""
    task = asyncio.create_task(election.campaign(value))
    tasks.append(task)
    await key_exists(client, election.key)
    return task


async def test_candidates_lead_one_at_a_time_in_campaign_order(
    etcd_client: aetcd.Client,
    keys: Keys,
    open_session: OpenSession,
    tasks: list[asyncio.Task[int]],
) -> None:
    prefix = keys.election()
    sessions = [await open_session() for _ in range(3)]
    first, second, third = [Election(etcd_client, s, prefix) for s in sessions]
    epoch_1 = await asyncio.wait_for(first.campaign(b"one"), WAIT)
    second_task = await start_campaign(etcd_client, second, b"two", tasks)
    third_task = await start_campaign(etcd_client, third, b"three", tasks)

    leader = await current_leader(etcd_client, prefix)
    assert leader == Leader(first.key, b"one", epoch_1)
    assert await first.leader() == leader
    assert not second_task.done()
    assert not third_task.done()

    await first.resign()
    epoch_2 = await asyncio.wait_for(second_task, WAIT)
    assert epoch_2 > epoch_1
    assert await current_leader(etcd_client, prefix) == Leader(second.key, b"two", epoch_2)
    assert not third_task.done()

    await sessions[1].close()  # the lease goes, and with it the candidacy
    epoch_3 = await asyncio.wait_for(third_task, WAIT)
    assert epoch_3 > epoch_2
    assert await current_leader(etcd_client, prefix) == Leader(third.key, b"three", epoch_3)


async def test_no_leader_without_candidates(etcd_client: aetcd.Client, keys: Keys) -> None:
    assert await current_leader(etcd_client, keys.election("empty")) is None


async def test_campaign_again_keeps_the_place_and_updates_the_value(
    etcd_client: aetcd.Client, keys: Keys, open_session: OpenSession
) -> None:
    election = Election(etcd_client, await open_session(), keys.election())
    epoch = await asyncio.wait_for(election.campaign(b"v1"), WAIT)

    again = await asyncio.wait_for(election.campaign(b"v2"), WAIT)

    assert again == epoch
    assert await current_leader(etcd_client, election.prefix) == Leader(election.key, b"v2", epoch)


async def test_observe_leader_follows_changes(
    etcd_client: aetcd.Client,
    keys: Keys,
    open_session: OpenSession,
    tasks: list[asyncio.Task[int]],
) -> None:
    prefix = keys.election()
    first = Election(etcd_client, await open_session(), prefix)
    second = Election(etcd_client, await open_session(), prefix)
    epoch_1 = await asyncio.wait_for(first.campaign(b"one"), WAIT)
    second_task = await start_campaign(etcd_client, second, b"two", tasks)
    # observe_leader is an async generator; close it so its watch is cancelled.
    observed = cast(AsyncGenerator[Leader | None, None], observe_leader(etcd_client, prefix))
    try:
        assert await asyncio.wait_for(anext(observed), WAIT) == Leader(first.key, b"one", epoch_1)

        await first.resign()
        epoch_2 = await asyncio.wait_for(second_task, WAIT)
        assert await asyncio.wait_for(anext(observed), WAIT) == Leader(second.key, b"two", epoch_2)

        await second.resign()
        assert await asyncio.wait_for(anext(observed), WAIT) is None
    finally:
        await observed.aclose()


async def test_guard_of_a_deposed_leader_fails_in_a_transaction(
    etcd_client: aetcd.Client,
    keys: Keys,
    open_session: OpenSession,
    tasks: list[asyncio.Task[int]],
) -> None:
    prefix = keys.election()
    target = keys.connector("written-by-leader").encode()
    tx = etcd_client.transactions
    first_session = await open_session()
    first = Election(etcd_client, first_session, prefix)
    second = Election(etcd_client, await open_session(), prefix)
    await asyncio.wait_for(first.campaign(b"one"), WAIT)
    second_task = await start_campaign(etcd_client, second, b"two", tasks)

    ok, _ = await etcd_client.transaction(
        compare=[first.guard()], success=[tx.put(target, b"one")], failure=[]
    )
    assert ok

    # Depose the first leader behind its back: its lease is revoked, the second takes over.
    await etcd_client.revoke_lease(first_session.lease_id)
    await asyncio.wait_for(second_task, WAIT)

    ok, _ = await etcd_client.transaction(
        compare=[first.guard()], success=[tx.put(target, b"stale")], failure=[]
    )
    assert not ok
    written = await etcd_client.get(target)
    assert written is not None and written.value == b"one"

    ok, _ = await etcd_client.transaction(
        compare=[second.guard()], success=[tx.put(target, b"two")], failure=[]
    )
    assert ok


async def test_guard_after_resign_raises_not_leader(
    etcd_client: aetcd.Client, keys: Keys, open_session: OpenSession
) -> None:
    election = Election(etcd_client, await open_session(), keys.election())
    with pytest.raises(NotLeader):
        election.guard()
    await asyncio.wait_for(election.campaign(b"one"), WAIT)
    election.guard()

    await election.resign()

    with pytest.raises(NotLeader):
        election.guard()
    assert await current_leader(etcd_client, election.prefix) is None
    await election.resign()  # resigning twice is a no-op


async def test_campaign_raises_session_lost_when_the_session_ends_while_waiting(
    etcd_client: aetcd.Client,
    keys: Keys,
    open_session: OpenSession,
    tasks: list[asyncio.Task[int]],
) -> None:
    prefix = keys.election()
    leader = Election(etcd_client, await open_session(), prefix)
    waiting_session = await open_session()
    waiting = Election(etcd_client, waiting_session, prefix)
    await asyncio.wait_for(leader.campaign(b"leader"), WAIT)
    waiting_task = await start_campaign(etcd_client, waiting, b"waiting", tasks)
    assert not waiting_task.done()

    # Orphan keeps the lease (and so the key) alive: only the campaign can clean up.
    await waiting_session.orphan()

    with pytest.raises(SessionLost):
        await asyncio.wait_for(waiting_task, WAIT)
    assert await etcd_client.get(waiting.key.encode()) is None
    info = await etcd_client.get_lease_info(waiting_session.lease_id, keys=False)
    assert info.TTL > 0
    assert (await current_leader(etcd_client, prefix)) == Leader(
        leader.key, b"leader", leader.epoch
    )
