"""ConnectorStore and DeclarativeConnectors on a real etcd."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aetcd
import grpc
import pytest
from google.protobuf import json_format

from ferry.connectors import Checkpoint, Delete, Document, Registry, Source, TaskPlan
from ferry.connectors.generator import GeneratorSource
from ferry.errors import Aborted, AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from ferry.etcd import Keys
from ferry.v1 import connectors_pb2 as pb
from services.coordinator.connectors import ConnectorStore
from services.coordinator.declarative import DeclarativeConnectors


class NoopSource(Source):
    """NoopSource is a second connector type, so that type filters have something to skip."""

    name = "noop"

    async def stream(
        self, task: TaskPlan, *, full: bool, cursor: Mapping[str, Any] | None
    ) -> AsyncIterator[Document | Delete | Checkpoint]:
        yield Checkpoint({})


@pytest.fixture
def registry() -> Registry:
    return Registry([GeneratorSource, NoopSource])


@pytest.fixture
def store(etcd_client: aetcd.Client, keys: Keys, registry: Registry) -> ConnectorStore:
    return ConnectorStore(etcd_client, keys, registry)


def spec(name: str, *, type: str = "generator", **config: Any) -> pb.ConnectorSpec:
    """spec is a valid connector spec; config defaults to a small generator."""
    if type == "generator":
        config = {"docs": 10, **config}
    return json_format.ParseDict(
        {"name": name, "type": type, "index": f"{name}-index", "config": config},
        pb.ConnectorSpec(),
    )


def offset(partition: str, **cursor: Any) -> pb.TaskOffset:
    return json_format.ParseDict({"partition": partition, "cursor": cursor}, pb.TaskOffset())


async def test_create_then_get(store: ConnectorStore) -> None:
    created = await store.create(spec("alpha", docs=5))

    assert created.revision > 0
    assert created.state == pb.CONNECTOR_STATE_RUNNING
    got = await store.get("alpha")
    assert got == created
    assert json_format.MessageToDict(got.spec.config) == {"docs": 5}


async def test_create_with_initial_state(store: ConnectorStore) -> None:
    await store.create(spec("paused-from-start"), pb.CONNECTOR_STATE_PAUSED)
    assert (await store.get("paused-from-start")).state == pb.CONNECTOR_STATE_PAUSED


async def test_create_twice_is_already_exists(store: ConnectorStore) -> None:
    first = await store.create(spec("alpha", docs=5))

    with pytest.raises(AlreadyExists) as err:
        await store.create(spec("alpha", docs=6))
    assert err.value.code == grpc.StatusCode.ALREADY_EXISTS
    assert err.value.name == "alpha"
    assert await store.get("alpha") == first


async def test_create_invalid_spec_names_the_field(store: ConnectorStore) -> None:
    with pytest.raises(InvalidArgument) as err:
        await store.create(spec("alpha", docs=-1))
    assert [v.field for v in err.value.violations] == ["spec.config.docs"]
    with pytest.raises(NotFound):
        await store.get("alpha")


async def test_get_missing_is_not_found(store: ConnectorStore) -> None:
    with pytest.raises(NotFound) as err:
        await store.get("missing")
    assert err.value.code == grpc.StatusCode.NOT_FOUND
    assert (err.value.resource_type, err.value.name) == ("connector", "missing")


async def test_get_bad_name_is_invalid(store: ConnectorStore) -> None:
    with pytest.raises(InvalidArgument) as err:
        await store.get("Bad/Name")
    assert [v.field for v in err.value.violations] == ["name"]


async def test_list_pages_in_name_order(store: ConnectorStore) -> None:
    names = ["c-3", "c-1", "c-5", "c-2", "c-4"]
    for name in names:
        await store.create(spec(name))

    pages: list[list[str]] = []
    token = ""
    while True:
        page, token = await store.list(page_size=2, page_token=token)
        pages.append([c.spec.name for c in page])
        if not token:
            break

    assert pages == [["c-1", "c-2"], ["c-3", "c-4"], ["c-5"]]


async def test_list_exact_multiple_of_page_size_has_no_empty_last_page(
    store: ConnectorStore,
) -> None:
    for name in ("a", "b", "c", "d"):
        await store.create(spec(name))

    first, token = await store.list(page_size=2)
    second, last_token = await store.list(page_size=2, page_token=token)

    assert [c.spec.name for c in first + second] == ["a", "b", "c", "d"]
    assert token == "b"
    assert last_token == ""


async def test_list_filters_by_type(store: ConnectorStore) -> None:
    for name in ("g-1", "g-2", "g-3"):
        await store.create(spec(name))
    for name in ("n-1", "n-2"):
        await store.create(spec(name, type="noop"))

    noops, token = await store.list(type="noop")
    assert [c.spec.name for c in noops] == ["n-1", "n-2"]
    assert token == ""

    generators, token = await store.list(type="generator", page_size=2)
    assert [c.spec.name for c in generators] == ["g-1", "g-2"]
    rest, token = await store.list(type="generator", page_size=2, page_token=token)
    assert [c.spec.name for c in rest] == ["g-3"]
    assert token == ""


async def test_list_rejects_negative_page_size(store: ConnectorStore) -> None:
    with pytest.raises(InvalidArgument) as err:
        await store.list(page_size=-1)
    assert [v.field for v in err.value.violations] == ["page_size"]


async def test_list_does_not_see_other_roots(
    etcd_client: aetcd.Client, store: ConnectorStore, registry: Registry
) -> None:
    await store.create(spec("mine"))
    other = ConnectorStore(etcd_client, Keys("/test-other-root-" + str(id(store))), registry)
    assert (await other.list())[0] == []
    assert [c.spec.name for c in (await store.list())[0]] == ["mine"]


async def test_update_checks_the_revision(store: ConnectorStore) -> None:
    created = await store.create(spec("alpha", docs=5))

    updated = await store.update(spec("alpha", docs=7), created.revision)
    assert updated.revision > created.revision
    assert json_format.MessageToDict((await store.get("alpha")).spec.config) == {"docs": 7}

    with pytest.raises(Aborted) as err:
        await store.update(spec("alpha", docs=9), created.revision)
    assert err.value.code == grpc.StatusCode.ABORTED
    assert err.value.retriable
    assert await store.get("alpha") == updated

    any_revision = await store.update(spec("alpha", docs=9), 0)
    assert any_revision.revision > updated.revision
    assert any_revision.create_time == created.create_time


async def test_update_missing_is_not_found(store: ConnectorStore) -> None:
    with pytest.raises(NotFound):
        await store.update(spec("missing"), 0)


async def test_delete(store: ConnectorStore) -> None:
    created = await store.create(spec("alpha"))

    with pytest.raises(Aborted):
        await store.delete("alpha", expected_revision=created.revision + 100)
    assert await store.get("alpha") == created

    await store.delete("alpha", expected_revision=created.revision)

    with pytest.raises(NotFound):
        await store.get("alpha")
    with pytest.raises(NotFound):
        await store.delete("alpha")


@pytest.mark.parametrize(
    "state", [pb.CONNECTOR_STATE_PAUSED, pb.CONNECTOR_STATE_STOPPED, pb.CONNECTOR_STATE_RUNNING]
)
async def test_desired_state_is_persisted(
    etcd_client: aetcd.Client,
    keys: Keys,
    registry: Registry,
    store: ConnectorStore,
    state: pb.ConnectorState,
) -> None:
    initial = (
        pb.CONNECTOR_STATE_PAUSED
        if state == pb.CONNECTOR_STATE_RUNNING
        else pb.CONNECTOR_STATE_UNSPECIFIED
    )
    created = await store.create(spec("alpha"), initial)

    changed = await store.set_state("alpha", state)

    assert changed.state == state
    assert changed.revision > created.revision
    fresh_store = ConnectorStore(etcd_client, keys, registry)
    assert (await fresh_store.get("alpha")).state == state
    # Setting the state it already has writes nothing.
    assert (await store.set_state("alpha", state)).revision == changed.revision


async def test_pause_resume_stop_sequence(store: ConnectorStore) -> None:
    await store.create(spec("alpha"))
    seen = []
    for state in (
        pb.CONNECTOR_STATE_PAUSED,
        pb.CONNECTOR_STATE_RUNNING,
        pb.CONNECTOR_STATE_STOPPED,
    ):
        await store.set_state("alpha", state)
        seen.append((await store.get("alpha")).state)
    assert seen == [
        pb.CONNECTOR_STATE_PAUSED,
        pb.CONNECTOR_STATE_RUNNING,
        pb.CONNECTOR_STATE_STOPPED,
    ]


async def test_set_state_of_missing_is_not_found(store: ConnectorStore) -> None:
    with pytest.raises(NotFound):
        await store.set_state("missing", pb.CONNECTOR_STATE_PAUSED)


@pytest.mark.parametrize("state", [pb.CONNECTOR_STATE_RUNNING, pb.CONNECTOR_STATE_PAUSED])
async def test_offsets_change_only_when_stopped(
    store: ConnectorStore, state: pb.ConnectorState
) -> None:
    await store.create(spec("alpha"), state)

    for change in (
        store.alter_offsets("alpha", [offset("range-0", next=5)]),
        store.reset_offsets("alpha"),
    ):
        with pytest.raises(FailedPrecondition) as err:
            await change
        assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert err.value.subject == "connector/alpha"
    assert list((await store.get_offsets("alpha")).offsets) == []


async def test_alter_then_reset_offsets(store: ConnectorStore) -> None:
    await store.create(spec("alpha"), pb.CONNECTOR_STATE_STOPPED)

    altered = await store.alter_offsets(
        "alpha", [offset("range-0", next=5), offset("range-1", next=9)]
    )

    got = await store.get_offsets("alpha")
    assert got == altered
    assert got.name == "alpha"
    cursors = {o.partition: json_format.MessageToDict(o.cursor) for o in got.offsets}
    assert cursors == {"range-0": {"next": 5}, "range-1": {"next": 9}}
    assert all(o.HasField("update_time") for o in got.offsets)

    await store.alter_offsets("alpha", [offset("range-1", next=12)])
    cursors = {
        o.partition: json_format.MessageToDict(o.cursor)
        for o in (await store.get_offsets("alpha")).offsets
    }
    assert cursors == {"range-0": {"next": 5}, "range-1": {"next": 12}}

    reset = await store.reset_offsets("alpha")
    assert list(reset.offsets) == []
    assert list((await store.get_offsets("alpha")).offsets) == []


@pytest.mark.parametrize("partition", ["", "a/b"])
async def test_alter_offsets_rejects_bad_partition(store: ConnectorStore, partition: str) -> None:
    await store.create(spec("alpha"), pb.CONNECTOR_STATE_STOPPED)
    with pytest.raises(InvalidArgument) as err:
        await store.alter_offsets("alpha", [offset("ok", next=1), offset(partition, next=1)])
    assert [v.field for v in err.value.violations] == ["offsets[1].partition"]
    assert list((await store.get_offsets("alpha")).offsets) == []


async def test_offsets_of_missing_connector_are_not_found(store: ConnectorStore) -> None:
    with pytest.raises(NotFound):
        await store.get_offsets("missing")


async def test_delete_removes_checkpoints(
    etcd_client: aetcd.Client, keys: Keys, store: ConnectorStore
) -> None:
    await store.create(spec("alpha"), pb.CONNECTOR_STATE_STOPPED)
    await store.create(spec("alpha-2"), pb.CONNECTOR_STATE_STOPPED)
    await store.alter_offsets("alpha", [offset("range-0", next=5)])
    await store.alter_offsets("alpha-2", [offset("range-0", next=7)])

    await store.delete("alpha")

    assert list(await etcd_client.get_prefix(keys.checkpoints("alpha").encode())) == []
    await store.create(spec("alpha"), pb.CONNECTOR_STATE_STOPPED)
    assert list((await store.get_offsets("alpha")).offsets) == []
    # A connector whose name extends the deleted one's keeps its checkpoints.
    assert len((await store.get_offsets("alpha-2")).offsets) == 1


# Declarative connectors.

FILE_V1 = """
connectors:
  - name: keep
    type: generator
    index: keep-index
    config: {docs: 10}
  - name: change
    type: generator
    index: change-index
    config: {docs: 10}
  - name: remove
    type: noop
    index: remove-index
"""

FILE_V2 = """
connectors:
  - name: keep
    type: generator
    index: keep-index
    config: {docs: 10}
  - name: change
    type: generator
    index: change-index
    config: {docs: 20}
  - name: add
    type: generator
    index: add-index
    state: paused
"""

FILE_BAD = """
- name: keep
  type: generator
  index: keep-index
  config: {docs: 10}
- name: change
  type: generator
  index: change-index
  config: {docs: -5}
"""


@pytest.fixture
def connectors_file(tmp_path: Path) -> Path:
    return tmp_path / "connectors.yaml"


async def write(path: Path, text: str) -> None:
    await asyncio.to_thread(path.write_text, text)


async def stored(store: ConnectorStore) -> dict[str, pb.Connector]:
    page, _ = await store.list()
    return {c.spec.name: c for c in page}


async def test_declarative_creates_updates_deletes(
    store: ConnectorStore, registry: Registry, connectors_file: Path
) -> None:
    applier = DeclarativeConnectors(store, registry, connectors_file)
    await write(connectors_file, FILE_V1)

    first = await applier.apply()

    assert sorted(first.created) == ["change", "keep", "remove"]
    assert (first.updated, first.deleted, first.unchanged) == ([], [], [])
    before = await stored(store)
    assert sorted(before) == ["change", "keep", "remove"]

    await write(connectors_file, FILE_V2)
    second = await applier.apply()

    assert second.created == ["add"]
    assert second.updated == ["change"]
    assert second.deleted == ["remove"]
    assert second.unchanged == ["keep"]
    after = await stored(store)
    assert sorted(after) == ["add", "change", "keep"]
    assert after["keep"].revision == before["keep"].revision
    assert json_format.MessageToDict(after["change"].spec.config) == {"docs": 20}
    assert after["add"].state == pb.CONNECTOR_STATE_PAUSED

    third = await applier.apply()
    assert sorted(third.unchanged) == ["add", "change", "keep"]
    assert (third.created, third.updated, third.deleted) == ([], [], [])
    assert await stored(store) == after


async def test_declarative_state_change_is_an_update(
    store: ConnectorStore, registry: Registry, connectors_file: Path
) -> None:
    applier = DeclarativeConnectors(store, registry, connectors_file)
    await write(connectors_file, "name: one\ntype: generator\nindex: one\n")
    await applier.apply()

    await write(connectors_file, "name: one\ntype: generator\nindex: one\nstate: stopped\n")
    summary = await applier.apply()

    assert summary.updated == ["one"]
    assert (await store.get("one")).state == pb.CONNECTOR_STATE_STOPPED


async def test_declarative_bad_entry_changes_nothing(
    store: ConnectorStore, registry: Registry, connectors_file: Path
) -> None:
    applier = DeclarativeConnectors(store, registry, connectors_file)
    await write(connectors_file, FILE_V2)
    await applier.apply()
    before = await stored(store)

    await write(connectors_file, FILE_BAD)
    with pytest.raises(InvalidArgument) as err:
        await applier.apply()

    assert "connectors[1].config.docs" in [v.field for v in err.value.violations]
    assert "connectors[1].config.docs" in str(err.value)
    assert await stored(store) == before


async def test_declarative_missing_file_is_invalid(
    store: ConnectorStore, registry: Registry, tmp_path: Path
) -> None:
    applier = DeclarativeConnectors(store, registry, tmp_path / "absent.yaml")
    with pytest.raises(InvalidArgument) as err:
        await applier.apply()
    assert [v.field for v in err.value.violations] == ["file"]
