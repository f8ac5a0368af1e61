"""The filesystem source: the files under a root directory, as documents.

A file is one document (id: its path relative to the root, "/"-separated)
with its metadata and, for small text files, its text. JSON Lines and CSV
files are one document per line or row instead (id: ``<path>:<line>``, or
the value of ``id_field``).

Change detection. Every stream ends with a cursor holding a **manifest**:
per file its size, mtime (ns), a SHA-256 prefix (when ``hash``) and, for
rows with positional ids, its line count. An INCREMENTAL stream from a
manifest skips files whose size and mtime are unchanged (or, when only the
mtime moved, whose hash is unchanged), re-reads changed and new files, and
deletes the documents of files that are gone, and rows past a shrunken
file's end. A config change that shapes documents (format, id_field, ...)
makes every file count as changed.

Cursors:

- ``{"files": M, "config": C}``: a finished stream; M is the manifest.
- ``{"after": P, "files": M, "config": C}``: a stream stopped after file P
  (files go in sorted order). M describes files up to P as written and
  those after P as they were before the stream, so a restart resumes after P.
  A file interrupted halfway is read again from its start.

Limits: the manifest travels in etcd with every checkpoint, so a task covers
at most :data:`MAX_FILES_PER_TASK` files and :data:`MAX_MANIFEST_BYTES` of
manifest; beyond that the task fails saying so (raise ``tasks_max`` or
narrow ``include``). With ``id_field`` the row ids are not remembered, so
only a FULL sync removes rows and files that vanished.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import itertools
import json
import logging
import mimetypes
import os
import re
import stat
from collections.abc import AsyncIterator, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from ferry.connectors.sdk import (
    Checkpoint,
    ConfigSchema,
    Delete,
    Document,
    Field,
    FieldType,
    Source,
    TaskPlan,
    path_violations,
)
from ferry.errors import FailedPrecondition, FieldViolation

log = logging.getLogger(__name__)

MAX_FILES_PER_TASK = 4000
"""MAX_FILES_PER_TASK bounds the files one task covers (its manifest lives in etcd)."""
MAX_MANIFEST_BYTES = 512 * 1024
"""MAX_MANIFEST_BYTES bounds a task's manifest: etcd refuses requests over 1.5 MiB, and
a checkpoint writes the cursor twice (task record and connector offset)."""
ENTRY_BYTES = 100
"""ENTRY_BYTES bounds one manifest entry's JSON, its path aside."""
DIGEST_CHARS = 32
"""The manifest keeps 128 bits of each SHA-256: plenty to see a change, half the bytes."""
CHECKPOINT_FILES = 100
CHECKPOINT_DOCS = 1000
"""A checkpoint follows the file after which this many files or documents went by."""
BATCH = 500
"""Rows read per hop to the reading thread."""
MAX_BAD_LINES_LOGGED = 10
"""Bad lines of one file logged one by one; the rest are counted in one line."""
CHUNK = 1024 * 1024

SCHEMA = ConfigSchema(
    (
        Field(name="path", type=FieldType.STRING, required=True,
              description="Absolute path of the root directory, on the agents that run the "
                          "tasks."),
        Field(name="include", type=FieldType.LIST, default=["**/*"],
              description="Glob patterns of the files to sync, relative to path: '*' and '?' "
                          "stay within a directory, '**' spans directories ('**/*.csv' is "
                          "every CSV file, '*.csv' only those at the top)."),
        Field(name="exclude", type=FieldType.LIST, default=[],
              description="Glob patterns of files to skip, as include; exclude wins."),
        Field(name="include_hidden", type=FieldType.BOOLEAN, default=False,
              description="Sync hidden files and look into hidden directories (names "
                          "starting with '.', such as .git); skipped by default."),
        Field(name="format", type=FieldType.STRING, default="auto",
              choices=("auto", "file", "jsonl", "csv"),
              description="How files become documents: 'file' one document per file, "
                          "'jsonl' one per JSON Lines line, 'csv' one per CSV row (the header "
                          "row names the fields; values are strings); 'auto' by extension: "
                          ".jsonl and .ndjson as jsonl, .csv as csv, anything else as file."),
        Field(name="id_field", type=FieldType.STRING,
              description="For JSON Lines and CSV rows: the field whose value is the document "
                          "id. Unset: '<path>:<line>'. When set, INCREMENTAL syncs cannot "
                          "delete rows that vanished; FULL syncs do."),
        Field(name="max_content_bytes", type=FieldType.INTEGER, default=1024 * 1024,
              minimum=0, maximum=8 * 1024 * 1024,
              description="Text (UTF-8) files up to this size carry their text in 'content'; "
                          "larger and binary files carry their metadata only."),
        Field(name="hash", type=FieldType.BOOLEAN, default=True,
              description="Compute each file's SHA-256: documents carry it in 'sha256', and "
                          "a file whose mtime moved but whose content did not is not "
                          "re-synced. Costs one read of every file whose mtime changed."),
    )
)  # fmt: skip

_KINDS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
_LETTER = {"file": "f", "jsonl": "j", "csv": "c"}


class ManifestTooLarge(FailedPrecondition):
    """ManifestTooLarge says a task covers more files than its cursor can describe."""


class SourceUnreadable(FailedPrecondition):
    """SourceUnreadable says the root directory is missing or cannot be read."""


# Glob patterns -----------------------------------------------------------------


def _segment_regex(segment: str) -> str:
    out, i = [], 0
    while i < len(segment):
        c = segment[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[" and (end := segment.find("]", i + 2)) != -1:
            body = segment[i + 1 : end]
            negate = body.startswith("!")
            body = re.sub(r"([\\^])", r"\\\1", body[1:] if negate else body)
            out.append(f"[{'^/' if negate else ''}{body}]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """glob_regex compiles a glob over "/"-separated relative paths.

    ``*``, ``?`` and ``[...]`` match within one path segment; a ``**`` segment
    matches any number of segments, none included.
    """
    segments = pattern.split("/")
    regex = ""
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == "**":
            regex += ".*" if last else "(?:.*/)?"
        else:
            regex += _segment_regex(segment) + ("" if last else "/")
    return re.compile(regex, re.DOTALL)


def _pattern_problems(where: str, value: Any) -> list[FieldViolation]:
    if not isinstance(value, list):
        return []  # the schema already said so
    problems = []
    for i, pattern in enumerate(value):
        at = f"{where}[{i}]"
        if not isinstance(pattern, str) or not pattern:
            problems.append(FieldViolation(at, "must be a non-empty string"))
        elif pattern.startswith("/"):
            problems.append(FieldViolation(at, "must be relative to path"))
        elif ".." in pattern.split("/"):
            problems.append(FieldViolation(at, "must not climb out of path with '..'"))
    return problems


# Settings and the manifest ----------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Settings is a validated config, patterns compiled."""

    root: Path
    include: tuple[re.Pattern[str], ...]
    exclude: tuple[re.Pattern[str], ...]
    include_hidden: bool
    format: str
    id_field: str | None
    max_content_bytes: int
    hash: bool
    fingerprint: str
    """fingerprint changes when a setting that shapes documents does."""

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        c = {**SCHEMA.defaults, **config}
        shaping = {k: c[k] for k in ("path", "format", "id_field", "max_content_bytes", "hash")}
        digest = hashlib.blake2b(json.dumps(shaping, sort_keys=True).encode(), digest_size=8)
        return cls(
            root=Path(c["path"]),
            include=tuple(glob_regex(p) for p in c["include"]),
            exclude=tuple(glob_regex(p) for p in c["exclude"]),
            include_hidden=bool(c["include_hidden"]),
            format=str(c["format"]),
            id_field=c["id_field"] or None,
            max_content_bytes=int(c["max_content_bytes"]),
            hash=bool(c["hash"]),
            fingerprint=digest.hexdigest(),
        )

    def kind(self, rel: str) -> str:
        """kind is how a file becomes documents: "file", "jsonl" or "csv"."""
        if self.format != "auto":
            return self.format
        return _KINDS.get(os.path.splitext(rel)[1].lower(), "file")

    def pruned(self, rel_dir: str) -> bool:
        """pruned says the walk skips a directory: hidden, or excluded as a whole
        (an exclude pattern such as 'dir/**' matches 'dir/')."""
        if not self.include_hidden and _hidden(rel_dir.rsplit("/", 1)[-1]):
            return True
        return any(p.fullmatch(f"{rel_dir}/") for p in self.exclude)

    def wanted(self, rel: str) -> bool:
        return any(p.fullmatch(rel) for p in self.include) and not any(
            p.fullmatch(rel) for p in self.exclude
        )


@dataclass(frozen=True)
class Entry:
    """Entry is what the manifest remembers of one file, as last written to the index.

    ``lines`` is the line count of a rows file with positional ids (its ids are
    ``<path>:1`` .. ``<path>:lines``), 0 for a file document, None for rows
    whose ids come from ``id_field``.
    """

    letter: str
    size: int
    mtime_ns: int
    digest: str
    lines: int | None

    @property
    def positional(self) -> bool:
        """positional says the index holds the file as rows ``<path>:1`` .. ``<path>:lines``."""
        return self.letter != _LETTER["file"] and self.lines is not None

    def to_json(self) -> list[Any]:
        # mtime_ns goes as a string: the cursor travels as a protobuf Struct, whose
        # numbers are doubles, exact only up to 2**53.
        return [self.letter, self.size, str(self.mtime_ns), self.digest, self.lines]

    @classmethod
    def from_json(cls, value: Any) -> Entry | None:
        try:
            letter, size, mtime_ns, digest, lines = value
            return cls(
                str(letter), int(size), int(mtime_ns), str(digest),
                None if lines is None else int(lines),
            )  # fmt: skip
        except (TypeError, ValueError):
            return None


@dataclass(frozen=True)
class FileStat:
    size: int
    mtime_ns: int


def partition_of(rel: str, of: int) -> int:
    """partition_of is the task (0 .. of-1) a file belongs to: a stable hash of its path."""
    digest = hashlib.blake2b(rel.encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % of


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _hidden(name: str) -> bool:
    return name.startswith(".")


def list_files(settings: Settings, part: int, of: int) -> dict[str, FileStat]:
    """list_files finds the task's regular files (blocking: run it in a thread)."""
    root = settings.root
    if not root.is_dir():
        raise SourceUnreadable(f"filesystem: {root} is not a directory on this agent")
    found: dict[str, FileStat] = {}

    def failed(exc: OSError) -> None:
        if isinstance(exc, FileNotFoundError):
            return  # removed while we walked: its files are gone
        # Skipping it would make its files look removed, and delete them from the index.
        raise SourceUnreadable(
            f"filesystem: cannot list {exc.filename}: {exc.strerror} "
            "(exclude it with a pattern such as 'dir/**')"
        )

    for top, dirs, files in os.walk(root, onerror=failed):
        base = Path(top).relative_to(root).as_posix()
        dirs[:] = [d for d in dirs if not settings.pruned(d if base == "." else f"{base}/{d}")]
        for name in files:
            if not settings.include_hidden and _hidden(name):
                continue
            rel = name if base == "." else f"{base}/{name}"
            if not _utf8(rel):
                log.warning("filesystem: file name skipped (not UTF-8)", extra={"file": ascii(rel)})
                continue
            if not settings.wanted(rel) or partition_of(rel, of) != part:
                continue
            try:
                st = os.stat(os.path.join(top, name))
            except OSError:
                continue  # gone since the listing, or a dangling link
            if stat.S_ISREG(st.st_mode):
                found[rel] = FileStat(st.st_size, st.st_mtime_ns)
    return found


# Reading files (blocking: each runs in a thread) -------------------------------------


class _HashingReader(io.RawIOBase):
    """_HashingReader hashes every byte read through it."""

    def __init__(self, raw: io.FileIO, digest: Any) -> None:
        self.raw = raw
        self.digest = digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)
        if self.digest is not None and n:
            self.digest.update(memoryview(buffer)[:n])
        return n


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _modified(mtime_ns: int) -> str:
    seconds, ns = divmod(mtime_ns, 10**9)
    when = datetime.fromtimestamp(seconds, UTC).replace(microsecond=ns // 1000)
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


def file_document(settings: Settings, rel: str, st: FileStat) -> tuple[Document, str]:
    """file_document reads one file as a document; returns it and its SHA-256 ("" if off)."""
    path = settings.root / rel
    digest = hashlib.sha256() if settings.hash else None
    limit = settings.max_content_bytes
    head = bytearray()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            if len(head) <= limit:
                head += chunk[: limit + 1 - len(head)]
            if digest is None:
                if len(head) > limit:
                    break
            else:
                digest.update(chunk)
    name = path.name
    source: dict[str, Any] = {
        "path": rel,
        "name": name,
        "extension": os.path.splitext(name)[1].lstrip(".").lower(),
        "size": st.size,
        "modified": _modified(st.mtime_ns),
    }
    if digest is not None:
        source["sha256"] = digest.hexdigest()
    content_type = mimetypes.guess_type(name)[0]
    if len(head) <= limit and b"\0" not in head:
        try:
            source["content"] = head.decode("utf-8")
        except UnicodeDecodeError:
            pass  # binary: metadata only
        else:
            content_type = content_type or "text/plain"
    if content_type:
        source["content_type"] = content_type
    return Document(id=rel, source=source), source.get("sha256", "")


class RowReader:
    """RowReader reads the documents of a JSON Lines or CSV file.

    Positional ids are ``<path>:<line>`` (the line a record starts on). Lines
    up to ``stale_lines`` (what the index held for the file) that no longer
    start a record are yielded as Deletes. Bad lines are logged with file and
    line and skipped: the stream goes on. After iteration, ``lines`` is the
    file's line count and ``digest`` its SHA-256 ("" when hashing is off).
    """

    def __init__(self, settings: Settings, rel: str, kind: str, stale_lines: int) -> None:
        self.settings = settings
        self.rel = rel
        self.kind = kind
        self.stale_lines = stale_lines
        self.lines = 0
        self.digest = ""
        self.bad = 0

    def items(self) -> Generator[Document | Delete, None, None]:
        """items reads the file (blocking); ``lines`` and ``digest`` are set at its end."""
        digest = hashlib.sha256() if self.settings.hash else None
        with (self.settings.root / self.rel).open("rb", buffering=0) as raw:
            stream = io.BufferedReader(_HashingReader(raw, digest), CHUNK)
            records = self._jsonl(stream) if self.kind == "jsonl" else self._csv(stream)
            expected = 1  # the first line whose fate is not known yet
            for line, record in records:
                yield from self._stale(expected, line)
                expected = line + 1
                doc = self._document(line, record)
                if doc is not None:
                    yield doc
            yield from self._stale(expected, self.stale_lines + 1)
            stream.read()  # whatever the parser left unread, for the hash
        self.digest = digest.hexdigest() if digest is not None else ""
        if self.bad > MAX_BAD_LINES_LOGGED:
            log.warning(
                "filesystem: more bad lines skipped",
                extra={"file": self.rel, "skipped": self.bad - MAX_BAD_LINES_LOGGED},
            )

    def _stale(self, start: int, stop: int) -> Iterator[Delete]:
        for line in range(start, min(stop, self.stale_lines + 1)):
            yield Delete(id=f"{self.rel}:{line}")

    def _skip(self, line: int, why: str) -> None:
        self.bad += 1
        if self.bad <= MAX_BAD_LINES_LOGGED:
            log.warning(
                "filesystem: line skipped", extra={"file": self.rel, "line": line, "error": why}
            )

    def _jsonl(self, stream: io.BufferedReader[Any]) -> Iterator[tuple[int, dict[str, Any]]]:
        for line, raw in enumerate(stream, 1):
            self.lines = line
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError as exc:  # UnicodeDecodeError included
                self._skip(line, f"not JSON: {exc}")
                continue
            if not isinstance(record, dict):
                self._skip(line, f"a JSON {type(record).__name__}, not an object")
                continue
            yield line, record

    def _csv(self, stream: io.BufferedReader[Any]) -> Iterator[tuple[int, dict[str, Any]]]:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
        reader = csv.reader(text)
        header: list[str] | None = None
        start = 1
        for row in reader:
            line, start = start, reader.line_num + 1
            self.lines = reader.line_num
            if header is None:
                header = row
            elif not row:
                continue  # a blank line
            elif len(row) > len(header):
                self._skip(line, f"{len(row)} values for {len(header)} header fields")
            else:
                yield line, dict(zip(header, row, strict=False))
        text.detach()

    def _document(self, line: int, record: dict[str, Any]) -> Document | None:
        id_field = self.settings.id_field
        if id_field is None:
            doc_id = f"{self.rel}:{line}"
        else:
            value = record.get(id_field)
            if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
                self._skip(line, f"no string or integer id in field {id_field!r}")
                return None
            doc_id = str(value)
        return Document(id=doc_id, source={**record, "_file": self.rel, "_line": line})


def _take(items: Iterator[Any], n: int) -> list[Any]:
    return list(itertools.islice(items, n))


# The source ---------------------------------------------------------------------


class FilesystemSource(Source):
    """FilesystemSource yields the files under ``path`` (see the module docstring).

    Tasks split the files by a stable hash of their relative path; changing
    ``tasks_max`` renames the partitions, so the next sync should be FULL.
    """

    name = "filesystem"
    description = "Files under a directory: one document per file, JSON Lines line or CSV row."
    incremental = True
    schema = SCHEMA

    @cached_property
    def settings(self) -> Settings:
        """settings is the config with its patterns compiled."""
        return Settings.from_config(self.config)

    @classmethod
    def validate(cls, config: Mapping[str, Any]) -> list[FieldViolation]:
        problems = path_violations(config)
        for key in ("include", "exclude"):
            problems += _pattern_problems(f"config.{key}", config.get(key))
        if config.get("include") == []:
            problems.append(FieldViolation("config.include", "must hold at least one pattern"))
        if config.get("id_field") is not None and config.get("format") == "file":
            problems.append(
                FieldViolation("config.id_field", "applies to jsonl and csv rows, not to files")
            )
        return problems

    @classmethod
    def plan_tasks(cls, config: Mapping[str, Any], tasks_max: int) -> Sequence[TaskPlan]:
        of = max(1, tasks_max)
        return [
            TaskPlan(partition=f"part-{i}-of-{of}", params={"part": i, "of": of}) for i in range(of)
        ]

    async def ping(self) -> None:
        root = self.settings.root
        ok = await asyncio.to_thread(lambda: root.is_dir() and os.access(root, os.R_OK | os.X_OK))
        if not ok:
            raise SourceUnreadable(f"filesystem: {root} is not a readable directory on this agent")

    async def stream(
        self, task: TaskPlan, *, full: bool, cursor: Mapping[str, Any] | None
    ) -> AsyncIterator[Document | Delete | Checkpoint]:
        settings = self.settings
        part, of = int(task.params.get("part", 0)), int(task.params.get("of", 1))
        current = await asyncio.to_thread(list_files, settings, part, of)
        cursor = cursor or {}
        after = cursor.get("after")
        if full and after is None:
            cursor = {}  # a finished stream's manifest: a FULL sync starts over
        manifest = _manifest(cursor.get("files"))
        if full:  # only what this job wrote before a restart
            manifest = {rel: e for rel, e in manifest.items() if after is not None and rel <= after}
        _check_size(task.partition, current, manifest)
        same_config = cursor.get("config") == settings.fingerprint
        files = docs = 0
        for rel in sorted(current.keys() | manifest.keys()):
            if after is not None and rel <= after:
                continue
            old = manifest.get(rel)
            st = current.get(rel)
            if st is None:
                if old is not None:
                    for delete in self._retract(rel, old):
                        docs += 1
                        yield delete
                    del manifest[rel]
            else:
                if not full and old is not None and same_config:
                    kept = await self._unchanged(rel, st, old)
                else:
                    kept = None
                if kept is not None:
                    manifest[rel] = kept
                else:
                    manifest.pop(rel, None)
                    async for item in self._read(rel, st, None if full else old):
                        if isinstance(item, Entry):
                            manifest[rel] = item
                        else:
                            docs += 1
                            yield item
            files += 1
            if files >= CHECKPOINT_FILES or docs >= CHECKPOINT_DOCS:
                files = docs = 0
                # A copy: the runner may hold this cursor while the stream goes on.
                yield Checkpoint(_cursor(manifest, settings, after=rel))
        yield Checkpoint(_cursor(manifest, settings))

    async def _unchanged(self, rel: str, st: FileStat, old: Entry) -> Entry | None:
        """_unchanged is the file's entry if its content is what the index holds, else None."""
        if old.size != st.size:
            return None
        if old.mtime_ns == st.mtime_ns:
            return old
        if not self.settings.hash or not old.digest:
            return None
        try:
            digest = await asyncio.to_thread(sha256_of, self.settings.root / rel)
        except OSError:
            return None  # vanished meanwhile: reading it will say so
        if digest[:DIGEST_CHARS] != old.digest:
            return None
        return Entry(old.letter, st.size, st.mtime_ns, old.digest, old.lines)

    def _retract(self, rel: str, old: Entry) -> Iterator[Delete]:
        """_retract deletes every document the index holds for a file."""
        if old.letter == _LETTER["file"]:
            yield Delete(id=rel)
        elif old.lines is None:
            log.warning(
                "filesystem: rows of a changed or removed file may remain until a FULL sync "
                "(ids come from id_field and are not remembered)",
                extra={"file": rel},
            )
        else:
            for line in range(1, old.lines + 1):
                yield Delete(id=f"{rel}:{line}")

    async def _read(
        self, rel: str, st: FileStat, old: Entry | None
    ) -> AsyncIterator[Document | Delete | Entry]:
        """_read yields a file's documents, Deletes for what the index holds of it
        (``old``) that they do not overwrite, then the file's new Entry.

        A file gone since the listing yields the Deletes and no Entry; an unreadable
        one is logged and skipped.
        """
        settings = self.settings
        kind = settings.kind(rel)
        letter = _LETTER[kind]
        positional = kind != "file" and settings.id_field is None
        stale_lines = 0
        retracted = False
        if old is not None:
            if positional and old.positional:
                stale_lines = old.lines or 0  # the reader deletes the lines no row covers now
            elif not (kind == "file" and old.letter == letter):
                retracted = True
                for delete in self._retract(rel, old):
                    yield delete
        try:
            if kind == "file":
                doc, digest = await asyncio.to_thread(file_document, settings, rel, st)
                yield doc
                yield Entry(letter, st.size, st.mtime_ns, digest[:DIGEST_CHARS], 0)
                return
            reader = RowReader(settings, rel, kind, stale_lines)
            rows = reader.items()
            try:
                while batch := await asyncio.to_thread(_take, rows, BATCH):
                    for item in batch:
                        yield item
            finally:
                rows.close()
        except FileNotFoundError:
            # Gone since the listing. Opening failed, so nothing of the file was yielded.
            if old is not None and not retracted:
                for delete in self._retract(rel, old):
                    yield delete
            return
        except PermissionError as exc:
            log.warning("filesystem: file skipped", extra={"file": rel, "error": exc.strerror})
            if old is not None and not retracted:
                # The index keeps what it holds; the next stream reads the file again.
                yield Entry(old.letter, -1, 0, "", old.lines)
            return
        lines = reader.lines if positional else None
        yield Entry(letter, st.size, st.mtime_ns, reader.digest[:DIGEST_CHARS], lines)


def _manifest(value: Any) -> dict[str, Entry]:
    if not isinstance(value, Mapping):
        return {}
    entries = {rel: Entry.from_json(v) for rel, v in value.items()}
    return {rel: e for rel, e in entries.items() if e is not None}


def _cursor(
    manifest: Mapping[str, Entry], settings: Settings, *, after: str | None = None
) -> dict[str, Any]:
    cursor: dict[str, Any] = {
        "files": {rel: e.to_json() for rel, e in manifest.items()},
        "config": settings.fingerprint,
    }
    if after is not None:
        cursor["after"] = after
    return cursor


def _check_size(
    partition: str, current: Mapping[str, FileStat], manifest: Mapping[str, Entry]
) -> None:
    paths = current.keys() | manifest.keys()
    size = sum(len(json.dumps(rel)) + ENTRY_BYTES for rel in paths)
    if len(paths) > MAX_FILES_PER_TASK or size > MAX_MANIFEST_BYTES:
        raise ManifestTooLarge(
            f"filesystem: task {partition} covers {len(paths)} files (a manifest of up to "
            f"{size // 1024} KiB); a task may cover at most {MAX_FILES_PER_TASK} files and "
            f"{MAX_MANIFEST_BYTES // 1024} KiB: raise tasks_max or narrow include/exclude",
            subject=partition,
        )
