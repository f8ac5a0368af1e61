"""Token authentication and roles, enforced per RPC.

With ``auth_tokens_file`` set, every RPC except health and reflection needs a
bearer token (``authorization: Bearer <token>`` in the call's metadata). A
missing or unknown token is UNAUTHENTICATED; a known token whose role is too
weak for the method is PERMISSION_DENIED. Three roles, each including the
one below it:

- ``viewer``: reads (get, list, search, stats, watch);
- ``operator``: runs the system — starts and cancels syncs, pauses, resumes,
  stops and restarts connectors and followers, drains agents, maintenance
  mode, and the leader side of replication (a follower cluster's token);
- ``admin``: everything, including creating, changing and deleting
  connectors, indices, documents, offsets, followers and remote clusters.

The tokens file (YAML) lists tokens by name::

    tokens:
      - name: ci
        role: operator
        sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
      - name: dashboards
        role: viewer
        token: ${file:/run/secrets/dashboards-token}

``sha256`` (the hex digest of the token) keeps the token itself out of the
file; ``token`` may be a literal or an ``${env:NAME}`` / ``${file:PATH}``
reference. The file is read again when it changes; a changed file that does
not parse is logged and the previous tokens stay in force.
"""

from __future__ import annotations

import enum
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ferry import secrets
from ferry.errors import (
    FieldViolation,
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
)
from ferry.reload import Reloading

log = logging.getLogger(__name__)

OPEN_PREFIXES = ("/grpc.health.", "/grpc.reflection.")
"""OPEN_PREFIXES: methods every caller may use without a token (probes, grpcurl's schema)."""


class Role(enum.IntEnum):
    """Role is what a token may do; a higher role includes every lower one."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()


def _methods(service: str, role: Role, names: str) -> dict[str, Role]:
    return {f"/ferry.v1.{service}/{name}": role for name in names.split()}


VIEWER, OPERATOR, ADMIN = Role.VIEWER, Role.OPERATOR, Role.ADMIN
METHOD_ROLES: dict[str, Role] = {
    **_methods("Connectors", VIEWER, "Get List Validate ListTypes GetOffsets"),
    **_methods("Connectors", OPERATOR, "Pause Resume Stop Restart"),
    **_methods("Connectors", ADMIN, "Create Update Delete AlterOffsets ResetOffsets"),
    **_methods("Jobs", VIEWER, "Get List Watch"),
    **_methods("Jobs", OPERATOR, "Start Cancel"),
    **_methods("Agents", VIEWER, "List"),
    **_methods("Agents", OPERATOR, "Drain Undrain"),
    **_methods("Agent", VIEWER, "Status"),
    **_methods("Agent", OPERATOR, "Drain"),
    **_methods("Cluster", VIEWER, "Status GetMaintenance"),
    **_methods("Cluster", OPERATOR, "SetMaintenance"),
    **_methods("Indices", VIEWER, "Get List Stats GetDocument MultiGet Search Count"),
    **_methods("Indices", ADMIN, "Create Delete UpdateSchema Bulk"),
    **_methods(
        "Replication", VIEWER, "Stats ListFollowers ListAutoFollowPatterns ListRemoteClusters"
    ),
    **_methods("Replication", OPERATOR, "Pause Resume"),
    **_methods(
        "Replication",
        ADMIN,
        "Follow Unfollow PutAutoFollowPattern DeleteAutoFollowPattern PutRemoteCluster "
        "DeleteRemoteCluster",
    ),
    **_methods("Replicator", VIEWER, "Status ShardStats"),
    **_methods(
        "LeaderReplication",
        OPERATOR,
        "ReadOperations Bootstrap PutRetentionLease RemoveRetentionLease GetIndex ListIndices",
    ),
}
"""METHOD_ROLES is the weakest role allowed to call each RPC. A method missing here needs
admin (a test checks every method of every service is listed)."""

READ_METHODS = frozenset(m for m, role in METHOD_ROLES.items() if role is Role.VIEWER)
"""READ_METHODS change nothing: a viewer may call them, and so may anyone in read-only mode."""


def required_role(method: str) -> Role:
    """required_role is the weakest role that may call ``method`` (admin when unlisted)."""
    return METHOD_ROLES.get(method, Role.ADMIN)


@dataclass(frozen=True)
class Identity:
    """Identity is who a token belongs to."""

    name: str
    role: Role


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def parse_tokens(text: str, *, source: str = "auth_tokens_file") -> dict[bytes, Identity]:
    """parse_tokens reads a tokens file's YAML into identities by the SHA-256 of their token.

    Errors name the entry and field (``tokens[2].role``) and never quote a token.
    """
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidArgument.field(source, f"is not YAML: {exc}") from None
    if not isinstance(loaded, dict) or not isinstance(loaded.get("tokens"), list):
        raise InvalidArgument.field(f"{source}.tokens", "must be a list of tokens")
    unknown_top = sorted(set(loaded) - {"tokens"})
    if unknown_top:
        raise InvalidArgument.field(f"{source}.{unknown_top[0]}", "is not a setting")
    identities: dict[bytes, Identity] = {}
    names: set[str] = set()
    violations: list[FieldViolation] = []
    for i, entry in enumerate(loaded["tokens"]):
        where = f"tokens[{i}]"
        try:
            digest, identity = _parse_entry(entry, where)
        except InvalidArgument as exc:
            violations.extend(exc.violations)
            continue
        if identity.name in names:
            violations.append(FieldViolation(f"{where}.name", f"{identity.name!r} is used twice"))
        if digest in identities:
            violations.append(FieldViolation(where, "has the same token as an earlier entry"))
        names.add(identity.name)
        identities[digest] = identity
    if violations:
        raise InvalidArgument(f"{source}: invalid tokens:", violations)
    return identities


def _parse_entry(entry: Any, where: str) -> tuple[bytes, Identity]:
    if not isinstance(entry, dict):
        raise InvalidArgument.field(where, "must be a mapping with name, role and token or sha256")
    unknown = sorted(set(entry) - {"name", "role", "token", "sha256"})
    if unknown:
        raise InvalidArgument.field(f"{where}.{unknown[0]}", "is not a token setting")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgument.field(f"{where}.name", "is required")
    role_name = entry.get("role")
    try:
        role = Role[str(role_name).upper()]
    except KeyError:
        raise InvalidArgument.field(
            f"{where}.role", f"must be admin, operator or viewer, got {role_name!r}"
        ) from None
    token, digest = entry.get("token"), entry.get("sha256")
    if (token is None) == (digest is None):
        raise InvalidArgument.field(where, "needs exactly one of token and sha256")
    if digest is not None:
        try:
            raw = bytes.fromhex(str(digest))
        except ValueError:
            raw = b""
        if len(raw) != hashlib.sha256().digest_size:
            raise InvalidArgument.field(f"{where}.sha256", "must be 64 hexadecimal digits")
        return raw, Identity(name, role)
    if not isinstance(token, str) or not token:
        raise InvalidArgument.field(f"{where}.token", "must be a non-empty string")
    try:
        resolved = secrets.resolve({"token": token}, path=where)["token"]
    except secrets.SecretError as exc:
        raise InvalidArgument(str(exc), [exc.violation]) from None
    if len(resolved) < 16:
        raise InvalidArgument.field(f"{where}.token", "must be at least 16 characters")
    return token_digest(resolved), Identity(name, role)


class TokenFile:
    """TokenFile holds the tokens of ``path`` and reads the file again when it changes.

    The first load raises on a bad file (a service must not start with broken
    auth); a later bad version is logged and the tokens in force stay.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._tokens = Reloading([self.path], self._read, "tokens file")

    def _read(self) -> dict[bytes, Identity]:
        try:
            text = self.path.read_text()
        except OSError as exc:
            raise InvalidArgument.field(
                "auth_tokens_file", f"cannot read {self.path}: {exc}"
            ) from None
        return parse_tokens(text)

    def refresh(self) -> None:
        """refresh reads the file again if it changed since the last look (at most once a
        second)."""
        self._tokens.refresh()

    def identify(self, token: str) -> Identity | None:
        """identify is the identity of ``token``, or None when no entry holds it.

        A dictionary lookup by digest is safe against timing: what it compares is the SHA-256
        of the caller's token, whose bytes a caller cannot steer towards a stored digest.
        """
        return self._tokens.value.get(token_digest(token))


def bearer(metadata: Iterable[tuple[str, Any]] | None) -> str:
    """bearer is the token of the call's ``authorization: Bearer`` header, or ""."""
    for key, value in metadata or ():
        if key == "authorization":
            text = value.decode() if isinstance(value, bytes) else str(value)
            scheme, _, token = text.strip().partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
    return ""


def call_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """call_metadata is the metadata that carries ``token`` ("" means none)."""
    return (("authorization", f"Bearer {token}"),) if token else ()


def check(tokens: TokenFile, method: str, token: str) -> Identity:
    """check is the caller's identity, or raises Unauthenticated / PermissionDenied."""
    if not token:
        raise Unauthenticated(f"{method} needs a bearer token (authorization: Bearer <token>)")
    tokens.refresh()
    identity = tokens.identify(token)
    if identity is None:
        raise Unauthenticated("the bearer token is not known to this cluster")
    needed = required_role(method)
    if identity.role < needed:
        raise PermissionDenied(
            f"{identity.name!r} has role {identity.role.label}; {method} needs {needed.label}"
        )
    return identity
