"""Values read from files that are read again when the files change: certificates, tokens."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Generic, TypeVar

from ferry.errors import FerryError

log = logging.getLogger(__name__)

T = TypeVar("T")

RELOAD_CHECK_SECONDS = 1.0
"""RELOAD_CHECK_SECONDS: how often, at most, the files' modification times are looked at."""

Stamp = tuple[tuple[int, int, int], ...]


class Reloading(Generic[T]):
    """Reloading is what ``load`` makes of some files, made again when one of them changes.

    :meth:`refresh` looks at the files' modification times, sizes and inodes at
    most once a second, so it can be called on every handshake or request. The
    first load raises; a later one that fails (a half-written renewal, a broken
    edit) keeps the previous value, is logged once per distinct error, and is
    tried again at the next look.
    """

    def __init__(self, paths: Iterable[str | Path], load: Callable[[], T], what: str) -> None:
        self._paths = [str(p) for p in paths if p]
        self._load = load
        self._what = what
        self._stamp = self._look()
        self.value: T = load()
        self._checked = time.monotonic()
        self.reloads = 0
        self.error = ""
        """error is the last failed load's, until a load succeeds."""

    def _look(self) -> Stamp | None:
        try:
            return tuple(
                (st.st_mtime_ns, st.st_size, st.st_ino) for st in map(os.stat, self._paths)
            )
        except OSError:
            return None  # the load names the missing file's setting

    def refresh(self) -> bool:
        """refresh loads again if a file changed since the last look; True when it did."""
        now = time.monotonic()
        if now - self._checked < RELOAD_CHECK_SECONDS:
            return False
        self._checked = now
        stamp = self._look()
        if stamp is not None and stamp == self._stamp:
            return False
        try:
            value = self._load()
        except (OSError, FerryError) as exc:
            message = exc.message if isinstance(exc, FerryError) else str(exc)
            if message != self.error:
                log.warning(
                    f"{self._what} not reloaded; the previous one stays", extra={"error": message}
                )
            self.error = message
            return False
        self.value, self._stamp, self.error = value, stamp, ""
        self.reloads += 1
        log.info(f"{self._what} reloaded", extra={"files": self._paths})
        return True
