"""Remote clusters in etcd (``remotes/{name}``), and calling them from a coordinator.

A remote cluster is another Ferry cluster's replicators, which serve
LeaderReplication. Its token is stored only as a ``${env:}``/``${file:}``
reference and never returned. A remote in use by a follower index or an
auto-follow pattern cannot be deleted: the check and the delete are one etcd
transaction, so a Follow racing the delete either sees the remote or fails.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aetcd
import grpc

from ferry import secrets
from ferry.errors import (
    Aborted,
    FailedPrecondition,
    FerryError,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from ferry.etcd import Keys, prefix_end
from ferry.names import check_label, dns1123_label_error
from ferry.replication.records import FollowerRecord, decode_pattern, decode_remote, encode_message
from ferry.replication.remote import RETRYABLE, RemoteLeader
from ferry.security import ClientTls
from ferry.v1 import leader_replication_pb2 as leader_pb
from ferry.v1 import replication_pb2 as pb

RESOURCE = "remote cluster"
MAX_ADDRESSES = 16
MAX_ADDRESS_CHARS = 261
"""MAX_ADDRESS_CHARS is a 253-character DNS name, ':' and a port, with room for IPv6 brackets."""
PROBE_PATTERN = "#"
"""PROBE_PATTERN matches no index name, so a probe's ListIndices sends back no index."""
PROBE_SECONDS = 2.0
"""PROBE_SECONDS bounds ListRemoteClusters' probe of one remote, all addresses together."""
CALL_SECONDS = 10.0
"""CALL_SECONDS bounds one call to a remote cluster from the API, all addresses together."""
_RETRIES = 8

_HOST = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?\Z")
_IPV6 = re.compile(r"\[[0-9A-Fa-f:.]+\]\Z")
_PORT = re.compile(r"[0-9]{1,5}\Z")


def address_error(address: str) -> str | None:
    """address_error explains why address is not host:port (port 1-65535), or returns None."""
    if len(address) > MAX_ADDRESS_CHARS:
        return f"must be at most {MAX_ADDRESS_CHARS} characters"
    host, sep, port = address.rpartition(":")
    if not sep or not host or not (_HOST.match(host) or _IPV6.match(host)):
        return f"{address!r} is not host:port"
    if not _PORT.match(port) or not 1 <= int(port) <= 65535:
        return f"{address!r} needs a port between 1 and 65535"
    return None


def token_error(token: str) -> str | None:
    """token_error refuses a token that is not exactly one ${env:NAME} or ${file:PATH} reference."""
    if not token:
        return None
    if not secrets.REFERENCE.fullmatch(token):
        return "must be a ${env:NAME} or ${file:PATH} reference, never the secret itself"
    problems = secrets.reference_errors(token)
    return problems[0] if problems else None


def check_remote(remote: pb.RemoteCluster, path: str = "remote_cluster") -> None:
    """check_remote raises InvalidArgument naming every bad field of a remote cluster."""
    found: list[FieldViolation] = []
    if (problem := dns1123_label_error(remote.name)) is not None:
        found.append(FieldViolation(f"{path}.name", problem))
    if not remote.addresses:
        found.append(FieldViolation(f"{path}.addresses", "needs at least one host:port"))
    elif len(remote.addresses) > MAX_ADDRESSES:
        found.append(FieldViolation(f"{path}.addresses", f"at most {MAX_ADDRESSES} addresses"))
    else:
        for i, address in enumerate(remote.addresses):
            if (problem := address_error(address)) is not None:
                found.append(FieldViolation(f"{path}.addresses[{i}]", problem))
    if (problem := token_error(remote.token)) is not None:
        found.append(FieldViolation(f"{path}.token", problem))
    if found:
        raise InvalidArgument.fields(found)


def shown(remote: pb.RemoteCluster) -> pb.RemoteCluster:
    """shown is remote as responses carry it: without its token."""
    copy = pb.RemoteCluster()
    copy.CopyFrom(remote)
    copy.ClearField("token")
    return copy


class RemoteUnavailable(Unavailable):
    """RemoteUnavailable says no address of a remote cluster answered in time."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"remote cluster {name!r} is unreachable: {detail}")


class RemoteRefused(FailedPrecondition):
    """RemoteRefused is a remote cluster's deliberate refusal (auth, unimplemented, a bad
    token reference on this side): retrying the same call will not help."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(
            f"remote cluster {name!r}: {detail}", type="REMOTE", subject=f"remote/{name}"
        )


def remote_error(name: str, what: str, exc: BaseException) -> FerryError:
    """remote_error is a failed call to a remote cluster as one of Ferry's errors.

    NOT_FOUND is for the caller to name (it knows what was looked up).
    """
    if isinstance(exc, grpc.aio.AioRpcError):
        detail = f"{what}: {exc.code().name}: {exc.details()}"
        if exc.code() in RETRYABLE:
            return RemoteUnavailable(name, detail)
        return RemoteRefused(name, detail)
    if isinstance(exc, secrets.SecretError):
        return RemoteRefused(name, str(exc.violation))
    if isinstance(exc, TimeoutError):
        return RemoteUnavailable(name, f"{what}: no answer in time")
    if isinstance(exc, FerryError):
        return exc
    return RemoteUnavailable(name, f"{what}: {exc!r}")


class RemoteClusters:
    """RemoteClusters is the registry of remote clusters in etcd."""

    def __init__(self, client: aetcd.Client, keys: Keys, *, tls: ClientTls | None = None) -> None:
        self._client = client
        self._keys = keys
        self.tls = tls
        """tls: this process's CA and certificate, used towards remotes whose ``tls`` is set."""

    def dial(self, remote: pb.RemoteCluster) -> RemoteLeader:
        """dial is a RemoteLeader for ``remote``; close it after use."""
        return RemoteLeader(remote, tls=self.tls)

    async def call(
        self,
        remote: pb.RemoteCluster,
        method: str,
        request: object,
        *,
        within: float = CALL_SECONDS,
    ) -> Any:
        """call makes one LeaderReplication call, trying each address, bounded by ``within``.

        Raises the remote's NOT_FOUND as grpc's error; any other failure as
        :func:`remote_error`.
        """
        leader = self.dial(remote)
        try:
            async with asyncio.timeout(within):
                return await leader.call(method, request, deadline=within)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise
            raise remote_error(remote.name, method, exc) from None
        except (secrets.SecretError, TimeoutError) as exc:
            raise remote_error(remote.name, method, exc) from None
        finally:
            await leader.close()

    async def get(self, name: str, field: str = "name") -> pb.RemoteCluster:
        """get returns the stored remote, token included (for dialling, never for responses)."""
        check_label(name, field)
        got = await self._client.get(self._keys.remote(name).encode())
        if got is None:
            raise NotFound(RESOURCE, name)
        return decode_remote(got.value)

    async def put(self, remote: pb.RemoteCluster) -> pb.RemoteCluster:
        """put registers or replaces a remote cluster; the answer has no token."""
        check_remote(remote)
        stored = pb.RemoteCluster(
            name=remote.name, addresses=remote.addresses, tls=remote.tls, token=remote.token
        )
        await self._client.put(self._keys.remote(remote.name).encode(), encode_message(stored))
        return shown(stored)

    async def delete(self, name: str) -> None:
        """delete forgets a remote; FailedPrecondition while a follower or pattern uses it."""
        check_label(name, "name")
        key = self._keys.remote(name)
        tx = self._client.transactions
        followers, patterns = self._keys.followers(), self._keys.auto_follow_patterns()
        for _ in range(_RETRIES):
            if await self._client.get(key.encode()) is None:
                raise NotFound(RESOURCE, name)
            users, revision = await self._users(name)
            if users:
                raise FailedPrecondition(
                    f"remote cluster {name!r} is used by {', '.join(users[:5])}"
                    + (f" and {len(users) - 5} more" if len(users) > 5 else ""),
                    type="IN_USE",
                    subject=f"remote/{name}",
                )
            # Nothing created or changed under either prefix since the read.
            ok, _ = await self._client.transaction(
                compare=[
                    tx.mod(followers.encode(), prefix_end(followers)) < revision + 1,
                    tx.mod(patterns.encode(), prefix_end(patterns)) < revision + 1,
                ],
                success=[tx.delete(key.encode())],
                failure=[],
            )
            if ok:
                return
        raise Aborted(f"remote cluster {name!r}", 0, 0)

    async def _users(self, name: str) -> tuple[list[str], int]:
        """_users names the followers and patterns using remote ``name``, as of a revision."""
        followers = await self._client.get_prefix(self._keys.followers().encode())
        # Read after the followers: a pattern changed in between has a later mod
        # revision, so delete's compare fails and it reads again.
        patterns = await self._client.get_prefix(self._keys.auto_follow_patterns().encode())
        users = [
            f"follower index {r.follower.follower_index!r}"
            for r in (FollowerRecord.decode(kv.value) for kv in followers)
            if r.follower.remote_cluster == name
        ]
        users += [
            f"auto-follow pattern {p.name!r}"
            for p in (decode_pattern(kv.value) for kv in patterns)
            if p.remote_cluster == name
        ]
        return users, followers.header.revision

    async def stored(self) -> list[pb.RemoteCluster]:
        """stored returns every remote in name order, tokens included (see :func:`shown`)."""
        result = await self._client.get_prefix(self._keys.remotes().encode())
        return sorted((decode_remote(kv.value) for kv in result), key=lambda r: r.name)

    async def probed(self) -> list[pb.RemoteCluster]:
        """probed lists the remotes as responses show them, each probed (in parallel)."""
        stored = await self.stored()
        remotes = [shown(r) for r in stored]
        await asyncio.gather(*(self._probe(s, r) for s, r in zip(stored, remotes, strict=True)))
        return remotes

    async def _probe(self, remote: pb.RemoteCluster, into: pb.RemoteCluster) -> None:
        try:
            await self.call(
                remote,
                "ListIndices",
                leader_pb.ListLeaderIndicesRequest(pattern=PROBE_PATTERN),
                within=PROBE_SECONDS,
            )
        except grpc.aio.AioRpcError as exc:
            into.error = f"ListIndices: {exc.code().name}: {exc.details()}"
        except FerryError as exc:
            into.error = exc.message
        else:
            into.connected = True
