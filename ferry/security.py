"""TLS and tokens on the wire: gRPC servers, channels between Ferry services, and etcd.

Certificates and keys are PEM files. A server reads its files again when
they change (gRPC asks for the certificate configuration at each new
handshake; the files' modification times are looked at most once a second),
so a renewed certificate is served without a restart. Clients read theirs
the same way when they open a channel (:class:`ferry.reload.Reloading` for
both). Every error names the setting whose file is missing or unreadable.

:class:`Security` bundles what one process needs: its server credentials, the
credentials and token it uses to call other Ferry services, and the tokens
it accepts (:mod:`ferry.auth`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from ferry import auth, secrets, telemetry
from ferry.config import EtcdSettings, ServiceConfig
from ferry.errors import InvalidArgument
from ferry.reload import Reloading

MAX_PEM_BYTES = 1024 * 1024


def read_pem(path: str, setting: str) -> bytes:
    """read_pem is the PEM file at ``path``; errors name ``setting`` (e.g. "tls_cert_file")."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_PEM_BYTES + 1)
    except OSError as exc:
        raise InvalidArgument.field(setting, f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_PEM_BYTES or b"-----BEGIN " not in data:
        raise InvalidArgument.field(setting, f"{path} is not a PEM file")
    return data


class ServerTls:
    """ServerTls serves ``cert_file``/``key_file``, re-read when they change.

    With ``client_ca_file`` the TLS is mutual: a client must present a
    certificate that chains to that CA, or the handshake fails.
    """

    def __init__(self, cert_file: str, key_file: str, client_ca_file: str = "") -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.client_ca_file = client_ca_file
        self.configuration = Reloading(
            (cert_file, key_file, client_ca_file), self._configuration, "certificate"
        )

    def _configuration(self) -> Any:
        cert = read_pem(self.cert_file, "tls_cert_file")
        key = read_pem(self.key_file, "tls_key_file")
        ca = read_pem(self.client_ca_file, "tls_client_ca_file") if self.client_ca_file else None
        return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca)

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(
            self.configuration.value,
            self._fetch,
            require_client_authentication=bool(self.client_ca_file),
        )

    def _fetch(self) -> Any:
        """_fetch is called by gRPC before each handshake: a new configuration when the files
        changed, else None (keep the current one)."""
        return self.configuration.value if self.configuration.refresh() else None


@dataclass(frozen=True)
class ClientTls:
    """ClientTls is how a client checks servers (``ca_file``; system roots when empty) and
    which certificate it presents (``cert_file``/``key_file``, for mutual TLS)."""

    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    setting_prefix: str = "tls"
    """Names the settings in errors: "tls" (tls_ca_file, ...) or "etcd" (etcd_ca_file, ...)."""

    def credentials(self) -> grpc.ChannelCredentials:
        """credentials are the files' credentials, read again when a file changed (looked at
        at most once a second): a renewed certificate is used by the channels opened after
        it, and a channel opened per call (on the event loop) reads no file in between."""
        self._files.refresh()
        return self._files.value

    @functools.cached_property
    def _files(self) -> Reloading[grpc.ChannelCredentials]:
        # Built at the first call (its errors name the setting); not a dataclass field.
        files = (self.ca_file, self.cert_file, self.key_file)
        return Reloading(files, self._read, f"{self.setting_prefix} client certificate")

    def _read(self) -> grpc.ChannelCredentials:
        p = self.setting_prefix
        ca = read_pem(self.ca_file, f"{p}_ca_file") if self.ca_file else None
        cert = read_pem(self.cert_file, f"{p}_cert_file") if self.cert_file else None
        key = read_pem(self.key_file, f"{p}_key_file") if self.key_file else None
        return grpc.ssl_channel_credentials(
            root_certificates=ca, private_key=key, certificate_chain=cert
        )


class TokenInterceptor(
    grpc.aio.UnaryUnaryClientInterceptor,
    grpc.aio.UnaryStreamClientInterceptor,
    grpc.aio.StreamUnaryClientInterceptor,
    grpc.aio.StreamStreamClientInterceptor,
):
    """TokenInterceptor adds ``authorization: Bearer <token>`` to every call of a channel
    (call credentials would need TLS; a token over plaintext is the operator's choice)."""

    def __init__(self, token: str) -> None:
        self._header = auth.call_metadata(token)[0]

    def _details(self, details: Any) -> Any:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        if "authorization" not in metadata:
            metadata.add(*self._header)
        return details._replace(metadata=metadata)

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)

    async def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)

    async def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)


def channel(
    target: str,
    *,
    tls: ClientTls | None = None,
    token: str = "",
    options: Sequence[tuple[str, Any]] = (),
    traced: bool = True,
) -> grpc.aio.Channel:
    """channel opens a channel to a Ferry service: TLS when ``tls`` is given, the token on
    every call, and traced unless ``traced`` is False."""
    interceptors: list[Any] = telemetry.client_interceptors() if traced else []
    if token:
        interceptors.append(TokenInterceptor(token))
    if tls is None:
        return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)
    return grpc.aio.secure_channel(
        target, tls.credentials(), options=options, interceptors=interceptors
    )


@dataclass(frozen=True)
class Security:
    """Security is one process's TLS and token settings, read from its config at start-up."""

    server_tls: ServerTls | None = None
    client_tls: ClientTls | None = None
    """How this process calls the other services of its cluster: TLS when it serves TLS
    itself (a cluster runs TLS everywhere or nowhere); None means plaintext."""
    remote_tls: ClientTls = ClientTls()
    """How it dials a remote cluster whose ``tls`` is set: its CA (system roots without one)
    and its certificate, for mutual TLS."""
    tokens: auth.TokenFile | None = None
    """Tokens this process accepts; None means every caller is trusted."""
    token: str = ""
    """Token this process sends to other Ferry services."""

    @classmethod
    def from_config(cls, config: ServiceConfig) -> Security:
        """from_config reads every file now, so a bad setting stops the start, named."""
        server_tls = (
            ServerTls(config.tls_cert_file, config.tls_key_file, config.tls_client_ca_file)
            if config.tls_cert_file
            else None
        )
        remote_tls = ClientTls(config.tls_ca_file, config.tls_cert_file, config.tls_key_file)
        remote_tls.credentials()  # fail now, naming the setting, not at the first call
        client_tls = remote_tls if config.tls_cert_file else None
        tokens = auth.TokenFile(config.auth_tokens_file) if config.auth_tokens_file else None
        token = ""
        if config.auth_token:
            try:
                token = secrets.resolve({"auth_token": config.auth_token}, path="config")[
                    "auth_token"
                ]
            except secrets.SecretError as exc:
                raise InvalidArgument(str(exc), [exc.violation]) from None
        return cls(server_tls, client_tls, remote_tls, tokens, token)

    def channel(self, target: str, *, options: Sequence[tuple[str, Any]] = ()) -> grpc.aio.Channel:
        """channel dials another Ferry service with this process's TLS and token."""
        return channel(target, tls=self.client_tls, token=self.token, options=options)


def etcd_tls(config: EtcdSettings) -> ClientTls | None:
    """etcd_tls is how this process dials etcd: TLS when ``etcd_ca_file`` is set (or a client
    certificate is), else None (plaintext)."""
    if not (config.etcd_ca_file or config.etcd_cert_file):
        return None
    return ClientTls(
        config.etcd_ca_file, config.etcd_cert_file, config.etcd_key_file, setting_prefix="etcd"
    )
