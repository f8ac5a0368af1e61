"""OpenTelemetry set-up: tracer provider, exporters and gRPC interceptors.

The standard ``OTEL_*`` environment variables are honoured by the SDK
(``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``,
``OTEL_EXPORTER_OTLP_*``, ...). Spans are exported over OTLP when
``OTEL_TRACES_EXPORTER`` is ``otlp`` or an OTLP endpoint is configured, to
stderr when it is ``console``, and nowhere otherwise. W3C trace context is
propagated in gRPC metadata. etcd's channel is built without these
interceptors, so its long-lived watch and keepalive streams stay out of traces.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import SpanContext, Status
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

from ferry import secrets
from ferry.errors import InvalidArgument

EXPORTERS = ("otlp", "console", "none")


def exporter_choices(env: Mapping[str, str]) -> list[str]:
    """exporter_choices lists the span exporters the OTEL_* variables ask for.

    ``OTEL_TRACES_EXPORTER`` may name several ("otlp,console"); without it, an
    OTLP endpoint means "otlp". An unknown name is an error rather than a
    silently untraced process.
    """
    raw = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not raw:
        endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
        )
        return ["otlp"] if endpoint else []
    choices = [c.strip() for c in raw.split(",") if c.strip()]
    unknown = [c for c in choices if c not in EXPORTERS]
    if unknown:
        raise InvalidArgument.field(
            "OTEL_TRACES_EXPORTER",
            f"unsupported exporter {unknown[0]!r} (use {', '.join(EXPORTERS)})",
        )
    return [c for c in choices if c != "none"]


def setup_tracing(
    service: str,
    *,
    extra_processors: Sequence[SpanProcessor] = (),
    env: Mapping[str, str] | None = None,
) -> TracerProvider:
    """setup_tracing installs the global tracer provider for this process.

    Call once at start-up. ``extra_processors`` lets tests collect spans in memory.
    """
    env = os.environ if env is None else env
    resource = Resource.create({SERVICE_NAME: env.get("OTEL_SERVICE_NAME") or f"ferry-{service}"})
    provider = TracerProvider(resource=resource)
    for choice in exporter_choices(env):
        if choice == "otlp":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            exporter: SpanExporter = OTLPSpanExporter()
        else:
            exporter = ConsoleSpanExporter()
        provider.add_span_processor(BatchSpanProcessor(RedactingExporter(exporter)))
    for processor in extra_processors:
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    return provider


_PROPAGATOR = TraceContextTextMapPropagator()


def current_trace_context() -> tuple[str, str]:
    """current_trace_context is the active span's W3C ``(traceparent, tracestate)``, to
    store with work that another process picks up later (a job); ("", "") with no span."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent", ""), carrier.get("tracestate", "")


def stored_span_context(traceparent: str, tracestate: str = "") -> SpanContext | None:
    """stored_span_context is the span a stored W3C context names (see
    :func:`current_trace_context`), to link to; None when it is missing or malformed (work
    recorded before tracing, or by an untraced process)."""
    if not traceparent:
        return None
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    context = trace.get_current_span(_PROPAGATOR.extract(carrier)).get_span_context()
    return context if context.is_valid else None


class RedactingExporter(SpanExporter):
    """RedactingExporter hides resolved secrets in span attributes, events and status
    before the spans leave the process (an exception message may quote one)."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not secrets.known():
            return self.inner.export(spans)
        return self.inner.export([redact_span(span) for span in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return secrets.redact(value)
    if isinstance(value, (list, tuple)):  # attribute values may be sequences of strings
        return type(value)(secrets.redact(v) if isinstance(v, str) else v for v in value)
    return value


def _redact_attributes(attributes: Attributes) -> Attributes:
    """_redact_attributes is attributes with secrets replaced; the same object when no
    value quotes one."""
    if not attributes:
        return attributes
    redacted = {key: _redact_value(value) for key, value in attributes.items()}
    return redacted if any(redacted[k] != v for k, v in attributes.items()) else attributes


def _redact_event(event: Event) -> Event:
    original = event.attributes
    attributes = _redact_attributes(original)
    return event if attributes is original else Event(event.name, attributes, event.timestamp)


def redact_span(span: ReadableSpan) -> ReadableSpan:
    """redact_span is span with every resolved secret replaced: a copy when it quoted
    one, else span itself (most spans quote none; copying each would be waste)."""
    status = span.status
    if status.description:
        description = secrets.redact(status.description)
        if description != status.description:
            status = Status(status.status_code, description)
    # Read once: ReadableSpan hands out a fresh view of its attributes and events each time.
    original_attributes, original_events = span.attributes, span.events
    attributes = _redact_attributes(original_attributes)
    events = [_redact_event(e) for e in original_events]
    unchanged = all(new is old for new, old in zip(events, original_events, strict=True))
    if status is span.status and attributes is original_attributes and unchanged:
        return span
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def server_interceptors() -> list[grpc.aio.ServerInterceptor]:
    """server_interceptors trace every incoming RPC (W3C context from metadata)."""
    return [aio_server_interceptor()]


def client_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """client_interceptors trace every outgoing RPC and inject W3C context."""
    return list(aio_client_interceptors())
