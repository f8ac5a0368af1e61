"""Membership: a process registered in etcd under a live session, across session losses.

Agents, replicators and coordinators each register a key under their session
lease (so it disappears when the process dies). When the session is lost —
etcd unreachable past the local deadline, a long pause — :class:`Membership`
tells the owner (``on_lost``) so it can stop its fenced work at once, then
opens a new session and registers again, backing off while etcd is away.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aetcd
from google.protobuf import json_format, timestamp_pb2
from google.protobuf.message import Message

from ferry.etcd import Session, probe
from ferry.tasks import cancel_and_wait, raise_if_cancelling, wait_event

log = logging.getLogger(__name__)


class Membership:
    """Membership keeps ``key`` registered with ``value()`` under a live session.

    ``session`` is the current session (None between sessions). ``ready`` is
    set while registered. ``on_session`` runs after each new registration,
    ``on_lost`` as soon as a session is lost (before any re-registration).
    """

    def __init__(
        self,
        client: aetcd.Client,
        key: str,
        value: Callable[[Session], bytes],
        *,
        ttl: float,
        on_session: Callable[[Session], Awaitable[None]] | None = None,
        on_lost: Callable[[Session], Awaitable[None]] | None = None,
        on_renewal: Callable[[float], None] | None = None,
        max_backoff: float = 2.0,
    ) -> None:
        self._client = client
        self.key = key
        self._value = value
        self._ttl = ttl
        self._on_session = on_session
        self._on_lost = on_lost
        self._on_renewal = on_renewal
        self._max_backoff = max_backoff
        self.session: Session | None = None
        self.ready = asyncio.Event()
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self.session is not None and self.session.alive

    async def health_reason(self) -> str:
        """health_reason is "" while etcd answers and the session lives, else why not."""
        status = await probe(self._client)
        if not status.healthy:
            return f"etcd unreachable: {status.error}"
        if not self.alive:
            return "no etcd session"
        return ""

    async def live_session(self) -> Session:
        """live_session waits until this member is registered and returns its session,
        alive when returned (it may be lost the next moment: watch its ``done``)."""
        while True:
            await self.ready.wait()
            session = self.session
            if session is not None and session.alive:
                return session
            await asyncio.sleep(0.05)  # lost, and ``ready`` not yet cleared

    async def each_session(self, body: Callable[[Session], Awaitable[None]], what: str) -> None:
        """each_session runs ``body`` with every live session, for ever: when it fails
        (etcd trouble) it is logged as ``what`` and run again half a second later."""
        while True:
            session = await self.live_session()
            try:
                await body(session)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 — etcd trouble: run it again
                raise_if_cancelling()
                log.warning(f"{what} failed; again", extra={"error": repr(exc)})
                await asyncio.sleep(0.5)

    async def start(self) -> None:
        """start begins registering in the background; wait on ``ready`` if needed."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"membership {self.key}")

    async def refresh(self) -> None:
        """refresh rewrites the registration value (e.g. after a state change)."""
        session = self.session
        if session is not None and session.alive:
            await self._client.put(self.key.encode(), self._value(session), lease=session.lease_id)

    async def _run(self) -> None:
        backoff = 0.1
        while not self._closing.is_set():
            session = Session(self._client, ttl=self._ttl, on_renewal=self._on_renewal)
            try:
                await session.start()
                await self._client.put(
                    self.key.encode(), self._value(session), lease=session.lease_id
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 — etcd away: back off and retry
                raise_if_cancelling()
                log.warning("registration failed", extra={"key": self.key, "error": repr(exc)})
                await session.orphan()
                await self._pause(backoff)
                backoff = min(self._max_backoff, backoff * 2)
                continue
            backoff = 0.1
            self.session = session
            self.ready.set()
            log.info("registered", extra={"key": self.key, "lease_id": f"{session.lease_id:x}"})
            if self._on_session is not None:
                await self._on_session(session)
            closing = asyncio.create_task(self._closing.wait())
            lost = asyncio.create_task(session.done.wait())
            try:
                await asyncio.wait({closing, lost}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                closing.cancel()
                lost.cancel()
            self.ready.clear()
            self.session = None
            if self._on_lost is not None:
                await self._on_lost(session)
            if self._closing.is_set():
                await session.close()
                return
            await session.close()  # revoke best-effort so our keys go at once

    async def _pause(self, seconds: float) -> None:
        await wait_event(self._closing, seconds * (0.5 + random.random()))

    async def stop(self) -> None:
        """stop deregisters (revoking the lease) and ends the background task; idempotent."""
        self._closing.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=self._ttl)
        except TimeoutError:
            await cancel_and_wait(task)


M = TypeVar("M", bound=Message)


def encode_info(info: Message) -> bytes:
    """encode_info is how a member's info message is stored (JSON: readable with etcdctl)."""
    return json_format.MessageToJson(info, indent=None, preserving_proto_field_name=True).encode()


def decode_info(value: bytes, message: M) -> M:
    """decode_info parses a stored member info into ``message`` (unknown fields ignored)."""
    return json_format.Parse(value, message, ignore_unknown_fields=True)


def now_timestamp() -> timestamp_pb2.Timestamp:
    """now_timestamp is the current time as a protobuf Timestamp."""
    ts = timestamp_pb2.Timestamp()
    ts.GetCurrentTime()
    return ts
