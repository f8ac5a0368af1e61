"""The third-party example plugin (examples/ferry-git-connector), installed as a
distribution: found through the ``ferry.connectors`` entry point group, and its
source streaming a real git repository."""

from __future__ import annotations

import inspect
import os
import subprocess
import tomllib
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from importlib.metadata import distribution, entry_points
from pathlib import Path
from typing import Any

import pytest

from ferry.connectors import (
    ENTRY_POINT_GROUP,
    Checkpoint,
    Delete,
    Document,
    Source,
    TaskPlan,
    load_registry,
)
from tests.helpers import REPO

PLUGIN_DIR = REPO / "examples" / "ferry-git-connector"
NOT_INSTALLED = "the example plugin is not installed: run make install"

# The tests' git must not depend on the machine's git config.
GIT_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"}


class GitRepo:
    """GitRepo is a real git repository in a temporary directory, for sources to read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.commits = 0
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "--quiet", "--initial-branch=main")

    def git(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        done = subprocess.run(
            ["git", "-C", str(self.path), *args],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, **GIT_ENV, **(env or {})},
            timeout=30,
        )
        return done.stdout.strip()

    def commit(self, subject: str, *, body: str = "", files: Mapping[str, str] = {}) -> str:
        """commit writes files, commits them (empty when none) and returns the sha.
        Commit n is dated 12:00:n, so dates are known and distinct."""
        self.commits += 1
        for name, text in files.items():
            (self.path / name).write_text(text)
        if files:
            self.git("add", "--", *files)
        date = f"2024-05-01T12:{self.commits // 60 % 60:02d}:{self.commits % 60:02d}+02:00"
        message = ["-m", subject] + (["-m", body] if body else [])
        self.git(
            "-c", "user.name=Ada Lovelace", "-c", "user.email=ada@example.com",
            "commit", "--quiet", "--allow-empty", *message,
            env={"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date},
        )  # fmt: skip
        return self.head()

    def commit_many(self, n: int, prefix: str) -> list[str]:
        return [
            self.commit(f"{prefix} {i}", files={f"{prefix}-{i}.txt": f"{i}\n"}) for i in range(n)
        ]

    def head(self, rev: str = "HEAD") -> str:
        return self.git("rev-parse", rev)

    def rev_list(self, *revisions: str) -> list[str]:
        out = self.git("rev-list", *revisions)
        return out.split() if out else []

    def subjects(self) -> dict[str, str]:
        out = self.git("log", "--format=%H %s")
        return dict(line.split(" ", 1) for line in out.splitlines())


def plugin_class() -> type[Source]:
    source = load_registry().get("git")
    assert source is not None, NOT_INSTALLED
    return source


def make_source(repo: GitRepo, **config: Any) -> Source:
    cls = plugin_class()
    normalised, problems = cls.schema.validate({"repository": str(repo.path), **config})
    assert problems == []
    assert cls.validate(normalised) == []
    return cls(normalised)


async def drain(
    source: Source, *, full: bool, cursor: Mapping[str, Any] | None = None
) -> list[Document | Delete | Checkpoint]:
    stream: AsyncIterator[Document | Delete | Checkpoint] = source.stream(
        TaskPlan(partition="all"), full=full, cursor=cursor
    )
    return [item async for item in stream]


def as_json(cursor: Mapping[str, Any]) -> dict[str, Any]:
    """as_json is a cursor as the framework hands it back: every number a float."""
    return {k: float(v) if isinstance(v, int) else v for k, v in cursor.items()}


def ids(items: list[Document | Delete | Checkpoint]) -> list[str]:
    return [item.id for item in items if isinstance(item, Document)]


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "repo")


@pytest.fixture
def long_repo(repo: GitRepo) -> GitRepo:
    """long_repo has 2,000 commits, written at once by git fast-import."""
    script = "".join(
        f"commit refs/heads/main\ncommitter A <a@example.com> {1_700_000_000 + i} +0000\n"
        f"data {len(f'n {i}')}\nn {i}\n"
        for i in range(2000)
    )
    subprocess.run(
        ["git", "-C", str(repo.path), "fast-import", "--quiet"],
        input=script,
        text=True,
        check=True,
        env={**os.environ, **GIT_ENV},
        timeout=60,
    )
    return repo


# Installed as a third-party distribution -----------------------------------------


def test_the_plugin_is_an_entry_point_of_its_own_distribution() -> None:
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == "git"]
    assert len(found) == 1, NOT_INSTALLED
    ep = found[0]
    assert ep.value == "ferry_git_connector:GitLogSource"
    assert ep.dist is not None and ep.dist.name == "ferry-git-connector"
    # What is installed is what the example declares.
    with open(PLUGIN_DIR / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    assert project["entry-points"][ENTRY_POINT_GROUP] == {"git": ep.value}
    assert distribution("ferry-git-connector").version == project["version"]
    # The class comes from the plugin's package, not from ferry.
    cls = ep.load()
    assert Path(inspect.getfile(cls)).parent.name == "ferry_git_connector"
    assert not cls.__module__.startswith("ferry.")


def test_load_registry_has_the_git_type() -> None:
    cls = plugin_class()
    assert cls.name == "git"
    assert cls.incremental is True
    fields = {f.name: f for f in cls.schema.fields}
    assert set(fields) == {"repository", "branch", "max_commits", "checkpoint_every"}
    assert fields["repository"].required
    assert fields["branch"].default == "HEAD"


def test_validate_checks_the_shape_of_the_config() -> None:
    cls = plugin_class()
    _, problems = cls.schema.validate({})
    assert [p.field for p in problems] == ["config.repository"]

    def violations(**config: Any) -> list[str]:
        normalised, problems = cls.schema.validate(config)
        assert problems == []
        return [v.field for v in cls.validate(normalised)]

    assert violations(repository="relative/path") == ["config.repository"]
    assert violations(repository="/srv/git/app", branch="--output=/tmp/x") == ["config.branch"]
    assert violations(repository="/srv/git/app", branch="main..dev") == ["config.branch"]
    assert violations(repository="/srv/git/app", branch="release/1.2") == []
    # A reference is resolved on the agent: its shape cannot be checked here.
    assert violations(repository="${env:APP_REPOSITORY}") == []


# The source against a real repository --------------------------------------------


async def test_full_stream_yields_every_commit_then_the_head(repo: GitRepo) -> None:
    root = repo.commit("Add readme", body="Line one.\n\nLine two ü.", files={"README": "hi\n"})
    second = repo.commit("Edit two files", files={"README": "hello\nworld\n", "b.txt": "b\n"})
    empty = repo.commit("Nothing changed")

    items = await drain(make_source(repo), full=True)

    docs = [item for item in items if isinstance(item, Document)]
    assert [d.id for d in docs] == [empty, second, root]
    assert items[-1] == Checkpoint({"head": empty})
    assert docs[2].source == {
        "author_name": "Ada Lovelace",
        "author_email": "ada@example.com",
        "authored_at": "2024-05-01T12:00:01+02:00",
        "committed_at": "2024-05-01T12:00:01+02:00",
        "subject": "Add readme",
        "body": "Line one.\n\nLine two ü.",
        "files_changed": 1,
        "insertions": 1,
        "deletions": 0,
        "parents": [],
    }
    assert docs[1].source["parents"] == [root]
    assert (docs[1].source["files_changed"], docs[1].source["insertions"]) == (2, 3)
    assert docs[1].source["deletions"] == 1
    assert (docs[0].source["files_changed"], docs[0].source["body"]) == (0, "")


async def test_a_merge_has_both_parents_and_its_first_parent_diff(repo: GitRepo) -> None:
    base = repo.commit("base", files={"a": "a\n"})
    repo.git("checkout", "--quiet", "-b", "side")
    side = repo.commit("side", files={"s1": "1\n", "s2": "2\n"})
    repo.git("checkout", "--quiet", "main")
    main = repo.commit("main", files={"m": "m\n"})
    repo.git(
        "-c", "user.name=M", "-c", "user.email=m@example.com",
        "merge", "--quiet", "--no-ff", "-m", "merge side", "side",
    )  # fmt: skip
    merge = repo.head()

    items = await drain(make_source(repo, branch="main"), full=True)

    docs = {d.id: d.source for d in items if isinstance(d, Document)}
    assert set(docs) == {base, side, main, merge}
    assert docs[merge]["parents"] == [main, side]
    assert docs[merge]["files_changed"] == 2


async def test_checkpoints_resume_where_the_stream_stopped(repo: GitRepo) -> None:
    shas = repo.rev_list(repo.commit_many(7, "c")[-1])
    source = make_source(repo, checkpoint_every=3)

    items = await drain(source, full=True)
    checkpoints = [i.cursor for i in items if isinstance(i, Checkpoint)]
    head = shas[0]
    assert checkpoints == [
        {"head": head, "skip": 3},
        {"head": head, "skip": 6},
        {"head": head},
    ]
    # The branch moves on; a resumed FULL stream still reads the pinned head's history.
    repo.commit("later")
    rest = await drain(source, full=True, cursor=as_json(checkpoints[0]))
    assert ids(rest) == shas[3:]
    assert rest[-1] == Checkpoint({"head": head})


async def test_incremental_yields_only_commits_since_the_last_head(repo: GitRepo) -> None:
    repo.commit_many(3, "old")
    source = make_source(repo)
    final = (await drain(source, full=True))[-1]
    assert isinstance(final, Checkpoint)

    nothing = await drain(source, full=False, cursor=as_json(final.cursor))
    assert nothing == [Checkpoint(final.cursor)]

    new = repo.commit_many(4, "new")
    items = await drain(source, full=False, cursor=as_json(final.cursor))
    assert ids(items) == list(reversed(new))
    assert items[-1] == Checkpoint({"head": new[-1]})

    # Without a stored offset an INCREMENTAL stream reads everything.
    assert len(ids(await drain(source, full=False, cursor=None))) == 7


async def test_incremental_resume_keeps_its_range(repo: GitRepo) -> None:
    repo.commit_many(2, "old")
    source = make_source(repo, checkpoint_every=2)
    since = repo.head()
    new = list(reversed(repo.commit_many(5, "new")))

    items = await drain(source, full=False, cursor={"head": since})
    first = next(i for i in items if isinstance(i, Checkpoint))
    assert first.cursor == {"head": new[0], "since": since, "skip": 2}

    rest = await drain(source, full=False, cursor=as_json(first.cursor))
    assert ids(rest) == new[2:]


async def test_rewritten_history_deletes_the_lost_commits(repo: GitRepo) -> None:
    kept = repo.commit_many(2, "kept")
    lost = repo.commit_many(2, "lost")
    source = make_source(repo)
    final = (await drain(source, full=True))[-1]
    assert isinstance(final, Checkpoint)

    repo.git("reset", "--quiet", "--hard", kept[-1])
    replacement = repo.commit("replacement")
    items = await drain(source, full=False, cursor=as_json(final.cursor))

    assert sorted(i.id for i in items if isinstance(i, Delete)) == sorted(lost)
    assert ids(items) == [replacement]


async def test_an_unknown_old_head_reads_the_whole_history(repo: GitRepo) -> None:
    shas = repo.commit_many(2, "c")
    source = make_source(repo)
    items = await drain(source, full=False, cursor={"head": "0" * 40})
    assert ids(items) == list(reversed(shas))


async def test_max_commits_reads_the_newest_only(repo: GitRepo) -> None:
    shas = list(reversed(repo.commit_many(5, "c")))
    source = make_source(repo, max_commits=3, checkpoint_every=2)
    items = await drain(source, full=True)
    assert ids(items) == shas[:3]
    resumed = await drain(source, full=True, cursor={"head": shas[0], "skip": 2.0})
    assert ids(resumed) == shas[2:3]


async def test_a_long_history_streams_in_order(long_repo: GitRepo) -> None:
    items = await drain(make_source(long_repo, checkpoint_every=500), full=True)
    docs = [i for i in items if isinstance(i, Document)]
    assert len(docs) == 2000
    assert [d.source["subject"] for d in docs[:2]] == ["n 1999", "n 1998"]
    assert sum(isinstance(i, Checkpoint) for i in items) == 5


async def test_closing_the_stream_early_stops_git(long_repo: GitRepo) -> None:
    def git_children() -> list[str]:
        found = subprocess.run(
            ["pgrep", "-P", str(os.getpid()), "-x", "git"], capture_output=True, text=True
        )
        return found.stdout.split()

    stream = make_source(long_repo).stream(TaskPlan(partition="all"), full=True, cursor=None)
    assert isinstance(stream, AsyncGenerator)
    assert isinstance(await anext(stream), Document)
    assert len(git_children()) == 1  # git log is still writing the rest
    await stream.aclose()  # a consumer that stops early
    assert git_children() == []


async def test_ping_fails_for_a_directory_that_is_not_a_repository(tmp_path: Path) -> None:
    cls = plugin_class()
    (tmp_path / "plain").mkdir()
    for path in (tmp_path / "plain", tmp_path / "missing"):
        source = cls({"repository": str(path), "branch": "HEAD", "checkpoint_every": 500})
        with pytest.raises(RuntimeError, match="cannot resolve"):
            await source.ping()


async def test_ping_fails_for_a_missing_branch(repo: GitRepo) -> None:
    repo.commit("first")
    await make_source(repo).ping()
    with pytest.raises(RuntimeError, match="'nope'"):
        await make_source(repo, branch="nope").ping()
