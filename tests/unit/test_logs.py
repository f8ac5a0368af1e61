"""JSON logs: one object per line, with extras and the current trace id."""

from __future__ import annotations

import json
import logging

from opentelemetry.sdk.trace import TracerProvider

from ferry.logs import JsonFormatter


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
