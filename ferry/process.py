"""MemberProcess: the shared wiring of agents and replicators.

Both register themselves in etcd under their session lease (and disappear
when killed, once the lease expires), serve their own small status API plus
health and reflection, and report NOT_SERVING when etcd is unreachable or
their session is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ferry import etcd, logs, telemetry
from ferry.config import ServiceConfig
from ferry.errors import FerryError, Unavailable
from ferry.etcd import Keys, Session
from ferry.member import Membership
from ferry.metrics import MetricsServer
from ferry.security import Security, etcd_tls
from ferry.server import GrpcServer, HealthMonitor, run_service
from ferry.store import Store, open_store

log = logging.getLogger(__name__)

Registration = tuple[Callable[[Any, Any], None], Any, str]


async def start_store(store: Store, url: str) -> None:
    """start_store opens ``store`` (built from ``url``); a driver's own error (OSError,
    sqlite3, asyncpg) becomes Unavailable naming store_url and the URL, password hidden."""
    try:
        await store.start()
    except FerryError:
        raise
    except Exception as exc:  # any driver's error, re-raised in Ferry's vocabulary
        where = _without_password(url)
        raise Unavailable(f"store_url: cannot open the index store {where}: {exc}") from exc


def _without_password(url: str) -> str:
    """_without_password is url fit for a log line: its password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


class MemberProcess:
    """MemberProcess runs a role's servicers and keeps it registered under ``key``.

    Subclasses set ``role`` and implement :meth:`registration` (the stored
    info) and :meth:`servicers`. ``store`` is the index store of
    ``config.store_url`` (None without one), opened before anything serves
    and closed last.
    """

    role = "member"

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.id = config.member_id(self.role)
        self.keys = Keys(config.etcd_prefix)
        self.security = Security.from_config(config)
        self.client = etcd.connect(config.etcd_endpoints, tls=etcd_tls(config))
        # Built (not opened) here so that a bad URL fails before anything starts.
        self.store: Store | None = open_store(config.store_url) if config.store_url else None
        self.server = GrpcServer(
            config.listen, security=self.security, health_listen=config.health_listen
        )
        self.address = ""
        self.membership = Membership(
            self.client,
            self.member_key(),
            self.registration,
            ttl=config.lease_ttl,
            on_lost=self.on_session_lost,
        )
        self.health = HealthMonitor(self.server, self.membership.health_reason)
        self.metrics = MetricsServer(config.metrics_listen)

    def member_key(self) -> str:
        return self.keys.member(f"{self.role}s", self.id)

    def registration(self, session: Session) -> bytes:
        raise NotImplementedError

    def servicers(self) -> list[Registration]:
        raise NotImplementedError

    async def on_session_lost(self, session: Session) -> None:
        """on_session_lost stops fenced work at once (self-fencing); nothing to stop here yet."""
        log.warning("session lost", extra={"reason": session.lost_reason})

    async def start(self) -> None:
        await self.metrics.start()
        if self.store is not None:
            await start_store(self.store, self.config.store_url)
        for register, servicer, name in self.servicers():
            self.server.add(register, servicer, name)
        await self.server.start()
        self.address = self.config.advertise or self.server.address
        await self.membership.start()
        await self.health.start()
        log.info(f"{self.role} serving", extra={"address": self.address, "id": self.id})

    async def stop(self) -> None:
        await self.health.stop()
        await self.server.stop(self.config.grace_period)
        await self.membership.stop()
        await self.client.close()
        if self.store is not None:
            await self.store.stop()
        await self.metrics.stop()

    async def __aenter__(self) -> MemberProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def serve(self) -> None:
        """serve runs until SIGTERM/SIGINT, with JSON logs and tracing set up."""
        logs.configure(self.role, self.id, self.config.log_level)
        telemetry.setup_tracing(self.role)

        async def main(stop: asyncio.Event) -> None:
            try:
                await self.start()
                await stop.wait()
            finally:
                await self.stop()

        await run_service(main)
