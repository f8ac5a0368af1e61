"""The index store's indices and schemas as ``ferry.v1`` messages, and back.

Shared by every service that speaks about indices: the coordinator's Indices
API and the replicator's LeaderReplication (and the follower side reading
it). Nothing here does I/O. A bad message raises InvalidArgument naming the
field path given as ``where``.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf import timestamp_pb2

from ferry.errors import FieldViolation, InvalidArgument
from ferry.names import index_name_error
from ferry.store.common import FIELD_PATH
from ferry.store.model import FieldKind, IndexInfo, Schema
from ferry.v1 import indices_pb2 as pb

KIND_OF_TYPE: dict[pb.IndexFieldType, FieldKind] = {
    pb.INDEX_FIELD_TYPE_KEYWORD: FieldKind.KEYWORD,
    pb.INDEX_FIELD_TYPE_TEXT: FieldKind.TEXT,
    pb.INDEX_FIELD_TYPE_LONG: FieldKind.LONG,
    pb.INDEX_FIELD_TYPE_DOUBLE: FieldKind.DOUBLE,
    pb.INDEX_FIELD_TYPE_BOOLEAN: FieldKind.BOOLEAN,
    pb.INDEX_FIELD_TYPE_TIMESTAMP: FieldKind.DATE,
    pb.INDEX_FIELD_TYPE_OBJECT: FieldKind.OBJECT,
}
TYPE_OF_KIND = {kind: type_ for type_, kind in KIND_OF_TYPE.items()}


def index_name(name: str, where: str) -> str:
    """index_name returns a valid index name or raises naming ``where``."""
    if (error := index_name_error(name)) is not None:
        raise InvalidArgument.field(where, error)
    return name


def timestamp(epoch_seconds: float) -> timestamp_pb2.Timestamp:
    """timestamp is epoch seconds as a Timestamp, to the microsecond."""
    # A float of epoch seconds holds microseconds; finer digits would be noise.
    stamp = timestamp_pb2.Timestamp()
    stamp.FromMicroseconds(round(epoch_seconds * 1e6))
    return stamp


def schema_fields(fields: Sequence[pb.IndexField], where: str) -> dict[str, FieldKind]:
    """schema_fields is the store's field map of ``fields``; every bad entry is named."""
    problems: list[FieldViolation] = []
    kinds: dict[str, FieldKind] = {}
    for i, f in enumerate(fields):
        at = f"{where}[{i}]"
        if not f.path:
            problems.append(FieldViolation(f"{at}.path", "is required"))
        elif not FIELD_PATH.match(f.path):
            problems.append(FieldViolation(f"{at}.path", f"{f.path!r} is not a dotted field path"))
        elif f.path in kinds:
            problems.append(FieldViolation(f"{at}.path", f"{f.path!r} is declared twice"))
        kind = KIND_OF_TYPE.get(f.type)
        if kind is None:
            problems.append(
                FieldViolation(f"{at}.type", "must be one of " + ", ".join(_type_names()))
            )
        elif f.path:
            kinds[f.path] = kind
    if problems:
        raise InvalidArgument.fields(problems)
    return kinds


def _type_names() -> list[str]:
    return [pb.IndexFieldType.Name(t) for t in KIND_OF_TYPE]


def schema_to_proto(schema: Schema) -> pb.IndexSchema:
    """schema_to_proto is a schema as a message, fields in path order."""
    fields = [pb.IndexField(path=p, type=TYPE_OF_KIND[k]) for p, k in sorted(schema.fields.items())]
    return pb.IndexSchema(version=schema.version, fields=fields)


def schema_from_proto(message: pb.IndexSchema, where: str) -> Schema:
    """schema_from_proto is the store's schema of a message, version included."""
    if message.version < 0:
        raise InvalidArgument.field(f"{where}.version", "must not be negative")
    return Schema(fields=schema_fields(message.fields, f"{where}.fields"), version=message.version)


def index_to_proto(info: IndexInfo, doc_count: int) -> pb.Index:
    """index_to_proto is a stored index as an Index message (revision left 0)."""
    spec = info.spec
    index = pb.Index(
        name=spec.name,
        shard_count=spec.shards,
        schema=schema_to_proto(spec.schema),
        follower=spec.follower,
        create_time=timestamp(info.created_at),
        doc_count=doc_count,
    )
    if spec.leader is not None:
        index.leader.CopyFrom(
            pb.LeaderIndexRef(
                remote_cluster=spec.leader.remote_cluster, index=spec.leader.leader_index
            )
        )
    return index
