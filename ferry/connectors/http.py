"""The HTTP JSON source: records from a paged JSON API.

Each response is a JSON document holding a list of records (at
``records_path``); every record is one document, its id at ``id_field``.
Pagination is by page number (``?page=1``, ``2``, ... until an empty or
short page) or by cursor (the next cursor read from each response at
``cursor_path`` and sent back as ``cursor_param``, until there is none).

Failures: 429, 5xx and connection errors are retried with capped
exponential backoff and jitter; a ``Retry-After`` header (seconds or an
HTTP date) replaces the backoff, up to :data:`MAX_RETRY_AFTER_SECONDS`. Any
other status (redirects included: they are not followed, so the auth header
never reaches another host), or an answer that is not the expected JSON,
fails at once.
Errors name the method, URL and status, never the auth header's value.

Cursors: ``{"page": n}`` or ``{"cursor": c}``, the next page to fetch,
yielded after every page, so a restarted task resumes at the page it was on.
The source is not incremental: a FULL sync's sweep removes the records that
vanished.
"""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import logging
import math
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import aiohttp
from yarl import URL

from ferry import secrets
from ferry.connectors.sdk import (
    Checkpoint,
    ConfigSchema,
    Delete,
    Document,
    Field,
    FieldType,
    Source,
    TaskPlan,
)
from ferry.errors import FailedPrecondition, FieldViolation, Unavailable
from ferry.tasks import backoff

log = logging.getLogger(__name__)

MAX_RETRY_AFTER_SECONDS = 300.0
"""A server's Retry-After is honoured up to this long."""

SCHEMA = ConfigSchema(
    (
        Field(name="url", type=FieldType.STRING, required=True,
              description="The http:// or https:// URL of the first page, query included."),
        Field(name="records_path", type=FieldType.STRING, default="",
              description="Dotted path to the list of records in each JSON response "
                          "('data.items'); empty when the response is the list itself."),
        Field(name="id_field", type=FieldType.STRING, required=True,
              description="Dotted path to each record's id (a string or integer; integers "
                          "become strings)."),
        Field(name="pagination", type=FieldType.STRING, default="none",
              choices=("none", "page", "cursor"),
              description="'none': one request. 'page': page_param counts up from first_page "
                          "until a page is empty or shorter than page_size. 'cursor': each "
                          "response names the next page at cursor_path, sent as cursor_param; "
                          "a response without one is the last."),
        Field(name="page_param", type=FieldType.STRING, default="page",
              description="Query parameter of the page number (pagination 'page')."),
        Field(name="first_page", type=FieldType.INTEGER, default=1, minimum=0,
              description="Number of the first page (pagination 'page')."),
        Field(name="page_size_param", type=FieldType.STRING,
              description="Query parameter of the page size, sent with every request; set "
                          "with page_size."),
        Field(name="page_size", type=FieldType.INTEGER, minimum=1,
              description="Records per page asked for; a shorter page is the last one."),
        Field(name="cursor_path", type=FieldType.STRING,
              description="Dotted path in each response to the next page's cursor "
                          "(pagination 'cursor'; required there)."),
        Field(name="cursor_param", type=FieldType.STRING, default="cursor",
              description="Query parameter the cursor is sent as (pagination 'cursor')."),
        Field(name="headers", type=FieldType.OBJECT, default={},
              description="Static request headers (name: value); not for secrets, which "
                          "belong in auth_value."),
        Field(name="auth_header", type=FieldType.STRING, default="Authorization",
              description="Header that carries auth_value."),
        Field(name="auth_value", type=FieldType.STRING, secret=True,
              description="Value of auth_header, a secret reference such as "
                          "'Bearer ${env:API_TOKEN}'; unset sends no auth header."),
        Field(name="timeout_seconds", type=FieldType.NUMBER, default=30.0, minimum=0.1,
              maximum=3600, description="Timeout of one request, connection to last byte."),
        Field(name="max_retries", type=FieldType.INTEGER, default=5, minimum=0, maximum=100,
              description="Retries of a request that got 429, 5xx or no answer, before the "
                          "task fails (and the connector's error policy takes over)."),
        Field(name="initial_backoff_seconds", type=FieldType.NUMBER, default=0.5, minimum=0,
              maximum=3600, description="Delay before the first retry; doubles each retry."),
        Field(name="max_backoff_seconds", type=FieldType.NUMBER, default=30.0, minimum=0,
              maximum=3600, description="Cap of the retry delay (without Retry-After)."),
    )
)  # fmt: skip

_MISSING = object()


class ResponseRejected(FailedPrecondition):
    """ResponseRejected is an answer the source cannot use: a 4xx other than 429, a body
    that is not JSON, records or ids not where the config says. Retrying will not help."""


class RetriesExhausted(Unavailable):
    """RetriesExhausted says a request kept failing (429, 5xx, no answer) past max_retries."""


def at_path(value: Any, path: str) -> Any:
    """at_path follows a dotted path through objects (and lists, by index); _MISSING if absent."""
    if not path:
        return value
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def retry_after(value: str | None, now: datetime) -> float | None:
    """retry_after reads a Retry-After header (seconds or HTTP date) as seconds from now,
    between 0 and MAX_RETRY_AFTER_SECONDS; None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS)


def shown(url: URL) -> str:
    """shown is a URL fit for errors and logs: no user info, no resolved secret."""
    return secrets.redact(str(url.with_user(None)))


@dataclass(frozen=True)
class Settings:
    """Settings is a validated config, secrets resolved."""

    url: URL
    records_path: str
    id_field: str
    pagination: str
    page_param: str
    first_page: int
    page_size_param: str | None
    page_size: int | None
    cursor_path: str
    cursor_param: str
    headers: dict[str, str]
    timeout: float
    max_retries: int
    initial_backoff: float
    max_backoff: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        c = {**SCHEMA.defaults, **config}
        headers = {str(k): str(v) for k, v in c["headers"].items()}
        if c["auth_value"]:
            headers[c["auth_header"]] = c["auth_value"]
        return cls(
            url=URL(c["url"]),
            records_path=c["records_path"],
            id_field=c["id_field"],
            pagination=c["pagination"],
            page_param=c["page_param"],
            first_page=int(c["first_page"]),
            page_size_param=c["page_size_param"],
            page_size=c["page_size"],
            cursor_path=c["cursor_path"] or "",
            cursor_param=c["cursor_param"],
            headers=headers,
            timeout=float(c["timeout_seconds"]),
            max_retries=int(c["max_retries"]),
            initial_backoff=float(c["initial_backoff_seconds"]),
            max_backoff=float(c["max_backoff_seconds"]),
        )

    def page_url(self, position: Any) -> URL:
        """page_url is the URL of the page at ``position`` (a page number, a cursor, or
        None for the first page of cursor pagination)."""
        query: dict[str, str] = {}
        if self.page_size_param and self.page_size:
            query[self.page_size_param] = str(self.page_size)
        if self.pagination == "page":
            query[self.page_param] = str(position)
        elif self.pagination == "cursor" and position is not None:
            query[self.cursor_param] = str(position)
        return self.url.update_query(query) if query else self.url

    @property
    def first_position(self) -> Any:
        """first_position is the position of the first page: see :meth:`page_url`."""
        return self.first_page if self.pagination == "page" else None

    def backoff(self, attempt: int) -> float:
        """backoff is the delay before retry number ``attempt``: see :func:`ferry.tasks.backoff`."""
        return backoff(attempt, self.initial_backoff, self.max_backoff)


class HttpSource(Source):
    """HttpSource yields the records of a paged JSON API (see the module docstring)."""

    name = "http"
    description = "Records of a JSON HTTP API, paged by page number or cursor."
    incremental = False
    schema = SCHEMA

    @cached_property
    def settings(self) -> Settings:
        """settings is the config read once: URL parsed, auth header added."""
        return Settings.from_config(self.config)

    @classmethod
    def validate(cls, config: Mapping[str, Any]) -> list[FieldViolation]:
        problems = []

        def bad(name: str, description: str) -> None:
            problems.append(FieldViolation(f"config.{name}", description))

        url = config.get("url")
        if isinstance(url, str) and not secrets.has_reference(url):
            try:
                parsed = URL(url)
            except ValueError as exc:
                bad("url", f"is not a URL: {exc}")
            else:
                if parsed.scheme not in ("http", "https") or not parsed.host:
                    bad("url", "must be an http:// or https:// URL with a host")
        if config.get("id_field") == "":
            bad("id_field", "must not be empty")
        if config.get("pagination") == "cursor" and not config.get("cursor_path"):
            bad("cursor_path", "is required with pagination 'cursor'")
        if (config.get("page_size_param") is None) != (config.get("page_size") is None):
            bad("page_size", "page_size and page_size_param go together")
        headers = config.get("headers") or {}
        auth_header = str(config.get("auth_header", "Authorization"))
        if not auth_header:
            bad("auth_header", "must not be empty")
        if isinstance(headers, dict):
            for name, value in headers.items():
                if not name or not isinstance(value, str):
                    bad(f"headers.{name}", "must be a named header with a string value")
                elif name.lower() == auth_header.lower() and config.get("auth_value"):
                    bad(f"headers.{name}", "is auth_header: its value belongs in auth_value")
        initial = config.get("initial_backoff_seconds", SCHEMA.defaults["initial_backoff_seconds"])
        ceiling = config.get("max_backoff_seconds", SCHEMA.defaults["max_backoff_seconds"])
        if isinstance(initial, int | float) and isinstance(ceiling, int | float):
            if initial > ceiling:
                bad("initial_backoff_seconds", "must not exceed max_backoff_seconds")
        return problems

    def _session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            headers=self.settings.headers,
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout),
        )

    async def ping(self) -> None:
        """ping sends one GET to the first page: an answer below 500 means reachable."""
        url = self.settings.page_url(self.settings.first_position)
        try:
            async with (
                self._session() as session,
                session.get(url, allow_redirects=False) as response,
            ):
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(f"http: GET {shown(url)} failed: {_describe(exc)}") from None
        if status >= 500:
            raise Unavailable(f"http: GET {shown(url)} answered {status}")

    async def stream(
        self, task: TaskPlan, *, full: bool, cursor: Mapping[str, Any] | None
    ) -> AsyncIterator[Document | Delete | Checkpoint]:
        s = self.settings
        position = self._start(cursor or {})
        async with self._session() as session:
            while True:
                url = s.page_url(position)
                body = await self._get_json(session, url)
                records = at_path(body, s.records_path)
                if not isinstance(records, list):
                    where = f"at {s.records_path!r}" if s.records_path else "the response"
                    found = "nothing" if records is _MISSING else type(records).__name__
                    raise ResponseRejected(
                        f"http: GET {shown(url)}: {where} is {found}, not a list of records"
                    )
                for i, record in enumerate(records):
                    yield Document(id=_record_id(record, s.id_field, url, i), source=record)
                position = self._next(position, body, len(records), url)
                if position is None:
                    return
                key = "page" if s.pagination == "page" else "cursor"
                yield Checkpoint({key: position})

    def _start(self, cursor: Mapping[str, Any]) -> Any:
        """_start is the position of the first page to fetch: a checkpoint's, else the first."""
        s = self.settings
        if s.pagination == "page":
            page = cursor.get("page")
            if isinstance(page, int | float) and not isinstance(page, bool):
                return int(page)
        elif s.pagination == "cursor" and cursor.get("cursor") is not None:
            position = cursor["cursor"]
            # A numeric cursor comes back from the checkpoint as a float: 500 → 500.0.
            if isinstance(position, float) and position.is_integer():
                return int(position)
            return position
        return s.first_position

    def _next(self, position: Any, body: Any, count: int, url: URL) -> Any:
        """_next is the position of the page after ``position``, None after the last."""
        s = self.settings
        if s.pagination == "page":
            if count == 0 or (s.page_size is not None and count < s.page_size):
                return None
            return position + 1
        if s.pagination == "cursor":
            following = at_path(body, s.cursor_path)
            if following is _MISSING or following is None or following == "":
                return None
            if not isinstance(following, str | int | float) or isinstance(following, bool):
                raise ResponseRejected(
                    f"http: GET {shown(url)}: the cursor at {s.cursor_path!r} is "
                    f"{type(following).__name__}, not a string or number"
                )
            if following == position:
                raise ResponseRejected(
                    f"http: GET {shown(url)}: the cursor at {s.cursor_path!r} did not advance"
                )
            return following
        return None

    async def _get_json(self, session: aiohttp.ClientSession, url: URL) -> Any:
        """_get_json GETs url and parses its JSON, retrying 429, 5xx and connection errors."""
        s = self.settings
        for attempt in itertools.count(1):
            wait: float | None = None
            try:
                async with session.get(url, allow_redirects=False) as response:
                    status = response.status
                    if 200 <= status < 300:
                        try:
                            return await response.json(content_type=None)
                        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
                            raise ResponseRejected(
                                f"http: GET {shown(url)} answered {status} with a body "
                                f"that is not JSON: {exc}"
                            ) from None
                    failure = f"answered {status} {response.reason or ''}".rstrip()
                    if 300 <= status < 400:
                        # Not followed: the auth header must not travel to another host.
                        target = response.headers.get("Location", "")
                        raise ResponseRejected(
                            f"http: GET {shown(url)} {failure} to {secrets.redact(target)}: "
                            "redirects are not followed, set url to the final address"
                        )
                    if status != 429 and not 500 <= status <= 599:
                        raise ResponseRejected(f"http: GET {shown(url)} {failure}")
                    wait = retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
            except (aiohttp.ClientError, TimeoutError) as exc:
                failure = f"failed: {_describe(exc)}"
            if attempt > s.max_retries:
                raise RetriesExhausted(
                    f"http: GET {shown(url)} {failure} (after {s.max_retries} retries)"
                )
            delay = wait if wait is not None else s.backoff(attempt)
            log.warning(
                "http: request failed; retrying",
                extra={"url": shown(url), "error": failure, "attempt": attempt, "in": delay},
            )
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return secrets.redact(text)


def _record_id(record: Any, id_field: str, url: URL, i: int) -> str:
    if not isinstance(record, dict):
        raise ResponseRejected(
            f"http: GET {shown(url)}: record {i} is a {type(record).__name__}, not an object"
        )
    value = at_path(record, id_field)
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        found = "missing" if value is _MISSING else repr(value)[:80]
        raise ResponseRejected(
            f"http: GET {shown(url)}: record {i} has no string or integer id at "
            f"{id_field!r} ({found})"
        )
    return str(value)
