"""Calling the coordinator from the CLI, and turning failures into messages.

A client command is an ``async`` function of a :class:`Coordinator` and the
parsed arguments; :func:`client_command` wraps it into the plain
``func(args) -> exit code`` that ``ferry``'s parser dispatches to. Failures
end the command by raising :class:`CommandError`, which ``main`` prints on
stderr.

The CLI uses ``grpc.aio`` because its channel can report whether it ever got
a connection: that is what tells "cannot reach the coordinator" apart from a
coordinator that answered UNAVAILABLE (e.g. because etcd is down).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ferry import security
from ferry.cli import output
from ferry.errors import FerryError
from ferry.security import ClientTls
from ferry.v1 import (
    agents_pb2_grpc,
    cluster_pb2_grpc,
    connectors_pb2_grpc,
    indices_pb2_grpc,
    jobs_pb2_grpc,
    replication_pb2_grpc,
)

DEFAULT_COORDINATOR = "127.0.0.1:50051"
"""DEFAULT_COORDINATOR is dialled when neither --coordinator nor FERRY_COORDINATOR is set."""

EXIT_OK = 0
EXIT_FAILURE = 1
"""EXIT_FAILURE: a call failed, the coordinator could not be reached, or a spec is invalid."""
EXIT_USAGE = 2
"""EXIT_USAGE: bad arguments, or a spec file that cannot be read or parsed."""

T = TypeVar("T")


class CommandError(Exception):
    """CommandError ends a command: its lines go to stderr and ``exit_code`` is returned."""

    def __init__(self, *lines: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(lines[0] if lines else "")
        self.lines = lines
        self.exit_code = exit_code


class Unreachable(CommandError):
    """Unreachable says no connection to the coordinator could be made; nothing was sent."""


class RpcFailed(CommandError):
    """RpcFailed is an error status the coordinator returned, with its field violations."""

    def __init__(self, code: grpc.StatusCode, message: str, violations: Sequence[str]) -> None:
        self.code = code
        self.message = message
        self.violations = tuple(violations)
        super().__init__(*self.describe())

    def describe(self, subject: str = "") -> list[str]:
        """describe is the message for stderr; subject (e.g. a connector name) prefixes it."""
        prefix = f"{subject}: " if subject else ""
        if self.violations:
            # The status message repeats the violations; list each once, one per line.
            count = len(self.violations)
            head = f"{count} invalid field{'s' if count > 1 else ''}:"
            return [f"error: {prefix}{self.code.name}: {head}", *self.violations]
        return [f"error: {prefix}{self.code.name}: {self.message}", *self.violations]


def usage_error(message: str) -> CommandError:
    """usage_error is a CommandError for arguments or input files the command cannot use."""
    return CommandError(f"error: {message}", exit_code=EXIT_USAGE)


def add_client_options(parser: argparse.ArgumentParser) -> None:
    """add_client_options adds --coordinator and --timeout to a command that calls the coordinator.

    --coordinator and the connection security flags are left unset when not given; ``main``
    fills them in from FERRY_* variables (:func:`ferry.cli.main.client_settings`).
    """
    parser.add_argument(
        "--coordinator",
        metavar="ADDR",
        help=f"coordinator host:port (default: $FERRY_COORDINATOR, else {DEFAULT_COORDINATOR})",
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=10.0,
        metavar="SECONDS",
        help="deadline of each call (default: 10)",
    )
    g = parser.add_argument_group("connection security (defaults from FERRY_* variables)")
    g.add_argument(
        "--auth-token",
        metavar="TOKEN",
        help="bearer token sent with every call (default: $FERRY_AUTH_TOKEN; prefer the "
        "variable: a flag shows in the process list)",
    )
    g.add_argument(
        "--use-tls",
        action="store_true",
        default=None,
        help="dial over TLS with the system's CA roots (implied by --tls-ca-file)",
    )
    g.add_argument("--tls-ca-file", metavar="PEM", help="CA of the coordinator's certificate (TLS)")
    g.add_argument("--tls-cert-file", metavar="PEM", help="client certificate, for mutual TLS")
    g.add_argument("--tls-key-file", metavar="PEM", help="private key of --tls-cert-file")


def add_group(subparsers: Any, name: str, text: str) -> Any:
    """add_group adds a command that takes a verb (``ferry NAME COMMAND``); returns the
    subparsers to add its verbs to with :func:`add_command`."""
    group = subparsers.add_parser(name, help=text, description=text)
    return group.add_subparsers(
        dest=f"{name.replace('-', '_')}_command", metavar="COMMAND", required=True
    )


def add_command(
    verbs: Any, name: str, text: str, *, json_shape: str = ""
) -> argparse.ArgumentParser:
    """add_command adds one verb with the client options, and -o when json_shape is given."""
    parser: argparse.ArgumentParser = verbs.add_parser(name, help=text, description=text)
    add_client_options(parser)
    if json_shape:
        output.add_output_option(parser, json_shape)
    return parser


def positive_seconds(text: str) -> float:
    """positive_seconds parses a flag value that must be a number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def _violations(err: grpc.aio.AioRpcError) -> list[str]:
    """_violations are the ``  field: description`` lines of a BadRequest detail, if any."""
    try:
        status = rpc_status.from_call(err)  # type: ignore[arg-type]
    except ValueError:
        # The details disagree with the status line: show the status line only.
        return []
    lines: list[str] = []
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            lines.extend(f"  {v.field}: {v.description}" for v in bad.field_violations)
    return lines


class Coordinator:
    """Coordinator is a connection to one coordinator; use ``async with``.

    Every call gets the --timeout deadline and raises :class:`Unreachable` or
    :class:`RpcFailed` instead of ``grpc.RpcError``.
    """

    def __init__(
        self,
        address: str,
        timeout: float,
        *,
        tls: ClientTls | None = None,
        token: str = "",
    ) -> None:
        self.address = address
        self.timeout = timeout
        try:
            self._channel = security.channel(address, tls=tls, token=token, traced=False)
        except FerryError as exc:
            raise CommandError(f"error: {exc.message}", exit_code=EXIT_USAGE) from None
        self.connectors = connectors_pb2_grpc.ConnectorsStub(self._channel)
        self.agents = agents_pb2_grpc.AgentsStub(self._channel)
        self.cluster = cluster_pb2_grpc.ClusterStub(self._channel)
        self.indices = indices_pb2_grpc.IndicesStub(self._channel)
        self.jobs = jobs_pb2_grpc.JobsStub(self._channel)
        self.replication = replication_pb2_grpc.ReplicationStub(self._channel)

    async def __aenter__(self) -> Coordinator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._channel.close()

    async def call(self, method: Callable[..., Awaitable[T]], request: Any) -> T:
        """call sends one unary request and returns the response."""
        try:
            return await method(request, timeout=self.timeout)
        except grpc.aio.AioRpcError as err:
            raise self.failure(err) from None

    async def all_pages(
        self,
        method: Callable[..., Awaitable[Any]],
        request: Callable[[str], Any],
        items: Callable[[Any], Iterable[T]],
    ) -> list[T]:
        """all_pages follows next_page_token from the first page to the last.

        ``request(token)`` builds each page's request, ``items(page)`` picks its
        items. A token seen twice ends the walk instead of looping forever.
        """
        collected: list[T] = []
        token = ""
        seen: set[str] = set()
        while True:
            page = await self.call(method, request(token))
            collected.extend(items(page))
            token = page.next_page_token
            if not token or token in seen:
                return collected
            seen.add(token)

    def failure(self, err: grpc.aio.AioRpcError) -> CommandError:
        """failure turns a failed call (unary or a stream) into the command's error."""
        code = err.code()
        # A channel that is not READY after a failed call never got (or lost)
        # its connection: the status came from the client library, not the server.
        connected = self._channel.get_state() is grpc.ChannelConnectivity.READY
        if not connected and code is grpc.StatusCode.UNAVAILABLE:
            return Unreachable(
                f"error: cannot reach coordinator at {self.address}: {err.details()}"
            )
        if not connected and code is grpc.StatusCode.DEADLINE_EXCEEDED:
            return Unreachable(
                f"error: cannot reach coordinator at {self.address}: "
                f"no connection within {self.timeout:g}s (--timeout)"
            )
        return RpcFailed(code, err.details() or "", _violations(err))


def connection_security(args: argparse.Namespace) -> tuple[ClientTls | None, str]:
    """connection_security is the TLS and token of a client command, from its flags (which
    ``main`` fills from FERRY_* variables when not given). TLS is on when --use-tls or any
    TLS file is given."""
    ca, cert, key = (args.tls_ca_file or ""), (args.tls_cert_file or ""), (args.tls_key_file or "")
    if bool(cert) != bool(key):
        raise usage_error("--tls-cert-file and --tls-key-file go together")
    tls = ClientTls(ca, cert, key) if (args.use_tls or ca or cert) else None
    return tls, args.auth_token or ""


ClientCommand = Callable[[Coordinator, argparse.Namespace], Awaitable[int]]


def client_command(command: ClientCommand) -> Callable[[argparse.Namespace], int]:
    """client_command turns an async command into ``func(args) -> exit code`` for the parser.

    It connects to ``args.coordinator`` with ``args.timeout`` for each call.
    """

    def run(args: argparse.Namespace) -> int:
        async def with_coordinator() -> int:
            tls, token = connection_security(args)
            async with Coordinator(
                args.coordinator, args.timeout, tls=tls, token=token
            ) as coordinator:
                return await command(coordinator, args)

        return asyncio.run(with_coordinator())

    run.__doc__ = command.__doc__
    return run
