"""Secret references in connector configs, resolved on the agent, never shown.

A config string may hold ``${env:NAME}`` (an environment variable of the
agent) or ``${file:PATH}`` (a file on the agent, trailing newline dropped;
Kubernetes secrets mounted as files). A field the source marks ``secret``
must hold a reference: the stored spec, and so every API response, carries
only the reference.

Every value resolved here is remembered by the process, and :func:`redact`
replaces it with ``[redacted]`` wherever text leaves the process: log lines,
task errors stored in etcd, exported spans.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ferry.errors import FieldViolation

REFERENCE = re.compile(r"\$\{(env|file):([^}]*)\}")
REDACTED = "[redacted]"
MIN_REDACTED_LENGTH = 4
"""Values shorter than this are not redacted: replacing every "ab" would garble all text."""
MAX_SECRET_FILE_BYTES = 64 * 1024

_known: set[str] = set()
_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()


class SecretError(Exception):
    """SecretError names the config field whose reference cannot be resolved."""

    def __init__(self, violation: FieldViolation) -> None:
        super().__init__(str(violation))
        self.violation = violation


def has_reference(value: str) -> bool:
    return REFERENCE.search(value) is not None


def reference_errors(value: str) -> list[str]:
    """reference_errors describes every malformed reference in value."""
    problems = []
    for kind, target in REFERENCE.findall(value):
        if not target:
            problems.append(f"${{{kind}:}} names no {'variable' if kind == 'env' else 'file'}")
        elif kind == "env" and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", target):
            problems.append(f"{target!r} is not an environment variable name")
        elif kind == "file" and not target.startswith("/"):
            problems.append(f"{target!r} is not an absolute path")
    if "${" in REFERENCE.sub("", value):
        problems.append("holds '${' that is not a ${env:NAME} or ${file:PATH} reference")
    return problems


def resolve(config: Mapping[str, Any], *, path: str = "config") -> dict[str, Any]:
    """resolve returns config with every reference replaced by its value.

    Raises SecretError naming the field when a variable is unset or a file
    cannot be read. Resolved values are remembered for :func:`redact`.
    """
    return {key: _resolve(value, f"{path}.{key}") for key, value in config.items()}


def _resolve(value: Any, where: str) -> Any:
    if isinstance(value, str):
        return REFERENCE.sub(lambda m: _lookup(m.group(1), m.group(2), where), value)
    if isinstance(value, dict):
        return {k: _resolve(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _lookup(kind: str, target: str, where: str) -> str:
    if kind == "env":
        found = os.environ.get(target)
        if found is None:
            raise SecretError(
                FieldViolation(
                    where, f"environment variable {target} is not set in this process's environment"
                )
            )
    else:
        try:
            with Path(target).open("rb") as f:
                data = f.read(MAX_SECRET_FILE_BYTES + 1)
        except OSError as exc:
            raise SecretError(
                FieldViolation(where, f"secret file {target} cannot be read: {exc.strerror}")
            ) from None
        if len(data) > MAX_SECRET_FILE_BYTES:
            raise SecretError(
                FieldViolation(where, f"secret file {target} exceeds {MAX_SECRET_FILE_BYTES} bytes")
            )
        found = data.decode("utf-8", errors="replace").removesuffix("\n")
    remember(found)
    return found


def remember(value: str) -> None:
    """remember adds a value that :func:`redact` must hide from now on."""
    global _pattern
    if len(value) < MIN_REDACTED_LENGTH or value in _known:
        return
    with _lock:
        _known.add(value)
        # Longest first, so a secret containing another is hidden whole.
        ordered = sorted(_known, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(v) for v in ordered))


def known() -> frozenset[str]:
    return frozenset(_known)


def redact(text: str) -> str:
    """redact hides every secret value this process resolved."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(REDACTED, text)
