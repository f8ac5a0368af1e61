"""Hosting a Ferry service: gRPC server, health, reflection, tracing, errors, signals.

Every service process (coordinator, agent, replicator) is built the same way:
a :class:`GrpcServer` hosting thin servicers, a :class:`HealthMonitor`
driving ``grpc.health.v1`` from real state, and :func:`run_service` handling
SIGTERM (first: graceful, second: exit now) and SIGHUP (reload).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from ferry import auth, telemetry
from ferry.errors import FerryError, InvalidArgument, PermissionDenied
from ferry.etcd.client import CONNECTIVITY_ERRORS, unavailable
from ferry.security import Security
from ferry.tasks import cancel_and_wait

log = logging.getLogger(__name__)

LIVENESS = "liveness"
"""LIVENESS is the health service name that reports only that the process is alive."""

DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024
"""DEFAULT_MAX_REQUEST_BYTES is gRPC's own default limit on a received message."""


def _status(exc: FerryError) -> grpc.Status:
    return rpc_status.to_status(exc.to_status())


async def _abort(context: grpc.aio.ServicerContext, exc: FerryError) -> None:
    """_abort ends the RPC with exc's rich status.

    It calls ``abort`` rather than ``abort_with_status``: the tracing
    interceptor wraps the context and records the status code only in
    ``abort``, which ``abort_with_status`` bypasses on the wrapped object.
    """
    status = _status(exc)
    await context.abort(status.code, status.details, status.trailing_metadata)


async def _fail(exc: Exception, context: grpc.aio.ServicerContext, method: str) -> None:
    """_fail ends the RPC: a FerryError with its own status, etcd trouble as UNAVAILABLE,
    anything else as INTERNAL."""
    if isinstance(exc, CONNECTIVITY_ERRORS):
        exc = unavailable(exc)
    if isinstance(exc, FerryError):
        if exc.code != grpc.StatusCode.UNIMPLEMENTED:
            log.info("rpc failed", extra={"method": method, "error": exc.message})
        await _abort(context, exc)
    log.exception("rpc crashed", extra={"method": method})
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method}: {exc!r}")


def _decoder(deserializer: Callable[[bytes], Any] | None, method: str) -> Callable[[Any], Any]:
    """_decoder parses a request inside the guard, so that bytes which do not decode (corrupt,
    not UTF-8, nested past protobuf's depth limit) are INVALID_ARGUMENT, not grpc's UNKNOWN."""
    if deserializer is None:
        return lambda raw: raw

    def decode(raw: Any) -> Any:
        try:
            return deserializer(raw)
        except DecodeError as exc:
            raise InvalidArgument.field(
                "request", f"cannot be decoded as the request of {method}: {exc}"
            ) from None

    return decode


async def _decoded(
    requests: AsyncIterator[Any], decode: Callable[[Any], Any]
) -> AsyncIterator[Any]:
    async for raw in requests:
        yield decode(raw)


def _guard_unary(inner: Any, method: str, decode: Callable[[Any], Any]) -> Any:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await inner(decode(request), context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001 — _fail turns it into a status
            await _fail(exc, context, method)

    return call


def _guard_stream(inner: Any, method: str, decode: Callable[[Any], Any]) -> Any:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            async for item in inner(decode(request), context):
                yield item
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001 — _fail turns it into a status
            await _fail(exc, context, method)

    return call


def _wrap(handler: Any, method: str) -> Any:
    """_wrap turns exceptions raised by a handler, and requests that do not decode, into rich
    gRPC statuses: the handler gets raw bytes from grpc and decodes them in its guard."""
    one = _decoder(handler.request_deserializer, method)

    def stream(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
        return _decoded(requests, one)

    raw = (None, handler.response_serializer)
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            _guard_unary(handler.unary_unary, method, one), *raw
        )
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            _guard_unary(handler.stream_unary, method, stream), *raw
        )
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            _guard_stream(handler.unary_stream, method, one), *raw
        )
    if handler.stream_stream:
        return grpc.stream_stream_rpc_method_handler(
            _guard_stream(handler.stream_stream, method, stream), *raw
        )
    return handler


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """ErrorInterceptor maps FerryError to its status with google.rpc details."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        return _wrap(handler, handler_call_details.method)


def _refusing(handler: Any, exc: FerryError) -> Any:
    """_refusing is a handler of the same shape as ``handler`` that fails every call with exc."""

    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await _abort(context, exc)

    async def refuse_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        await _abort(context, exc)
        yield  # pragma: no cover — makes this an async generator

    deserialize = handler.request_deserializer
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(refuse, deserialize)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(refuse, deserialize)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(refuse_stream, deserialize)
    return grpc.stream_stream_rpc_method_handler(refuse_stream, deserialize)


def _open(method: str) -> bool:
    """_open: health and reflection need neither a token nor write access."""
    return method.startswith(auth.OPEN_PREFIXES)


class _Gate(grpc.aio.ServerInterceptor):
    """_Gate refuses a call when :meth:`refusal` says why; health and reflection always pass."""

    def refusal(self, method: str, metadata: Any) -> FerryError | None:
        raise NotImplementedError

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        method = handler_call_details.method
        handler = await continuation(handler_call_details)
        if handler is None or _open(method):
            return handler
        refused = self.refusal(method, handler_call_details.invocation_metadata)
        return handler if refused is None else _refusing(handler, refused)


class ReadOnlyInterceptor(_Gate):
    """ReadOnlyInterceptor refuses every RPC not in ``allowed`` with PERMISSION_DENIED.

    ``allowed`` holds full method names ("/ferry.v1.Connectors/Get").
    """

    def __init__(self, allowed: Iterable[str] = auth.READ_METHODS) -> None:
        self.allowed = frozenset(allowed)

    def refusal(self, method: str, metadata: Any) -> FerryError | None:
        if method in self.allowed:
            return None
        return PermissionDenied(f"read-only mode: {method} would change state and is refused")


class AuthInterceptor(_Gate):
    """AuthInterceptor lets a call through only with a bearer token whose role may call the
    method (:mod:`ferry.auth`): UNAUTHENTICATED without a known token, PERMISSION_DENIED
    when the role is too weak."""

    def __init__(self, tokens: auth.TokenFile) -> None:
        self.tokens = tokens

    def refusal(self, method: str, metadata: Any) -> FerryError | None:
        try:
            auth.check(self.tokens, method, auth.bearer(metadata))
        except FerryError as exc:
            log.info("rpc refused", extra={"method": method, "error": exc.message})
            return exc
        return None


class GrpcServer:
    """GrpcServer hosts servicers with health, reflection, tracing, error mapping, and the
    TLS and token checks of ``security``.

    Register servicers with :meth:`add` before :meth:`start`. ``port`` is
    known after start (useful with port 0). A request larger than
    ``max_request_bytes`` is refused with RESOURCE_EXHAUSTED before any servicer sees it.
    """

    def __init__(
        self,
        listen: str,
        *,
        interceptors: Iterable[grpc.aio.ServerInterceptor] = (),
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        security: Security | None = None,
        health_listen: str = "",
    ) -> None:
        self.listen = listen
        self.health_listen = health_listen
        self.max_request_bytes = max_request_bytes
        self.security = security or Security()
        self.health = HealthServicer()
        self._services: list[str] = []
        # Auth comes after tracing (refused calls are traced) and before the rest (a caller
        # without a token learns nothing else, not even that the server is read-only).
        checks = [AuthInterceptor(self.security.tokens)] if self.security.tokens else []
        self._server = grpc.aio.server(
            interceptors=[
                *telemetry.server_interceptors(),
                ErrorInterceptor(),
                *checks,
                *interceptors,
            ],
            options=[
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", max_request_bytes),
            ],
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        self.port = 0
        self._health_server: grpc.aio.Server | None = None
        self.health_port = 0

    def add(
        self, register: Callable[[Any, grpc.aio.Server], None], servicer: Any, name: str
    ) -> None:
        """add registers a servicer; ``name`` is its full service name ("ferry.v1.Jobs")."""
        register(servicer, self._server)
        self._services.append(name)

    @property
    def services(self) -> list[str]:
        return list(self._services)

    async def start(self) -> int:
        """start binds, enables reflection and begins serving; returns the bound port."""
        names = [*self._services, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
        reflection.enable_server_reflection([*names, reflection.SERVICE_NAME], self._server)
        tls = self.security.server_tls
        if tls is None:
            self.port = self._server.add_insecure_port(self.listen)
        else:
            self.port = self._server.add_secure_port(self.listen, tls.credentials())
        if not self.port:
            raise OSError(f"cannot bind gRPC server to {self.listen}")
        await self._server.start()
        if self.health_listen:
            # Plaintext, health only: what a TLS-less probe may see is SERVING or not.
            self._health_server = grpc.aio.server()
            health_pb2_grpc.add_HealthServicer_to_server(self.health, self._health_server)
            self.health_port = self._health_server.add_insecure_port(self.health_listen)
            if not self.health_port:
                raise OSError(f"cannot bind the health server to {self.health_listen}")
            await self._health_server.start()
        await self.set_serving(False)
        # LIVENESS answers SERVING while the process runs its event loop, whatever etcd does:
        # a liveness probe on it restarts a hung process, not every pod during an etcd outage.
        await self.health.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
        return self.port

    @property
    def address(self) -> str:
        host = self.listen.rpartition(":")[0] or "127.0.0.1"
        if host in ("0.0.0.0", "[::]", "::"):
            host = "127.0.0.1"
        return f"{host}:{self.port}"

    async def set_serving(self, serving: bool) -> None:
        """set_serving flips the overall and per-service health status."""
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *self._services):
            await self.health.set(name, status)

    async def stop(self, grace: float) -> None:
        """stop marks the server NOT_SERVING and lets in-flight calls finish within grace."""
        await self.health.enter_graceful_shutdown()
        await self._server.stop(grace)
        if self._health_server is not None:
            await self._health_server.stop(0)


class HealthMonitor:
    """HealthMonitor re-evaluates ``check`` every ``interval`` and updates health.

    ``check`` returns "" when the service can do its job, or the reason it cannot.
    """

    def __init__(
        self, server: GrpcServer, check: Callable[[], Awaitable[str]], *, interval: float = 1.0
    ) -> None:
        self._server = server
        self._check = check
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self.reason = "starting"

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="health-monitor")

    async def _loop(self) -> None:
        while True:
            try:
                reason = await self._check()
            except Exception as exc:  # noqa: BLE001 — a failing check means not serving
                reason = f"health check failed: {exc!r}"
            if reason != self.reason:
                log.info("health changed", extra={"serving": not reason, "reason": reason})
                self.reason = reason
                await self._server.set_serving(not reason)
            await asyncio.sleep(self._interval)

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)


async def run_service(
    main: Callable[[asyncio.Event], Awaitable[None]],
    *,
    on_reload: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """run_service runs ``main(stop)`` until it returns.

    The first SIGTERM or SIGINT sets ``stop`` so main can shut down gracefully;
    a second one exits the process at once. SIGHUP calls ``on_reload``.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reloads: set[asyncio.Task[None]] = set()

    def on_term() -> None:
        if stop.is_set():
            log.warning("second termination signal: exiting now")
            os._exit(1)
        log.info("termination signal: shutting down gracefully")
        stop.set()

    def on_hup() -> None:
        if on_reload is not None:
            task = asyncio.ensure_future(on_reload())
            reloads.add(task)
            task.add_done_callback(reloads.discard)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_term)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    try:
        await main(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        for task in list(reloads):
            task.cancel()
