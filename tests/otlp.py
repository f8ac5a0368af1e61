"""An OTLP/gRPC trace receiver for tests: real processes export their spans to it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

from tests.helpers import wait_until

ETCD_NAMES = ("etcdserverpb", "Watch", "LeaseKeepAlive")
"""ETCD_NAMES: no span name may contain these (etcd's channel is not traced)."""


@dataclass(frozen=True)
class Exported:
    """Exported is one span as a service exported it."""

    service: str
    span: trace_pb2.Span

    def attribute(self, key: str) -> object:
        for kv in self.span.attributes:
            if kv.key == key:
                kind = kv.value.WhichOneof("value")
                return getattr(kv.value, kind) if kind else None
        return None


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """Receiver is an OTLP/gRPC trace collector that keeps every span it is sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: list[Exported] = []

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        with self._lock:
            for resource_spans in request.resource_spans:
                service = next(
                    (
                        kv.value.string_value
                        for kv in resource_spans.resource.attributes
                        if kv.key == "service.name"
                    ),
                    "",
                )
                for scope_spans in resource_spans.scope_spans:
                    self._spans.extend(Exported(service, span) for span in scope_spans.spans)
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self) -> list[Exported]:
        with self._lock:
            return list(self._spans)

    def wait_for(
        self, match: Callable[[Exported], bool], count: int = 1, *, what: str
    ) -> list[Exported]:
        """wait_for waits until ``count`` spans received match, and returns every match."""

        def matched() -> list[Exported]:
            found = [s for s in self.spans() if match(s)]
            return found if len(found) >= count else []

        return wait_until(matched, timeout=15, what=what)


def receiving(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """receiving runs a Receiver and points every process started meanwhile at it (the
    OTEL_* variables, with a short export delay), for a fixture to yield from."""
    receiver = Receiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")  # milliseconds: export promptly
    try:
        yield receiver
    finally:
        server.stop(grace=None)


def etcd_spans(receiver: Receiver) -> list[str]:
    """etcd_spans are the names of the spans received that trace etcd's own streams."""
    return [s.span.name for s in receiver.spans() if any(n in s.span.name for n in ETCD_NAMES)]
