"""Name rules shared by the API, the CLI and the etcd key layout."""

from __future__ import annotations

import re

from ferry.errors import InvalidArgument

# \Z, not $: "$" also matches before a final newline, which would let "name\n" through.
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*\Z")
LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?\Z"
)
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?\Z")


def dns1123_label_error(value: str) -> str | None:
    """dns1123_label_error explains why value is not a DNS-1123 label, or returns None."""
    if not value:
        return "is required"
    if len(value) > 63:
        return f"must be at most 63 characters, got {len(value)}"
    if not DNS1123_LABEL.match(value):
        return (
            f"{value!r} is not a DNS-1123 label: lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return None


def index_name_error(value: str) -> str | None:
    """index_name_error explains why value is not a valid index name, or returns None."""
    if not value:
        return "is required"
    if len(value.encode()) > 255:
        return "must be at most 255 bytes"
    if not INDEX_NAME.match(value) or value in (".", ".."):
        return f"{value!r} is not an index name: lower-case letters, digits, '.', '_' and '-'"
    return None


def label_error(key: str, value: str) -> str | None:
    """label_error checks a Kubernetes-style label key and value."""
    if not LABEL_KEY.match(key) or len(key) > 317:
        return f"label key {key!r} is invalid"
    if len(value) > 63 or not LABEL_VALUE.match(value):
        return f"label value {value!r} is invalid"
    return None


def check_label(name: str, field: str) -> None:
    """check_label raises InvalidArgument naming ``field`` unless name is a DNS-1123 label."""
    if (problem := dns1123_label_error(name)) is not None:
        raise InvalidArgument.field(field, problem)
