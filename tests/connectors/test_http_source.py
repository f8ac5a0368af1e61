"""The HTTP JSON source against a real local API: pagination by page and by cursor,
retries of 429 (honouring Retry-After) and 5xx, auth from a secret, clear failures."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from ferry import secrets
from ferry.connectors import Checkpoint, Delete, Document, TaskPlan
from ferry.connectors.http import (
    MAX_RETRY_AFTER_SECONDS,
    HttpSource,
    ResponseRejected,
    RetriesExhausted,
    retry_after,
)
from ferry.errors import Unavailable
from tests.connectors.http_api import JsonApi, serve

Item = Document | Delete | Checkpoint
TASK = TaskPlan(partition="all")
RECORDS = [{"id": n, "name": f"record {n}"} for n in range(1, 13)]  # pages of 5: 5, 5, 2
QUICK = {"initial_backoff_seconds": 0.05, "max_backoff_seconds": 0.2}


def source(config: Mapping[str, Any]) -> HttpSource:
    normalised, problems = HttpSource.schema.validate(config)
    assert problems == []
    assert HttpSource.validate(normalised) == []
    return HttpSource(secrets.resolve(normalised))


async def collect(src: HttpSource, cursor: Mapping[str, Any] | None = None) -> list[Item]:
    return [item async for item in src.stream(TASK, full=True, cursor=cursor)]


def ids(items: list[Item]) -> list[str]:
    return [i.id for i in items if isinstance(i, Document)]


def paged(base: str, **extra: Any) -> dict[str, Any]:
    return {
        "url": f"{base}/pages",
        "id_field": "id",
        "pagination": "page",
        "page_size_param": "size",
        "page_size": 5,
        **QUICK,
        **extra,
    }


async def test_three_pages_survive_a_429_and_a_500() -> None:
    api = JsonApi(RECORDS)
    api.fail("2", 429, {"Retry-After": "1"})
    api.fail("3", 500)
    async with serve(api) as base:
        items = await collect(source(paged(base)))

    assert ids(items) == [str(n) for n in range(1, 13)]  # every record once, in order
    docs = [i for i in items if isinstance(i, Document)]
    assert docs[0].source == {"id": 1, "name": "record 1"}
    assert [i.cursor for i in items if isinstance(i, Checkpoint)] == [{"page": 2}, {"page": 3}]
    # The short third page is the last: no fourth request.
    assert [r.page for r in api.requests] == ["1", "2", "2", "3", "3"]
    limited, retried = api.seen("2")
    assert retried.at - limited.at >= 1.0, "the retry did not wait for Retry-After"


async def test_cursor_pagination_and_resuming_from_a_checkpoint() -> None:
    api = JsonApi(RECORDS)
    api.fail("c5", 503)
    config = {
        "url": "",
        "records_path": "data.items",
        "id_field": "id",
        "pagination": "cursor",
        "cursor_path": "next",
        "cursor_param": "after",
        **QUICK,
    }
    async with serve(api) as base:
        config["url"] = f"{base}/cursor"
        items = await collect(source(config))
        resumed = await collect(source(config), cursor={"cursor": "c10"})

    assert ids(items) == [str(n) for n in range(1, 13)]
    assert [i.cursor for i in items if isinstance(i, Checkpoint)] == [
        {"cursor": "c5"},
        {"cursor": "c10"},
    ]
    assert ids(resumed) == ["11", "12"]
    assert len(api.seen("c5")) == 2  # the 503, then the page


async def test_auth_header_carries_the_resolved_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERRY_HTTP_TEST_TOKEN", "s3cr3t-token-value")
    api = JsonApi(RECORDS, token="Bearer s3cr3t-token-value")
    async with serve(api) as base:
        items = await collect(source(paged(base, auth_value="Bearer ${env:FERRY_HTTP_TEST_TOKEN}")))

    assert len(ids(items)) == 12
    assert {r.authorization for r in api.requests} == {"Bearer s3cr3t-token-value"}


async def test_a_404_fails_at_once_naming_status_and_url() -> None:
    api = JsonApi(RECORDS)
    api.fail("1", 404)
    async with serve(api) as base:
        with pytest.raises(ResponseRejected) as failure:
            await collect(source(paged(base)))

    assert "404" in str(failure.value)
    assert f"{base}/pages?" in str(failure.value)
    assert len(api.requests) == 1


async def test_retries_run_out_without_showing_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERRY_HTTP_TEST_TOKEN", "another-s3cret-value")
    api = JsonApi(RECORDS)
    for _ in range(3):
        api.fail("1", 502)
    config = paged("", auth_value="Bearer ${env:FERRY_HTTP_TEST_TOKEN}", max_retries=2)
    async with serve(api) as base:
        config["url"] = f"{base}/pages?key=another-s3cret-value"
        with pytest.raises(RetriesExhausted) as failure:
            await collect(source(config))

    message = str(failure.value)
    assert "502" in message and "after 2 retries" in message
    assert "another-s3cret-value" not in message  # redacted, even from the query
    assert len(api.requests) == 3


async def test_records_without_ids_fail_naming_the_field() -> None:
    api = JsonApi([{"name": "no id"}])
    async with serve(api) as base:
        with pytest.raises(ResponseRejected, match="record 0 has no string or integer id at 'id'"):
            await collect(source(paged(base)))


async def test_redirects_are_not_followed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERRY_HTTP_TEST_TOKEN", "key-that-stays-home")
    api = JsonApi(RECORDS)
    api.fail("1", 302, {"Location": "http://elsewhere.invalid/pages"})
    config = paged("", auth_header="X-Api-Key", auth_value="${env:FERRY_HTTP_TEST_TOKEN}")
    async with serve(api) as base:
        config["url"] = f"{base}/pages"
        with pytest.raises(
            ResponseRejected, match=re.escape("302 Found to http://elsewhere.invalid/pages")
        ):
            await collect(source(config))
    assert len(api.requests) == 1


async def test_ping_accepts_answers_below_500() -> None:
    api = JsonApi(RECORDS)
    api.fail("1", 404)
    api.fail("1", 503)
    async with serve(api) as base:
        await source(paged(base)).ping()
        with pytest.raises(Unavailable, match="503"):
            await source(paged(base)).ping()
        cursor_config = {"url": f"{base}/cursor", "id_field": "id", "pagination": "cursor",
                         "cursor_path": "next", "cursor_param": "after"}  # fmt: skip
        await source(cursor_config).ping()
    assert [r.page for r in api.requests] == ["1", "1", ""]  # the first page has no cursor


def test_retry_after_reads_seconds_and_dates() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after("3", now) == 3.0
    assert retry_after(format_datetime(now + timedelta(seconds=7), usegmt=True), now) == 7.0
    assert retry_after("86400", now) == MAX_RETRY_AFTER_SECONDS
    assert retry_after("soon", now) is None
    assert retry_after(None, now) is None


def test_validate_names_the_bad_fields() -> None:
    config = {
        "url": "ftp://example.com/x",
        "id_field": "id",
        "pagination": "cursor",
        "page_size": 10,
        "headers": {"authorization": "Basic abc"},
        "auth_value": "${env:TOKEN}",
    }
    normalised, problems = HttpSource.schema.validate(config)
    assert problems == []
    assert {v.field for v in HttpSource.validate(normalised)} == {
        "config.url",
        "config.cursor_path",
        "config.page_size",
        "config.headers.authorization",
    }
    _, problems = HttpSource.schema.validate(
        {"url": "http://x", "id_field": "id", "auth_value": "plain"}
    )
    assert [p.field for p in problems] == ["config.auth_value"]


def test_a_numeric_cursor_resumes_as_the_number_it_was() -> None:
    config = {"url": "https://api.example/items", "id_field": "id", "pagination": "cursor",
              "cursor_path": "next"}  # fmt: skip
    # Checkpoints pass through protobuf Struct, where 500 comes back as 500.0.
    assert source(config)._start({"cursor": 500.0}) == 500
    assert source(config)._start({"cursor": "c5"}) == "c5"
