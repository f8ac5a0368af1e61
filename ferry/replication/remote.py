"""RemoteLeader: a channel to a remote cluster's replicators, which serve LeaderReplication.

Any replicator of the remote cluster serves any leader shard, so a call that
finds an address unreachable goes on to the next one. The remote's token is a
``${env:}``/``${file:}`` reference resolved here, on the caller's machine,
and sent as ``authorization: Bearer ...``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from ferry import auth, secrets, security
from ferry.errors import InvalidArgument
from ferry.security import ClientTls
from ferry.v1 import leader_replication_pb2_grpc as leader_grpc
from ferry.v1 import replication_pb2 as pb

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""MAX_MESSAGE_BYTES admits a message carrying one document of the store's largest size."""

RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
    }
)
"""RETRYABLE codes make a call try the remote's next address."""


class RemoteLeader:
    """RemoteLeader dials one remote cluster's replicators, one address at a time."""

    def __init__(self, remote: pb.RemoteCluster, *, tls: ClientTls | None = None) -> None:
        if not remote.addresses:
            raise InvalidArgument.field("remote_cluster.addresses", "needs at least one address")
        self.name = remote.name
        self.addresses = list(remote.addresses)
        self._tls = (tls or ClientTls()) if remote.tls else None
        """How to dial over TLS (this process's CA, else the system's roots, and its client
        certificate for mutual TLS); None for plaintext."""
        self._token_ref = remote.token
        self._current = 0
        self._channels: dict[str, grpc.aio.Channel] = {}

    @property
    def address(self) -> str:
        return self.addresses[self._current % len(self.addresses)]

    def rotate(self) -> None:
        """rotate moves on to the next address, after the current one failed."""
        self._current = (self._current + 1) % len(self.addresses)

    async def resolve_metadata(self) -> tuple[tuple[str, str], ...]:
        """resolve_metadata is the call metadata: the remote's bearer token, resolved now (in a
        thread: a ``${file:}`` reference reads a file, which may change between calls)."""
        if not self._token_ref:
            return ()
        resolved = await asyncio.to_thread(
            secrets.resolve, {"token": self._token_ref}, path="remote_cluster"
        )
        return auth.call_metadata(resolved["token"])

    def stub(self) -> leader_grpc.LeaderReplicationStub:
        """stub is a LeaderReplication stub on the current address."""
        address = self.address
        channel = self._channels.get(address)
        if channel is None:
            options = [
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ]
            channel = security.channel(address, tls=self._tls, options=options)
            self._channels[address] = channel
        return leader_grpc.LeaderReplicationStub(channel)

    async def call(self, method: str, request: object, *, deadline: float = 10.0) -> Any:
        """call runs the unary RPC ``method`` (``deadline`` seconds per try), trying each
        address once while the error is retryable. The token is resolved once per call."""
        metadata = await self.resolve_metadata()
        last: BaseException | None = None
        for _ in self.addresses:
            try:
                return await getattr(self.stub(), method)(
                    request, timeout=deadline, metadata=metadata
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in RETRYABLE:
                    raise
                last = exc
                self.rotate()
        assert last is not None
        raise last

    async def close(self) -> None:
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            await channel.close()
