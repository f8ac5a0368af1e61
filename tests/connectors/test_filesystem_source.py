"""The filesystem source over real directory trees: file documents with metadata,
JSON Lines and CSV rows, change detection across streams, task splits, limits."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ferry.connectors import Checkpoint, Delete, Document, TaskPlan, filesystem
from ferry.connectors.filesystem import FilesystemSource, ManifestTooLarge, glob_regex
from ferry.sync import records

Item = Document | Delete | Checkpoint
Index = dict[str, dict[str, Any]]
TASK = TaskPlan(partition="part-0-of-1", params={"part": 0, "of": 1})


def source(root: Path, **config: Any) -> FilesystemSource:
    normalised, problems = FilesystemSource.schema.validate({"path": str(root), **config})
    assert problems == []
    assert FilesystemSource.validate(normalised) == []
    return FilesystemSource(normalised)


async def collect(
    src: FilesystemSource,
    *,
    full: bool = True,
    cursor: Mapping[str, Any] | None = None,
    task: TaskPlan = TASK,
) -> list[Item]:
    return [item async for item in src.stream(task, full=full, cursor=cursor)]


def stored(cursor: Mapping[str, Any]) -> dict[str, Any]:
    """stored is the cursor as the runner keeps it: through a protobuf Struct and back."""
    return records.from_struct(records.to_struct(cursor))


def final_cursor(items: list[Item]) -> dict[str, Any]:
    last = items[-1]
    assert isinstance(last, Checkpoint) and "after" not in last.cursor
    return stored(last.cursor)


def docs(items: list[Item]) -> Index:
    return {i.id: i.source for i in items if isinstance(i, Document)}


def deletes(items: list[Item]) -> set[str]:
    return {i.id for i in items if isinstance(i, Delete)}


def apply(index: Index, items: list[Item]) -> Index:
    """apply is what an index holds after an incremental stream's writes."""
    index = dict(index)
    for item in items:
        if isinstance(item, Document):
            index[item.id] = item.source
        elif isinstance(item, Delete):
            index.pop(item.id, None)
    return index


def write(path: Path, text: str | bytes, *, mtime_ns: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


T0 = 1_700_000_000_123_456_789  # a fixed mtime, with nanoseconds a double would round


def tree(root: Path) -> None:
    write(root / "a.txt", "hello", mtime_ns=T0)
    write(root / "docs/b.md", "# title\n", mtime_ns=T0)
    write(root / "docs/deep/c.txt", "deep", mtime_ns=T0)
    write(root / "rows.jsonl", '{"n": 1}\n{"n": 2}\n{"n": 3}\n', mtime_ns=T0)
    write(root / "table.csv", "name,qty\npear,3\nfig,5\n", mtime_ns=T0)


async def test_files_are_documents_with_their_metadata(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "héllo", mtime_ns=T0)
    write(tmp_path / "sub/pic.bin", b"\x89PNG\x00\x01")
    write(tmp_path / "big.txt", "x" * 100)
    write(tmp_path / ".git/config", "hidden dir")
    write(tmp_path / ".env", "hidden file")

    index = docs(await collect(source(tmp_path, max_content_bytes=50)))

    assert set(index) == {"a.txt", "sub/pic.bin", "big.txt"}
    assert index["a.txt"] == {
        "path": "a.txt",
        "name": "a.txt",
        "extension": "txt",
        "size": len("héllo".encode()),
        "modified": datetime.fromtimestamp(T0 // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        + ".123456Z",
        "sha256": hashlib.sha256("héllo".encode()).hexdigest(),
        "content": "héllo",
        "content_type": "text/plain",
    }
    assert "content" not in index["sub/pic.bin"]  # binary
    assert "content" not in index["big.txt"]  # over max_content_bytes
    assert index["big.txt"]["sha256"] == hashlib.sha256(b"x" * 100).hexdigest()
    assert "sha256" not in docs(await collect(source(tmp_path, hash=False)))["a.txt"]


async def test_hidden_files_on_request_and_globs(tmp_path: Path) -> None:
    tree(tmp_path)
    write(tmp_path / ".git/HEAD", "ref")
    write(tmp_path / "docs/skip/x.txt", "skipped")

    everything = docs(await collect(source(tmp_path, include_hidden=True, format="file")))
    chosen = docs(
        await collect(source(tmp_path, include=["docs/**", "*.txt"], exclude=["docs/skip/**"]))
    )

    assert ".git/HEAD" in everything
    assert set(chosen) == {"a.txt", "docs/b.md", "docs/deep/c.txt"}


def test_globs_keep_single_stars_within_a_directory() -> None:
    assert glob_regex("*.csv").fullmatch("a.csv")
    assert not glob_regex("*.csv").fullmatch("d/a.csv")
    assert glob_regex("**/*.csv").fullmatch("a.csv")
    assert glob_regex("**/*.csv").fullmatch("d/e/a.csv")
    assert glob_regex("d/**").fullmatch("d/e/f")
    assert glob_regex("[!a]?.txt").fullmatch("ba.txt")
    assert not glob_regex("[!a]?.txt").fullmatch("aa.txt")


async def test_json_lines_and_csv_rows_are_documents(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path / "events.jsonl", '{"n": 1}\n\n{not json\n{"n": 4, "tags": ["a"]}\n[5]\n')
    write(tmp_path / "people.csv", 'name,note\nann,"two\nlines"\nbob,plain\n')

    with caplog.at_level(logging.WARNING, logger="ferry.connectors.filesystem"):
        index = docs(await collect(source(tmp_path)))

    assert index == {
        "events.jsonl:1": {"n": 1, "_file": "events.jsonl", "_line": 1},
        "events.jsonl:4": {"n": 4, "tags": ["a"], "_file": "events.jsonl", "_line": 4},
        "people.csv:2": {"name": "ann", "note": "two\nlines", "_file": "people.csv", "_line": 2},
        "people.csv:4": {"name": "bob", "note": "plain", "_file": "people.csv", "_line": 4},
    }
    skipped = {(r.file, r.line) for r in caplog.records if hasattr(r, "line")}  # type: ignore[attr-defined]
    assert skipped == {("events.jsonl", 3), ("events.jsonl", 5)}


async def test_rows_take_their_id_from_id_field(tmp_path: Path) -> None:
    write(tmp_path / "people.csv", "id,name\nu1,ann\nu2,bob\n")
    write(tmp_path / "more.jsonl", '{"id": 7, "name": "cy"}\n')

    index = docs(await collect(source(tmp_path, id_field="id")))

    assert set(index) == {"u1", "u2", "7"}
    assert index["7"] == {"id": 7, "name": "cy", "_file": "more.jsonl", "_line": 1}


async def test_incremental_reflects_added_changed_and_removed_files(tmp_path: Path) -> None:
    tree(tmp_path)
    first = await collect(source(tmp_path))
    index = docs(first)

    write(tmp_path / "a.txt", "hello, changed")  # size and mtime change
    write(tmp_path / "docs/b.md", "# TITLE\n", mtime_ns=T0 + 10**9)  # same size, new content
    (tmp_path / "docs/deep/c.txt").unlink()
    write(tmp_path / "new.txt", "new")
    write(tmp_path / "rows.jsonl", '{"n": 1}\n{"n": 20}\n')  # shrinks by a line
    write(tmp_path / "table.csv", "name,qty\npear,3\nfig,5\n", mtime_ns=T0 + 10**9)  # touched
    second = await collect(source(tmp_path), full=False, cursor=final_cursor(first))

    assert set(docs(second)) == {"a.txt", "docs/b.md", "new.txt", "rows.jsonl:1", "rows.jsonl:2"}
    assert deletes(second) == {"docs/deep/c.txt", "rows.jsonl:3"}
    index = apply(index, second)
    assert index == docs(await collect(source(tmp_path)))  # what a FULL sync would write

    third = await collect(source(tmp_path), full=False, cursor=final_cursor(second))
    assert [i for i in third if not isinstance(i, Checkpoint)] == []  # nothing changed since


async def test_a_touched_file_is_read_again_without_hash(tmp_path: Path) -> None:
    tree(tmp_path)
    first = await collect(source(tmp_path, hash=False))

    write(tmp_path / "a.txt", "hello", mtime_ns=T0 + 10**9)
    second = await collect(source(tmp_path, hash=False), full=False, cursor=final_cursor(first))

    assert set(docs(second)) == {"a.txt"}


async def test_incremental_without_a_manifest_reads_everything(tmp_path: Path) -> None:
    tree(tmp_path)
    items = await collect(source(tmp_path), full=False, cursor=None)
    assert docs(items) == docs(await collect(source(tmp_path)))
    assert deletes(items) == set()


async def test_a_config_change_rewrites_every_file(tmp_path: Path) -> None:
    tree(tmp_path)
    first = await collect(source(tmp_path))

    second = await collect(source(tmp_path, format="file"), full=False, cursor=final_cursor(first))

    assert set(docs(second)) == {"a.txt", "docs/b.md", "docs/deep/c.txt", "rows.jsonl", "table.csv"}
    assert deletes(second) == {"rows.jsonl:1", "rows.jsonl:2", "rows.jsonl:3", "table.csv:1",
                               "table.csv:2", "table.csv:3"}  # fmt: skip
    assert apply(docs(first), second) == docs(second)


async def test_a_restart_resumes_after_its_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(filesystem, "CHECKPOINT_FILES", 3)
    for n in range(10):
        write(tmp_path / f"f{n}.txt", f"file {n}")
    src = source(tmp_path)
    first = await collect(src)
    for n in (1, 5, 8):
        write(tmp_path / f"f{n}.txt", f"file {n} changed")
    (tmp_path / "f9.txt").unlink()

    everything = await collect(src, full=False, cursor=final_cursor(first))
    # A crash after the first checkpoint: the rest comes from that checkpoint.
    at = next(i for i, item in enumerate(everything) if isinstance(item, Checkpoint))
    cut = everything[at]
    assert isinstance(cut, Checkpoint) and cut.cursor["after"] == "f2.txt"
    rest = await collect(src, full=False, cursor=stored(cut.cursor))

    assert set(docs(everything)) == {"f1.txt", "f5.txt", "f8.txt"}
    assert set(docs(rest)) == {"f5.txt", "f8.txt"}
    assert deletes(rest) == {"f9.txt"}
    assert final_cursor(rest) == final_cursor(everything)


async def test_tasks_split_the_files_exactly_once(tmp_path: Path) -> None:
    for n in range(40):
        write(tmp_path / f"d{n % 4}/f{n}.txt", str(n))
    plans = FilesystemSource.plan_tasks({"path": str(tmp_path)}, 3)
    assert [p.partition for p in plans] == ["part-0-of-3", "part-1-of-3", "part-2-of-3"]

    src = source(tmp_path)
    shares = [set(docs(await collect(src, task=plan))) for plan in plans]

    assert all(shares), "a task got no file"
    assert sum(len(s) for s in shares) == 40
    assert set().union(*shares) == {f"d{n % 4}/f{n}.txt" for n in range(40)}


async def test_too_many_files_for_one_task_fail_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(filesystem, "MAX_FILES_PER_TASK", 4)
    for n in range(5):
        write(tmp_path / f"f{n}.txt", "x")
    with pytest.raises(ManifestTooLarge, match=r"covers 5 files.*raise tasks_max"):
        await collect(source(tmp_path))


def test_validate_names_the_bad_fields() -> None:
    config = {"path": "relative/dir", "include": ["/abs", "../up"], "format": "file",
              "id_field": "id"}  # fmt: skip
    normalised, problems = FilesystemSource.schema.validate(config)
    assert problems == []
    assert [v.field for v in FilesystemSource.validate(normalised)] == [
        "config.path",
        "config.include[0]",
        "config.include[1]",
        "config.id_field",
    ]


def test_a_path_reference_is_checked_on_the_agent() -> None:
    for path in ("${env:FERRY_DOCS_DIR}", "${file:/run/secrets/docs-dir}"):
        normalised, problems = FilesystemSource.schema.validate({"path": path})
        assert problems == []
        assert FilesystemSource.validate(normalised) == []


async def test_an_unreadable_directory_fails_unless_excluded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree(tmp_path)
    locked = tmp_path / "locked"
    write(locked / "secret.txt", "x")
    scandir = os.scandir

    def refusing(path: Any = ".") -> Any:  # root reads every directory: refuse like chmod 0
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refusing)

    with pytest.raises(filesystem.SourceUnreadable, match=r"cannot list .*locked: Permission"):
        await collect(source(tmp_path))
    index = docs(await collect(source(tmp_path, exclude=["locked/**"])))
    assert set(index) >= {"a.txt", "docs/b.md"}


async def test_a_missing_root_fails_clearly(tmp_path: Path) -> None:
    src = source(tmp_path / "absent")
    with pytest.raises(filesystem.SourceUnreadable, match="is not a readable directory"):
        await src.ping()
    with pytest.raises(filesystem.SourceUnreadable, match="absent is not a directory"):
        await collect(src)
