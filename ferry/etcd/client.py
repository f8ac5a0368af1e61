"""Opening an etcd client from a list of endpoints."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aetcd
import grpc
from aetcd import rpc
from aetcd import watcher as aetcd_watcher

from ferry.errors import InvalidArgument, Unavailable
from ferry.security import ClientTls
from ferry.tasks import raise_if_cancelling

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 256 * 1024 * 1024

# Every etcd error that means "could not reach etcd in time".
CONNECTIVITY_ERRORS: tuple[type[BaseException], ...] = (
    aetcd.exceptions.ConnectionFailedError,
    aetcd.exceptions.ConnectionTimeoutError,
    asyncio.TimeoutError,
)


def parse_endpoints(endpoints: str | Sequence[str]) -> list[str]:
    """parse_endpoints accepts "h1:2379,h2:2379" or a list, with or without http://."""
    items = endpoints.split(",") if isinstance(endpoints, str) else list(endpoints)
    parsed = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        for scheme in ("http://", "https://"):
            item = item.removeprefix(scheme)
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise InvalidArgument.field("etcd_endpoints", f"{item!r} is not host:port")
        parsed.append(item)
    if not parsed:
        raise InvalidArgument.field("etcd_endpoints", "at least one endpoint is required")
    return parsed


@dataclass(frozen=True)
class EtcdStatus:
    """EtcdStatus is what a health probe learned about etcd."""

    healthy: bool
    version: str = ""
    revision: int = 0
    error: str = ""


class TlsClient(aetcd.Client):
    """TlsClient is aetcd's client over TLS (aetcd itself dials only plaintext).

    Its ``connect`` mirrors aetcd 1.0.0's (pinned) with a secure channel; etcd's
    own user/password authentication is not used (TLS client certificates are).
    """

    def __init__(self, *args: Any, tls: ClientTls, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tls = tls

    async def connect(self) -> None:
        if self._connected.is_set():
            return
        if self._is_connecting:  # type: ignore[has-type]
            await asyncio.wait_for(self._connected.wait(), self._connect_wait_timeout)
            return
        try:
            self._is_connecting = True
            target = f"{self._host}:{self._port}"
            self.channel = grpc.aio.secure_channel(
                target, self._tls.credentials(), options=list(self._options.items())
            )
            self.kvstub = rpc.KVStub(self.channel)
            self.clusterstub = rpc.ClusterStub(self.channel)
            self.leasestub = rpc.LeaseStub(self.channel)
            self.maintenancestub = rpc.MaintenanceStub(self.channel)
            self._watcher = aetcd_watcher.Watcher(
                rpc.WatchStub(self.channel), timeout=self._timeout, metadata=self.metadata
            )
            self._connected.set()
        finally:
            self._is_connecting = False


def connect(
    endpoints: str | Sequence[str], *, timeout: float = 5.0, tls: ClientTls | None = None
) -> aetcd.Client:
    """connect returns a client (connected lazily) for one or more endpoints.

    Several endpoints become one gRPC target ("ipv4:a:1,b:2") so the channel
    fails over between them; they must then be IP addresses. Unary calls time
    out after ``timeout`` seconds; watches and keepalives are unaffected. With
    ``tls`` the channel is TLS (server checked against its CA, client
    certificate presented when set).
    """
    eps = parse_endpoints(endpoints)
    options = {
        "grpc.keepalive_time_ms": 10_000,
        "grpc.keepalive_timeout_ms": 5_000,
        # The leader reads every job, task and assignment in one range; at 10k
        # tasks that is several MiB, beyond gRPC's 4 MiB default.
        "grpc.max_receive_message_length": MAX_RESPONSE_BYTES,
    }
    if len(eps) == 1:
        host, _, port = eps[0].rpartition(":")
    else:
        # aetcd formats "{host}:{port}"; give it the multi-address target.
        target = "ipv4:" + ",".join(eps)
        host, _, port = target.rpartition(":")
    if tls is not None:
        tls.credentials()  # a missing or unreadable file fails now, naming its setting
        return TlsClient(
            host=host, port=int(port), timeout=int(max(1, timeout)), options=options, tls=tls
        )
    return aetcd.Client(host=host, port=int(port), timeout=int(max(1, timeout)), options=options)


async def probe(client: aetcd.Client, *, within: float = 2.0) -> EtcdStatus:
    """probe asks etcd for its status; it never raises, except to pass on a cancellation
    (even one that surfaced as grpc's or a timeout's error)."""
    try:
        await client.connect()
        async with asyncio.timeout(within):
            resp = await client.maintenancestub.Status(rpc.StatusRequest(), timeout=within)
        return EtcdStatus(True, version=resp.version, revision=resp.header.revision)
    except Exception as exc:  # noqa: BLE001 — a probe reports, it does not raise
        raise_if_cancelling()
        return EtcdStatus(False, error=_describe(exc))


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, TimeoutError) and not text:
        text = "no answer in time"
    return f"{type(exc).__name__}: {text}"


def unavailable(exc: BaseException) -> Unavailable:
    """unavailable wraps an etcd connectivity error into Ferry's vocabulary."""
    return Unavailable(f"etcd unavailable: {_describe(exc)}")


async def range_request(client: aetcd.Client, request: rpc.RangeRequest) -> rpc.RangeResponse:
    """range_request sends a raw Range (for options aetcd does not expose), with aetcd's errors."""
    await client.connect()
    try:
        return await client.kvstub.Range(request, timeout=client._timeout, metadata=client.metadata)
    except rpc.AioRpcError as exc:
        aetcd.exceptions._handle_exception(exc)
        raise  # unreachable: _handle_exception always raises


WATCH_CANCEL_TIMEOUT = 2.0


async def cancel_watch(watch: Any, *, within: float = WATCH_CANCEL_TIMEOUT) -> None:
    """cancel_watch cancels an aetcd watch, giving up after ``within`` seconds.

    aetcd's cancel sends a cancel request on the shared watch stream and waits
    for etcd's answer; on a stream that broke, or a client being closed, that
    answer never comes and a shutdown would hang on it. The watch is dropped
    either way, and closing the client ends the stream.
    """
    try:
        async with asyncio.timeout(within):
            await watch.cancel()
    except CONNECTIVITY_ERRORS as exc:  # TimeoutError is one of them
        log.debug("watch cancel did not complete", extra={"error": repr(exc)})
