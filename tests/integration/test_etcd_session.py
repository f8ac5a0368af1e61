"""Session on a real etcd: keepalive, close versus orphan, loss detection, local deadline."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable

import aetcd
import pytest

from ferry.errors import InvalidArgument, SessionLost
from ferry.etcd import Keys, Session
from tests.helpers import eventually

OpenSession = Callable[..., Awaitable[Session]]


@pytest.fixture
async def open_session(etcd_client: aetcd.Client) -> AsyncIterator[OpenSession]:
    """open_session starts sessions and closes every one at teardown (close is idempotent)."""
    opened: list[Session] = []

    async def open_(**kwargs: object) -> Session:
        session = await Session(etcd_client, **kwargs).start()  # type: ignore[arg-type]
        opened.append(session)
        return session

    yield open_
    for session in opened:
        await session.close()


async def lease_ttl(client: aetcd.Client, lease_id: int) -> int:
    """lease_ttl is etcd's remaining TTL of the lease; -1 once it is gone."""
    return int((await client.get_lease_info(lease_id, keys=False)).TTL)


async def test_keepalive_holds_the_lease_past_several_ttls(
    etcd_client: aetcd.Client, open_session: OpenSession
) -> None:
    renewals: list[float] = []
    session = await open_session(ttl=2, on_renewal=renewals.append)
    started = time.monotonic()
    observed: list[int] = []

    async def lease_held_past_three_ttls() -> bool:
        observed.append(await lease_ttl(etcd_client, session.lease_id))
        assert observed[-1] > 0, f"lease expired after {time.monotonic() - started:.1f}s"
        return time.monotonic() - started > 3 * session.ttl

    await eventually(lease_held_past_three_ttls, timeout=15, interval=0.2, what="3 x TTL")

    assert min(observed) > 0, observed
    assert session.alive
    assert not session.done.is_set()
    assert len(renewals) >= 3, renewals


async def test_close_revokes_the_lease_and_deletes_its_keys(
    etcd_client: aetcd.Client, keys: Keys, open_session: OpenSession
) -> None:
    session = await open_session(ttl=5)
    key = keys.member("agents", "a1").encode()
    await etcd_client.put(key, b"here", lease=session.lease_id)
    assert await lease_ttl(etcd_client, session.lease_id) > 0

    await session.close()

    assert await lease_ttl(etcd_client, session.lease_id) == -1
    assert await etcd_client.get(key) is None
    assert session.done.is_set()
    assert not session.alive
    assert session.lost_reason == "closed"
    with pytest.raises(SessionLost):
        session.check()
    await session.close()  # a second close is harmless
    assert session.done.is_set()


async def test_async_with_closes_the_session(etcd_client: aetcd.Client, keys: Keys) -> None:
    key = keys.member("agents", "ctx").encode()
    async with Session(etcd_client, ttl=5) as session:
        assert session.alive
        await etcd_client.put(key, b"here", lease=session.lease_id)
    assert session.done.is_set()
    assert await etcd_client.get(key) is None
    assert await lease_ttl(etcd_client, session.lease_id) == -1


async def test_orphan_stops_renewing_and_the_lease_expires_by_itself(
    etcd_client: aetcd.Client, keys: Keys, open_session: OpenSession
) -> None:
    session = await open_session(ttl=2)
    key = keys.member("agents", "orphan").encode()
    await etcd_client.put(key, b"here", lease=session.lease_id)

    await session.orphan()

    assert session.done.is_set()
    assert session.lost_reason == "orphaned"
    assert await lease_ttl(etcd_client, session.lease_id) > 0
    assert await etcd_client.get(key) is not None

    async def lease_gone() -> bool:
        return await lease_ttl(etcd_client, session.lease_id) == -1

    await eventually(lease_gone, timeout=session.ttl + 5, what="orphaned lease to expire")
    assert await etcd_client.get(key) is None


async def test_lease_revoked_behind_the_session_is_detected(
    etcd_client: aetcd.Client, open_session: OpenSession
) -> None:
    session = await open_session(ttl=2)
    assert session.alive

    await etcd_client.revoke_lease(session.lease_id)

    async def done() -> bool:
        return session.done.is_set()

    await eventually(done, timeout=5, what="session to notice the revoked lease")
    assert "expired" in session.lost_reason
    assert not session.alive
    with pytest.raises(SessionLost, match="expired"):
        session.check()


class FakeClock:
    """FakeClock is a monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_local_deadline_ends_the_session_before_etcd_does(
    etcd_client: aetcd.Client, open_session: OpenSession
) -> None:
    clock = FakeClock()
    renewed_at: list[float] = []
    session = await open_session(
        ttl=3, deadline=2, clock=clock, on_renewal=lambda _took: renewed_at.append(clock.now)
    )

    # Move the clock by less than the deadline, then wait for a renewal sent at
    # the new time: from then on the deadline counts from that renewal.
    renewal = clock.now = 1001.0

    async def renewed_at_new_time() -> bool:
        return renewal in renewed_at and session.remaining() == pytest.approx(session.deadline)

    await eventually(renewed_at_new_time, timeout=5, what="a renewal at the moved clock")
    clock.now = renewal + session.deadline - 0.01
    assert session.alive, session.remaining()
    session.check()

    clock.now = renewal + session.deadline + 0.01
    assert not session.alive, (session.remaining(), renewed_at)
    with pytest.raises(SessionLost, match="deadline"):
        session.check()
    assert session.done.is_set()
    assert "deadline" in session.lost_reason
    assert session.remaining() == 0.0
    # etcd still holds the lease: the session stopped first, as it must.
    assert await lease_ttl(etcd_client, session.lease_id) > 0


async def test_default_deadline_is_shorter_than_the_ttl(etcd_client: aetcd.Client) -> None:
    session = Session(etcd_client, ttl=10)
    assert 0 < session.deadline < session.ttl
    assert session.keepalive_interval < session.deadline


@pytest.mark.parametrize("ttl", [0, 1, 1.9])
async def test_ttl_below_minimum_is_invalid(etcd_client: aetcd.Client, ttl: float) -> None:
    with pytest.raises(InvalidArgument) as err:
        Session(etcd_client, ttl=ttl)
    assert [v.field for v in err.value.violations] == ["lease_ttl"]


@pytest.mark.parametrize("deadline", [3, 4, 0, -1])
async def test_deadline_outside_zero_and_ttl_is_invalid(
    etcd_client: aetcd.Client, deadline: float
) -> None:
    with pytest.raises(InvalidArgument) as err:
        Session(etcd_client, ttl=3, deadline=deadline)
    assert [v.field for v in err.value.violations] == ["lease_deadline"]
