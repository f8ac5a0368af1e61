"""Running git without blocking the event loop: short commands, and commit streams.

``git log`` and ``git rev-list`` are read one record at a time from the
child's stdout, so memory stays flat in the number of commits. A stream that
its consumer abandons kills its git process.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

MAX_RECORD_BYTES = 8 * 1024 * 1024
"""MAX_RECORD_BYTES bounds one commit's record (message and stat line) as git prints it."""

SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
"""SHA is a full object name: SHA-1, or SHA-256 in repositories that use it."""

# Every record starts with RS; its fields end with NUL, which no commit message holds.
_RS = b"\x1e"
_FIELDS = ("%H", "%P", "%an", "%ae", "%aI", "%cI", "%s", "%b")
_FORMAT = "%x1e" + "".join(f + "%x00" for f in _FIELDS)
_STAT = re.compile(
    r"(\d+) files? changed(?:, (\d+) insertions?\(\+\))?(?:, (\d+) deletions?\(-\))?"
)
# The stat line is translated unless the locale is C; a pager or prompt must never start.
_ENV = {"LC_ALL": "C", "LANGUAGE": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat"}


class GitError(RuntimeError):
    """GitError is a git command that failed; the message is git's own."""


@dataclass(frozen=True, kw_only=True)
class Commit:
    """Commit is one commit as ``git log`` describes it."""

    sha: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    authored_at: str
    """ISO 8601 with the author's UTC offset, e.g. 2024-05-01T12:00:00+02:00."""
    committed_at: str
    subject: str
    body: str
    files_changed: int
    """Against the first parent for a merge, against the empty tree for a root commit."""
    insertions: int
    deletions: int

    def as_source(self) -> dict[str, Any]:
        """as_source is the commit as a document's JSON object (the sha is its id)."""
        return {
            "author_name": self.author_name,
            "author_email": self.author_email,
            "authored_at": self.authored_at,
            "committed_at": self.committed_at,
            "subject": self.subject,
            "body": self.body,
            "files_changed": self.files_changed,
            "insertions": self.insertions,
            "deletions": self.deletions,
            "parents": list(self.parents),
        }


@asynccontextmanager
async def _git(repository: str, *args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """_git runs ``git -C repository args``; on leaving early the process is killed."""
    try:
        proc = await asyncio.create_subprocess_exec(
            "git", "-C", repository, *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **_ENV},
            limit=MAX_RECORD_BYTES,
        )  # fmt: skip
    except FileNotFoundError:
        raise GitError("git is not installed on this agent (not found on PATH)") from None
    try:
        yield proc
    finally:
        if proc.returncode is None:
            try:
                proc.kill()
            except ProcessLookupError:
                pass
            await proc.wait()


async def _finish(proc: asyncio.subprocess.Process, what: str) -> None:
    """_finish waits for a process whose stdout was read to the end; raises on failure."""
    assert proc.stderr is not None
    # git writes little to stderr; reading it after stdout cannot deadlock in practice.
    err = (await proc.stderr.read()).decode(errors="replace").strip()
    if await proc.wait() != 0:
        raise GitError(f"{what}: {err or f'git exited with status {proc.returncode}'}")


async def run(repository: str, *args: str) -> tuple[int, str, str]:
    """run is a short git command's exit status, stdout and stderr (both stripped)."""
    async with _git(repository, *args) as proc:
        out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace").strip(), err.decode().strip()


async def resolve(repository: str, revision: str) -> str:
    """resolve is the full sha of the commit ``revision`` names in the repository.

    Raises GitError when the repository is missing, is not a git repository,
    or has no such commit (an empty repository has no HEAD yet).
    """
    code, out, err = await run(
        repository, "rev-parse", "--verify", "--end-of-options", f"{revision}^{{commit}}"
    )
    if code != 0 or not SHA.fullmatch(out):
        raise GitError(f"{repository}: cannot resolve {revision!r}: {err or out}")
    return out


async def has_commit(repository: str, sha: str) -> bool:
    """has_commit says whether the repository holds commit ``sha``: a cursor's head may
    be gone (history rewritten and garbage-collected) or from another repository."""
    code, _, _ = await run(repository, "cat-file", "-e", f"{sha}^{{commit}}")
    return code == 0


async def is_ancestor(repository: str, ancestor: str, descendant: str) -> bool:
    """is_ancestor says whether commit ``ancestor`` is reachable from ``descendant``."""
    code, _, err = await run(repository, "merge-base", "--is-ancestor", ancestor, descendant)
    if code not in (0, 1):
        raise GitError(f"{repository}: merge-base: {err}")
    return code == 0


async def rev_list(repository: str, revisions: Sequence[str]) -> AsyncGenerator[str, None]:
    """rev_list yields the shas ``git rev-list revisions`` prints, one at a time."""
    async with _git(repository, "rev-list", "--end-of-options", *revisions, "--") as proc:
        assert proc.stdout is not None
        async for line in proc.stdout:
            yield line.decode().strip()
        await _finish(proc, f"{repository}: rev-list")


async def log(
    repository: str, revisions: Sequence[str], *, skip: int = 0, max_count: int | None = None
) -> AsyncGenerator[Commit, None]:
    """log yields the commits of ``git log revisions``, newest first, skipping the
    first ``skip``; the order is the same every time for the same shas."""
    args = [
        "log", "--no-color", "--no-show-signature", "--no-mailmap",
        "--diff-merges=first-parent", "--shortstat", f"--format={_FORMAT}", f"--skip={skip}",
    ]  # fmt: skip
    if max_count is not None:
        args.append(f"--max-count={max_count}")
    async with _git(repository, *args, "--end-of-options", *revisions, "--") as proc:
        assert proc.stdout is not None
        try:
            leading = await proc.stdout.readuntil(_RS)
        except asyncio.IncompleteReadError as exc:  # no commit at all
            leading = exc.partial
            if not leading.strip():
                await _finish(proc, f"{repository}: log")
                return
        if leading != _RS:
            raise GitError(f"{repository}: log: unexpected output {leading[:200]!r}")
        last = False
        while not last:
            try:
                record = (await proc.stdout.readuntil(_RS))[:-1]
            except asyncio.IncompleteReadError as exc:  # the last record ends at EOF
                record, last = exc.partial, True
            except asyncio.LimitOverrunError:
                raise GitError(
                    f"{repository}: a commit's record exceeds {MAX_RECORD_BYTES} bytes"
                ) from None
            yield parse_record(record)
        await _finish(proc, f"{repository}: log")


def parse_record(record: bytes) -> Commit:
    """parse_record reads one record of :func:`log`'s format: NUL-ended fields, then
    the ``--shortstat`` line when the commit changed something."""
    parts = record.split(b"\x00", len(_FIELDS))
    if len(parts) != len(_FIELDS) + 1:
        raise GitError(f"unexpected git log record: {record[:200]!r}")
    sha, parents, name, email, authored, committed, subject, body, stat = (
        p.decode("utf-8", errors="replace") for p in parts
    )
    if not SHA.fullmatch(sha):
        raise GitError(f"unexpected git log record: {record[:200]!r}")
    m = _STAT.search(stat)
    files, insertions, deletions = (int(g or 0) for g in m.groups()) if m else (0, 0, 0)
    return Commit(
        sha=sha,
        parents=tuple(parents.split()),
        author_name=name,
        author_email=email,
        authored_at=authored,
        committed_at=committed,
        subject=subject,
        body=body.rstrip(),
        files_changed=files,
        insertions=insertions,
        deletions=deletions,
    )
