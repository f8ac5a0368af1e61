"""grpc_health_probe: exit 0 when a Ferry service's grpc.health.v1 answers SERVING, else 1.

The image carries it as /opt/ferry/grpc_health_probe.py for health checks that have no
native gRPC probe, such as docker compose's (Kubernetes has one: it speaks plaintext only,
so a service serving TLS gives it a FERRY_HEALTH_LISTEN port, as deploy/k8s does)::

    python /opt/ferry/grpc_health_probe.py                 # the service's own FERRY_LISTEN
    python /opt/ferry/grpc_health_probe.py 127.0.0.1:50061 --service ferry.v1.Agent

Without an address it reads the service's own settings from the same FERRY_* variables
(ferry.config), and dials the port of FERRY_LISTEN on 127.0.0.1. With FERRY_TLS_CERT_FILE
set it dials over TLS, trusting FERRY_TLS_CA_FILE and presenting the service's own
certificate (which mutual TLS accepts, as from any Ferry service); the server's certificate
must then name ``--server-name`` (default ``localhost``). Health needs no token.
"""

from __future__ import annotations

import argparse
import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ferry.config import ServiceConfig, load
from ferry.errors import FerryError
from ferry.security import ClientTls

EXIT_SERVING = 0
EXIT_NOT_SERVING = 1
WILDCARD_HOSTS = ("", "0.0.0.0", "[::]", "::")


def probe_address(listen: str) -> str:
    """probe_address is where to dial a service listening on ``listen``: a wildcard host
    becomes 127.0.0.1. Port 0 (a free port picked at start) cannot be probed."""
    host, _, port = listen.rpartition(":")
    if not port.isdigit() or int(port) == 0:
        raise ValueError(f"listen address {listen!r} has no fixed port to probe")
    if host in WILDCARD_HOSTS:
        host = "127.0.0.1"
    return f"{host}:{port}"


def credentials(config: ServiceConfig) -> grpc.ChannelCredentials | None:
    """credentials are the TLS credentials the service's settings imply, or None (plaintext)."""
    if not config.tls_cert_file:
        return None
    # As the service itself dials its cluster (ferry.security.Security.client_tls).
    return ClientTls(config.tls_ca_file, config.tls_cert_file, config.tls_key_file).credentials()


def check(
    address: str,
    *,
    service: str = "",
    creds: grpc.ChannelCredentials | None = None,
    server_name: str = "localhost",
    timeout: float = 3.0,
) -> str:
    """check asks ``address`` for the health of ``service``; returns the status name
    (SERVING, NOT_SERVING, ...) or raises grpc.RpcError."""
    if creds is None:
        channel = grpc.insecure_channel(address)
    else:
        options = [("grpc.ssl_target_name_override", server_name)]
        channel = grpc.secure_channel(address, creds, options=options)
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="grpc_health_probe", description=__doc__.split("\n")[0])
    parser.add_argument("address", nargs="?", help="host:port (default: from FERRY_LISTEN)")
    parser.add_argument("--service", default="", help="service name (default: the server)")
    parser.add_argument("--server-name", default="localhost", help="name the TLS cert must hold")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    args = parser.parse_args(argv)
    try:
        config = load(ServiceConfig, env=os.environ)
        address = args.address or probe_address(config.listen)
        status = check(
            address,
            service=args.service,
            creds=credentials(config),
            server_name=args.server_name,
            timeout=args.timeout,
        )
    except (FerryError, OSError, ValueError) as exc:
        print(f"grpc_health_probe: {exc}", file=sys.stderr)
        return EXIT_NOT_SERVING
    except grpc.RpcError as exc:
        print(f"grpc_health_probe: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return EXIT_NOT_SERVING
    if status != "SERVING":
        print(f"grpc_health_probe: {address} is {status}", file=sys.stderr)
        return EXIT_NOT_SERVING
    return EXIT_SERVING


if __name__ == "__main__":
    sys.exit(main())
