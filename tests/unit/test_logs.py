"""JSON logs: one object per line, with extras and the current trace id; secrets hidden
there and in exported spans."""

from __future__ import annotations

import json
import logging
import sys

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from ferry import secrets
from ferry.logs import JsonFormatter
from ferry.telemetry import RedactingExporter


def record(msg: str, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("ferry.test", logging.WARNING, __file__, 1, msg, None, None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_json_line_carries_service_member_and_extras() -> None:
    line = JsonFormatter("agent", "agent-1").format(
        record("lease renewal failed", lease_id="7f", tries=3)
    )
    entry = json.loads(line)
    assert entry["service"] == "agent" and entry["member"] == "agent-1"
    assert entry["level"] == "warning" and entry["msg"] == "lease renewal failed"
    assert entry["lease_id"] == "7f" and entry["tries"] == 3
    assert "trace_id" not in entry
    assert entry["ts"].endswith("Z")


def test_json_line_carries_the_current_trace_and_span_ids() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("rpc") as span:
        entry = json.loads(JsonFormatter("coordinator", "c-1").format(record("inside")))
    ctx = span.get_span_context()
    assert entry["trace_id"] == f"{ctx.trace_id:032x}"
    assert entry["span_id"] == f"{ctx.span_id:016x}"


def test_non_json_values_are_rendered_as_text() -> None:
    entry = json.loads(JsonFormatter("x", "y").format(record("m", error=ValueError("bad"))))
    assert entry["error"] == "bad"


def test_exception_text_in_a_log_line_is_redacted() -> None:
    secrets.remember("exc-secret-value")
    try:
        raise ValueError("cannot connect with exc-secret-value")
    except ValueError:
        rec = record("connect failed")
        rec.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter("agent", "a-1").format(rec))
    assert "exc-secret-value" not in entry["exc"]
    assert "cannot connect with [redacted]" in entry["exc"]


def test_exported_spans_hide_secrets_and_clean_spans_go_out_as_they_are() -> None:
    secrets.remember("span-secret-value")
    finished = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(finished))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("clean") as span:
        span.set_attribute("index", "docs")
        span.add_event("batch", {"docs": 10})
    with tracer.start_as_current_span("leaky", record_exception=False) as span:
        span.set_attribute("dsn", "postgresql://u:span-secret-value@db/x")
        span.set_attribute("hosts", ["db-1", "span-secret-value"])
        span.add_event("retry", {"error": "auth span-secret-value failed"})
        span.set_status(Status(StatusCode.ERROR, "refused span-secret-value"))
    clean, leaky = finished.get_finished_spans()

    exported = InMemorySpanExporter()
    RedactingExporter(exported).export([clean, leaky])
    exported_clean, exported_leaky = exported.get_finished_spans()
    assert exported_clean is clean  # nothing to hide: not copied
    assert exported_leaky is not leaky
    assert exported_leaky.attributes == {
        "dsn": "postgresql://u:[redacted]@db/x",
        "hosts": ("db-1", "[redacted]"),
    }
    assert [dict(e.attributes or {}) for e in exported_leaky.events] == [
        {"error": "auth [redacted] failed"}
    ]
    assert exported_leaky.status.status_code == StatusCode.ERROR
    assert exported_leaky.status.description == "refused [redacted]"
    assert exported_leaky.context == leaky.context
