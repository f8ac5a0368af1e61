"""open_store: a Store from its URL."""

from __future__ import annotations

from urllib.parse import urlsplit

from ferry.errors import InvalidArgument
from ferry.store.common import DEFAULT_LIMITS, Limits
from ferry.store.store import Store


def open_store(url: str, *, limits: Limits = DEFAULT_LIMITS) -> Store:
    """open_store builds (but does not start) the store a URL names.

    ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or
    ``postgresql://user:password@host:port/db`` (``?host=/socket/dir`` for a
    Unix socket).
    """
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from ferry.store.sqlite import SqliteStore

        # sqlite:///relative.db or sqlite:////absolute/path.db, as SQLAlchemy spells them.
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not path:
            raise InvalidArgument.field("store_url", f"{url!r}: use sqlite:///path/to/file.db")
        return SqliteStore(path, limits=limits)
    if scheme in ("postgresql", "postgres"):
        from ferry.store.postgres import PostgresStore

        return PostgresStore(url, limits=limits)
    raise InvalidArgument.field("store_url", f"{url!r}: the scheme must be sqlite or postgresql")
