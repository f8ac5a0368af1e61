"""GitLogSource: a Ferry source built only on the public SDK, ``ferry.connectors``.

Cursors (JSON objects; Ferry hands numbers back as floats):

- ``{"head": H}``: a finished stream that read up to commit H. The next
  INCREMENTAL stream yields the commits in ``H..branch``.
- ``{"head": H, "skip": n}``: a FULL stream of H's history stopped after its
  n newest commits; resuming skips them.
- ``{"head": H, "since": S, "skip": n}``: the same for an INCREMENTAL stream
  of ``S..H``.

A stream pins the branch to a sha when it starts, so a resumed stream reads
the same commits in the same order however the branch moved since.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any

from ferry.connectors import (
    Checkpoint,
    ConfigSchema,
    Delete,
    Document,
    Field,
    FieldType,
    FieldViolation,
    Source,
    TaskPlan,
    path_violations,
)

from . import git

SCHEMA = ConfigSchema(
    (
        Field(
            name="repository",
            type=FieldType.STRING,
            required=True,
            description="Absolute path of the repository on the agents (work tree or bare).",
        ),
        Field(
            name="branch",
            type=FieldType.STRING,
            default="HEAD",
            description="The branch, tag or revision whose history is indexed.",
        ),
        Field(
            name="max_commits",
            type=FieldType.INTEGER,
            minimum=1,
            description="Read at most this many commits per sync, newest first (all if unset).",
        ),
        Field(
            name="checkpoint_every",
            type=FieldType.INTEGER,
            default=500,
            minimum=1,
            description="Yield a checkpoint after this many commits.",
        ),
    )
)


def _count(value: Any, where: str) -> int:
    # Cursors come back from the framework as JSON: every number is a float.
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{where} must be a whole number ≥ 0, got {value!r}")
    return value


def _sha(value: Any, where: str) -> str:
    if not isinstance(value, str) or not git.SHA.fullmatch(value):
        raise ValueError(f"{where} must be a full commit sha, got {value!r}")
    return value


class GitLogSource(Source):
    """GitLogSource indexes a local git repository's commits, one document per commit.

    A document's id is the commit's full sha; its source holds the author,
    the dates, the message and the diff stat (see :meth:`git.Commit.as_source`).
    A FULL sync reads the branch's whole history (or its ``max_commits``
    newest commits). An INCREMENTAL sync reads the commits added since the
    last sync's head; when the branch was rewritten instead (force push), it
    also deletes the commits the branch lost. The repository must exist on
    every agent that may run the task (use an agent selector otherwise).
    """

    name = "git"
    description = "Commits of a local git repository, one document per commit."
    incremental = True
    schema = SCHEMA

    @classmethod
    def validate(cls, config: Mapping[str, Any]) -> list[FieldViolation]:
        # Runs on the coordinator: shape checks only, the repository lives on the agents.
        # An ${env:}/${file:} reference passes: it is resolved on the agent.
        errors = path_violations(config, "repository")
        if not errors and "\x00" in config["repository"]:
            errors.append(FieldViolation("config.repository", "must not contain NUL"))
        branch = config["branch"]
        if not branch or branch.startswith("-") or any(c.isspace() for c in branch):
            errors.append(FieldViolation("config.branch", "must be a revision name, not an option"))
        elif ".." in branch or "\x00" in branch:
            errors.append(FieldViolation("config.branch", "must name one revision, not a range"))
        return errors

    async def ping(self) -> None:
        """ping raises GitError unless the repository exists and has the branch."""
        await git.resolve(self.config["repository"], self.config["branch"])

    async def stream(
        self, task: TaskPlan, *, full: bool, cursor: Mapping[str, Any] | None
    ) -> AsyncIterator[Document | Delete | Checkpoint]:
        repository = self.config["repository"]
        every = int(self.config["checkpoint_every"])
        limit = self.config.get("max_commits")
        since: str | None = None
        if cursor and "skip" in cursor:  # resuming this same stream
            head = _sha(cursor.get("head"), "cursor.head")
            skip = _count(cursor["skip"], "cursor.skip")
            if cursor.get("since") is not None:
                since = _sha(cursor["since"], "cursor.since")
        else:
            head = await git.resolve(repository, self.config["branch"])
            skip = 0
            if not full and cursor and cursor.get("head") is not None:
                since = _sha(cursor["head"], "cursor.head")
        if since == head:
            yield Checkpoint({"head": head})
            return
        if since is not None and not await git.has_commit(repository, since):
            # The old head is unknown here: read the whole history. Commits that
            # vanished with it stay in the index until the next FULL sync.
            since = None
        if since is not None and not await git.is_ancestor(repository, since, head):
            # History was rewritten: what the old head reached and the new one
            # does not is gone. Deletes are idempotent, so a resumed stream repeats them.
            async with aclosing(git.rev_list(repository, [since, f"^{head}"])) as lost:
                async for sha in lost:
                    yield Delete(id=sha)
        revisions = [head] if since is None else [head, f"^{since}"]
        if limit is not None and skip >= limit:
            yield Checkpoint({"head": head})
            return
        max_count = None if limit is None else int(limit) - skip
        at = skip
        # aclosing: a consumer that stops early closes git.log at once, which kills git.
        commits = git.log(repository, revisions, skip=skip, max_count=max_count)
        async with aclosing(commits):
            async for commit in commits:
                yield Document(id=commit.sha, source=commit.as_source())
                at += 1
                if at % every == 0:
                    position: dict[str, Any] = {"head": head, "skip": at}
                    if since is not None:
                        position["since"] = since
                    yield Checkpoint(position)
        yield Checkpoint({"head": head})
