"""JsonApi: a real paged JSON API on 127.0.0.1 for the HTTP source's tests.

``/pages?page=N&size=K`` answers a JSON list (page pagination);
``/cursor?after=C`` answers ``{"data": {"items": [...]}, "next": C2}``
(cursor pagination). Answers scripted with :meth:`JsonApi.fail` come first,
and every request is recorded with its server-side arrival time.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Seen:
    at: float
    """time.monotonic() when the request arrived."""
    path: str
    page: str
    authorization: str | None


@dataclass
class JsonApi:
    records: list[dict[str, Any]]
    page_size: int = 5
    token: str | None = None
    """When set, requests without ``Authorization: <token>`` get 401."""
    requests: list[Seen] = field(default_factory=list)
    _scripted: dict[str, list[web.Response]] = field(default_factory=dict)

    def fail(self, page: str, status: int, headers: dict[str, str] | None = None) -> None:
        """fail answers the next request for ``page`` (a page number or cursor, "" for the
        first cursor page) with ``status``."""
        response = web.json_response({"error": status}, status=status, headers=headers)
        self._scripted.setdefault(page, []).append(response)

    def seen(self, page: str) -> list[Seen]:
        return [r for r in self.requests if r.page == page]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/pages", self._pages)
        app.router.add_get("/cursor", self._cursor)
        return app

    def _answer(self, request: web.Request, page: str) -> web.Response | None:
        auth = request.headers.get("Authorization")
        self.requests.append(Seen(time.monotonic(), request.path, page, auth))
        if self.token is not None and auth != self.token:
            return web.json_response({"error": "unauthorized"}, status=401)
        scripted = self._scripted.get(page)
        return scripted.pop(0) if scripted else None

    async def _pages(self, request: web.Request) -> web.Response:
        page = request.query.get("page", "1")
        if (answer := self._answer(request, page)) is not None:
            return answer
        size = int(request.query.get("size", self.page_size))
        start = (int(page) - 1) * size
        return web.json_response(self.records[start : start + size])

    async def _cursor(self, request: web.Request) -> web.Response:
        after = request.query.get("after", "")
        if (answer := self._answer(request, after)) is not None:
            return answer
        start = int(after.removeprefix("c")) if after else 0
        end = start + self.page_size
        body: dict[str, Any] = {"data": {"items": self.records[start:end]}}
        if end < len(self.records):
            body["next"] = f"c{end}"
        return web.json_response(body)


@asynccontextmanager
async def serve(api: JsonApi) -> AsyncIterator[str]:
    """serve runs the API in the running event loop; yields its base URL."""
    runner = web.AppRunner(api.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@contextmanager
def serve_in_thread(api: JsonApi) -> Iterator[str]:
    """serve_in_thread runs the API on its own event loop in a thread, for other
    processes to call; yields its base URL."""
    loop = asyncio.new_event_loop()
    ready: asyncio.Future[str] = loop.create_future()
    stop = asyncio.Event()

    async def main() -> None:
        async with serve(api) as url:
            ready.set_result(url)
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        yield asyncio.run_coroutine_threadsafe(_wait(ready), loop).result(timeout=10)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()


async def _wait(future: asyncio.Future[str]) -> str:
    return await future
