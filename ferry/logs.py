"""Structured JSON logs, one object per line, carrying the current trace id."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from opentelemetry import trace

from ferry import secrets

# Attributes every LogRecord has; anything else came in through ``extra=``.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """JsonFormatter renders a record as one JSON object with trace and span ids.

    Text that holds a resolved secret (see :mod:`ferry.secrets`) is redacted.
    """

    def __init__(self, service: str, member_id: str) -> None:
        super().__init__()
        self.service = service
        self.member_id = member_id

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "member": self.member_id,
            "logger": record.name,
            "msg": secrets.redact(record.getMessage()),
        }
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            entry["trace_id"] = f"{ctx.trace_id:032x}"
            entry["span_id"] = f"{ctx.span_id:016x}"
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = (
                    value
                    if isinstance(value, (int, float, bool, type(None)))
                    else secrets.redact(str(value))
                )
        if record.exc_info:
            entry["exc"] = secrets.redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure(service: str, member_id: str, level: str = "info") -> None:
    """configure sends every log record to stderr as JSON; idempotent."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service, member_id))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # grpc and etcd clients are chatty at info.
    for noisy in ("aetcd", "grpc", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
