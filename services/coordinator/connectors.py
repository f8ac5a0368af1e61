"""Connector records in etcd: CRUD with optimistic concurrency, desired state, offsets.

Every replica serves these calls directly against etcd; every write is one
etcd transaction that compares the record's modification revision, so two
replicas (or two operators) can never silently overwrite each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import aetcd
from google.protobuf import json_format, timestamp_pb2

from ferry.connectors import Registry
from ferry.errors import Aborted, AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from ferry.etcd import Keys, prefix_end
from ferry.names import check_label
from ferry.sync.records import decode_connector, encode_connector
from ferry.v1 import connectors_pb2 as pb
from services.coordinator.validation import check_spec, non_finite

RESOURCE = "connector"
MAX_PAGE = 1000
DEFAULT_PAGE = 100
_STATE_RETRIES = 8
MAX_ALTERED_OFFSETS = 128
"""MAX_ALTERED_OFFSETS is etcd's default --max-txn-ops: AlterOffsets is one transaction."""
MAX_PARTITION_BYTES = 256
MAX_OFFSET_BYTES = 8 * 1024
"""MAX_OFFSET_BYTES bounds one stored checkpoint, so 128 of them fit one etcd request."""


def _now() -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(datetime.now(UTC))
    return ts


class ConnectorStore:
    """ConnectorStore is the connector control plane, backed by etcd only."""

    def __init__(self, client: aetcd.Client, keys: Keys, registry: Registry) -> None:
        self._client = client
        self._keys = keys
        self._registry = registry

    async def create(
        self, spec: pb.ConnectorSpec, state: pb.ConnectorState = pb.CONNECTOR_STATE_RUNNING
    ) -> pb.Connector:
        """create stores a validated connector; AlreadyExists when the name is taken."""
        check_spec(spec, self._registry)
        now = _now()
        connector = pb.Connector(
            spec=spec, state=state or pb.CONNECTOR_STATE_RUNNING, create_time=now, update_time=now
        )
        key = self._keys.connector(spec.name)
        tx = self._client.transactions
        ok, responses = await self._client.transaction(
            compare=[tx.create(key) == 0],
            success=[tx.put(key.encode(), encode_connector(connector))],
            failure=[],
        )
        if not ok:
            raise AlreadyExists(RESOURCE, spec.name)
        connector.revision = responses[0].response_put.header.revision
        return connector

    async def get(self, name: str) -> pb.Connector:
        check_label(name, "name")
        got = await self._client.get(self._keys.connector(name).encode())
        if got is None:
            raise NotFound(RESOURCE, name)
        return decode_connector(got.value, got.mod_revision)

    async def list(
        self, *, type: str = "", page_size: int = 0, page_token: str = ""
    ) -> tuple[list[pb.Connector], str]:
        """list returns one page of connectors in name order and the next page token."""
        if page_size < 0:
            raise InvalidArgument.field("page_size", "must not be negative")
        if page_token:
            check_label(page_token, "page_token")
        size = min(page_size or DEFAULT_PAGE, MAX_PAGE)
        prefix = self._keys.connectors()
        start = (prefix + page_token + "\0") if page_token else prefix
        result = await self._client.get_range(start.encode(), prefix_end(prefix))
        connectors: list[pb.Connector] = []
        next_token = ""
        for kv in result:
            connector = decode_connector(kv.value, kv.mod_revision)
            if type and connector.spec.type != type:
                continue
            if len(connectors) == size:
                next_token = connectors[-1].spec.name
                break
            connectors.append(connector)
        return connectors, next_token

    async def update(self, spec: pb.ConnectorSpec, expected_revision: int) -> pb.Connector:
        """update replaces the spec; Aborted if the stored revision is not expected_revision."""
        check_spec(spec, self._registry)
        current = await self.get(spec.name)
        if expected_revision and expected_revision != current.revision:
            raise Aborted(f"connector {spec.name!r}", expected_revision, current.revision)
        current.spec.CopyFrom(spec)
        return await self._write(current, current.revision)

    async def set_state(self, name: str, state: pb.ConnectorState) -> pb.Connector:
        """set_state persists the desired state (pause, resume, stop), retrying lost races."""
        for _ in range(_STATE_RETRIES):
            current = await self.get(name)
            if current.state == state:
                return current
            current.state = state
            try:
                return await self._write(current, current.revision)
            except Aborted:
                continue
        raise Aborted(f"connector {name!r}", 0, 0)

    async def _write(self, connector: pb.Connector, revision: int) -> pb.Connector:
        connector.update_time.CopyFrom(_now())
        key = self._keys.connector(connector.spec.name)
        tx = self._client.transactions
        ok, responses = await self._client.transaction(
            compare=[tx.mod(key) == revision],
            success=[tx.put(key.encode(), encode_connector(connector))],
            failure=[tx.get(key.encode())],
        )
        if not ok:
            if not responses[0]:
                raise NotFound(RESOURCE, connector.spec.name)
            raise Aborted(
                f"connector {connector.spec.name!r}", revision, responses[0][0][1].mod_revision
            )
        connector.revision = responses[0].response_put.header.revision
        return connector

    async def delete(self, name: str, expected_revision: int = 0) -> None:
        """delete removes the connector and its checkpoints in one transaction."""
        current = await self.get(name)
        if expected_revision and expected_revision != current.revision:
            raise Aborted(f"connector {name!r}", expected_revision, current.revision)
        key = self._keys.connector(name)
        checkpoints = self._keys.checkpoints(name)
        tx = self._client.transactions
        ok, _ = await self._client.transaction(
            compare=[tx.mod(key) == current.revision],
            success=[
                tx.delete(key.encode()),
                tx.delete(checkpoints.encode(), prefix_end(checkpoints)),
            ],
            failure=[],
        )
        if not ok:
            raise Aborted(f"connector {name!r}", current.revision, 0)

    async def get_offsets(self, name: str) -> pb.ConnectorOffsets:
        """get_offsets returns the stored checkpoint of every partition."""
        await self.get(name)
        prefix = self._keys.checkpoints(name)
        result = await self._client.get_prefix(prefix.encode())
        offsets = pb.ConnectorOffsets(name=name)
        for kv in result:
            offsets.offsets.append(
                json_format.Parse(kv.value, pb.TaskOffset(), ignore_unknown_fields=True)
            )
        return offsets

    async def _require_stopped(self, name: str) -> pb.Connector:
        connector = await self.get(name)
        if connector.state != pb.CONNECTOR_STATE_STOPPED:
            raise FailedPrecondition(
                f"connector {name!r} must be stopped to change its offsets "
                f"(it is {pb.ConnectorState.Name(connector.state)})",
                type="STATE",
                subject=f"connector/{name}",
            )
        return connector

    async def alter_offsets(
        self, name: str, offsets: Sequence[pb.TaskOffset]
    ) -> pb.ConnectorOffsets:
        """alter_offsets writes the given partitions' checkpoints; the connector must be stopped."""
        connector = await self._require_stopped(name)
        _check_offsets(offsets)
        key = self._keys.connector(name)
        tx = self._client.transactions
        puts = []
        for offset in offsets:
            stamped = pb.TaskOffset()
            stamped.CopyFrom(offset)
            stamped.update_time.CopyFrom(_now())
            value = json_format.MessageToJson(
                stamped, preserving_proto_field_name=True, indent=None
            )
            puts.append(
                tx.put(self._keys.checkpoint(name, offset.partition).encode(), value.encode())
            )
        ok, _ = await self._client.transaction(
            compare=[tx.mod(key) == connector.revision], success=puts, failure=[]
        )
        if not ok:
            raise Aborted(f"connector {name!r}", connector.revision, 0)
        return await self.get_offsets(name)

    async def reset_offsets(self, name: str) -> pb.ConnectorOffsets:
        """reset_offsets deletes every checkpoint; the next sync starts from the beginning."""
        connector = await self._require_stopped(name)
        key = self._keys.connector(name)
        prefix = self._keys.checkpoints(name)
        tx = self._client.transactions
        ok, _ = await self._client.transaction(
            compare=[tx.mod(key) == connector.revision],
            success=[tx.delete(prefix.encode(), prefix_end(prefix))],
            failure=[],
        )
        if not ok:
            raise Aborted(f"connector {name!r}", connector.revision, 0)
        return pb.ConnectorOffsets(name=name)


def _check_offsets(offsets: Sequence[pb.TaskOffset]) -> None:
    """_check_offsets refuses what one etcd transaction of checkpoints cannot hold."""
    if len(offsets) > MAX_ALTERED_OFFSETS:
        raise InvalidArgument.field(
            "offsets", f"{len(offsets)} partitions; at most {MAX_ALTERED_OFFSETS} per call"
        )
    seen: set[str] = set()
    for i, offset in enumerate(offsets):
        where = f"offsets[{i}]"
        if not offset.partition or "/" in offset.partition:
            raise InvalidArgument.field(f"{where}.partition", "must be non-empty without '/'")
        if len(offset.partition.encode()) > MAX_PARTITION_BYTES:
            raise InvalidArgument.field(
                f"{where}.partition", f"must be at most {MAX_PARTITION_BYTES} bytes"
            )
        if offset.partition in seen:
            raise InvalidArgument.field(
                f"{where}.partition", f"{offset.partition!r} appears more than once"
            )
        seen.add(offset.partition)
        if problems := non_finite(offset.cursor, f"{where}.cursor"):
            raise InvalidArgument.fields(problems)
        size = len(json_format.MessageToJson(offset.cursor, indent=None).encode())
        if size > MAX_OFFSET_BYTES:
            raise InvalidArgument.field(
                f"{where}.cursor", f"is {size} bytes as JSON; at most {MAX_OFFSET_BYTES}"
            )
