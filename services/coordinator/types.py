"""Connector types as the API shows them, and the leader loop that publishes them."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from google.protobuf import json_format, struct_pb2

from ferry.connectors import FieldType, Registry, Source
from ferry.v1 import connectors_pb2 as pb
from services.coordinator.leader import Leadership, ManagementLoop

log = logging.getLogger(__name__)

_FIELD_TYPES = {
    FieldType.STRING: pb.FIELD_TYPE_STRING,
    FieldType.INTEGER: pb.FIELD_TYPE_INTEGER,
    FieldType.NUMBER: pb.FIELD_TYPE_NUMBER,
    FieldType.BOOLEAN: pb.FIELD_TYPE_BOOLEAN,
    FieldType.LIST: pb.FIELD_TYPE_LIST,
    FieldType.OBJECT: pb.FIELD_TYPE_OBJECT,
}


def connector_type(source: type[Source]) -> pb.ConnectorType:
    """connector_type describes a source class for ListTypes."""
    described = pb.ConnectorType(
        name=source.name,
        description=source.description,
        incremental=source.incremental,
        advanced_rules=source.advanced_rules,
    )
    for f in source.schema.fields:
        field = described.fields.add(
            name=f.name,
            type=_FIELD_TYPES[f.type],
            required=f.required,
            description=f.description,
            secret=f.secret,
            choices=list(f.choices),
        )
        if f.default is not None:
            field.default.CopyFrom(_value(f.default))
    return described


def _value(python: Any) -> struct_pb2.Value:
    value = struct_pb2.Value()
    holder = struct_pb2.Struct()
    holder.update({"v": python})
    value.CopyFrom(holder.fields["v"])
    return value


def list_types(registry: Registry) -> list[pb.ConnectorType]:
    return [connector_type(source) for source in registry.types.values()]


def publish_types_loop(registry: Registry, *, interval: float = 30.0) -> ManagementLoop:
    """publish_types_loop keeps /types/ in etcd equal to the leader's registry.

    Agents and tools read the published registry; writes are guarded by the
    leader's election key so a deposed leader cannot overwrite its successor.
    """

    async def publish_connector_types(leadership: Leadership) -> None:
        client, keys = leadership.client, leadership.keys
        tx = client.transactions
        prefix = keys.connector_types()
        while True:
            wanted = {
                keys.connector_type(t.name): json_format.MessageToJson(t, indent=None).encode()
                for t in list_types(registry)
            }
            stored = {kv.key.decode(): kv.value for kv in await client.get_prefix(prefix.encode())}
            ops = [tx.put(k.encode(), v) for k, v in wanted.items() if stored.get(k) != v]
            ops += [tx.delete(k.encode()) for k in stored if k not in wanted]
            if ops:
                ok, _ = await client.transaction(
                    compare=[leadership.election.guard()], success=ops, failure=[]
                )
                log.info("published connector types", extra={"changes": len(ops), "applied": ok})
            await asyncio.sleep(interval)

    return publish_connector_types
