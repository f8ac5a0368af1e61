import datetime

from ferry.v1 import indices_pb2 as _indices_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OperationType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPERATION_TYPE_UNSPECIFIED: _ClassVar[OperationType]
    OPERATION_TYPE_INDEX: _ClassVar[OperationType]
    OPERATION_TYPE_DELETE: _ClassVar[OperationType]
OPERATION_TYPE_UNSPECIFIED: OperationType
OPERATION_TYPE_INDEX: OperationType
OPERATION_TYPE_DELETE: OperationType

class Operation(_message.Message):
    __slots__ = ("seq_no", "type", "doc_id", "source", "version", "write_time")
    SEQ_NO_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WRITE_TIME_FIELD_NUMBER: _ClassVar[int]
    seq_no: int
    type: OperationType
    doc_id: str
    source: bytes
    version: int
    write_time: _timestamp_pb2.Timestamp
    def __init__(self, seq_no: _Optional[int] = ..., type: _Optional[_Union[OperationType, str]] = ..., doc_id: _Optional[str] = ..., source: _Optional[bytes] = ..., version: _Optional[int] = ..., write_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReadStart(_message.Message):
    __slots__ = ("leader_index", "shard", "follower_index", "from_seq_no", "retention_lease_id", "schema_version", "read_poll_timeout", "max_message_bytes")
    LEADER_INDEX_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    FOLLOWER_INDEX_FIELD_NUMBER: _ClassVar[int]
    FROM_SEQ_NO_FIELD_NUMBER: _ClassVar[int]
    RETENTION_LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    READ_POLL_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    leader_index: str
    shard: int
    follower_index: str
    from_seq_no: int
    retention_lease_id: str
    schema_version: int
    read_poll_timeout: _duration_pb2.Duration
    max_message_bytes: int
    def __init__(self, leader_index: _Optional[str] = ..., shard: _Optional[int] = ..., follower_index: _Optional[str] = ..., from_seq_no: _Optional[int] = ..., retention_lease_id: _Optional[str] = ..., schema_version: _Optional[int] = ..., read_poll_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_message_bytes: _Optional[int] = ...) -> None: ...

class ReadCredit(_message.Message):
    __slots__ = ("operations", "bytes", "follower_global_checkpoint")
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    FOLLOWER_GLOBAL_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    operations: int
    bytes: int
    follower_global_checkpoint: int
    def __init__(self, operations: _Optional[int] = ..., bytes: _Optional[int] = ..., follower_global_checkpoint: _Optional[int] = ...) -> None: ...

class ReadOperationsRequest(_message.Message):
    __slots__ = ("start", "credit")
    START_FIELD_NUMBER: _ClassVar[int]
    CREDIT_FIELD_NUMBER: _ClassVar[int]
    start: ReadStart
    credit: ReadCredit
    def __init__(self, start: _Optional[_Union[ReadStart, _Mapping]] = ..., credit: _Optional[_Union[ReadCredit, _Mapping]] = ...) -> None: ...

class ReadOperationsResponse(_message.Message):
    __slots__ = ("operations", "leader_global_checkpoint", "leader_max_seq_no", "schema_version", "schema", "history_trimmed", "min_retained_seq_no")
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    LEADER_GLOBAL_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    LEADER_MAX_SEQ_NO_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    HISTORY_TRIMMED_FIELD_NUMBER: _ClassVar[int]
    MIN_RETAINED_SEQ_NO_FIELD_NUMBER: _ClassVar[int]
    operations: _containers.RepeatedCompositeFieldContainer[Operation]
    leader_global_checkpoint: int
    leader_max_seq_no: int
    schema_version: int
    schema: _indices_pb2.IndexSchema
    history_trimmed: bool
    min_retained_seq_no: int
    def __init__(self, operations: _Optional[_Iterable[_Union[Operation, _Mapping]]] = ..., leader_global_checkpoint: _Optional[int] = ..., leader_max_seq_no: _Optional[int] = ..., schema_version: _Optional[int] = ..., schema: _Optional[_Union[_indices_pb2.IndexSchema, _Mapping]] = ..., history_trimmed: _Optional[bool] = ..., min_retained_seq_no: _Optional[int] = ...) -> None: ...

class BootstrapRequest(_message.Message):
    __slots__ = ("leader_index", "shard", "follower_index", "retention_lease_id", "max_chunk_bytes")
    LEADER_INDEX_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    FOLLOWER_INDEX_FIELD_NUMBER: _ClassVar[int]
    RETENTION_LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    leader_index: str
    shard: int
    follower_index: str
    retention_lease_id: str
    max_chunk_bytes: int
    def __init__(self, leader_index: _Optional[str] = ..., shard: _Optional[int] = ..., follower_index: _Optional[str] = ..., retention_lease_id: _Optional[str] = ..., max_chunk_bytes: _Optional[int] = ...) -> None: ...

class BootstrapResponse(_message.Message):
    __slots__ = ("snapshot_seq_no", "schema", "documents", "total_documents", "last", "leader_global_checkpoint", "leader_max_seq_no")
    SNAPSHOT_SEQ_NO_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    LEADER_GLOBAL_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    LEADER_MAX_SEQ_NO_FIELD_NUMBER: _ClassVar[int]
    snapshot_seq_no: int
    schema: _indices_pb2.IndexSchema
    documents: _containers.RepeatedCompositeFieldContainer[Operation]
    total_documents: int
    last: bool
    leader_global_checkpoint: int
    leader_max_seq_no: int
    def __init__(self, snapshot_seq_no: _Optional[int] = ..., schema: _Optional[_Union[_indices_pb2.IndexSchema, _Mapping]] = ..., documents: _Optional[_Iterable[_Union[Operation, _Mapping]]] = ..., total_documents: _Optional[int] = ..., last: _Optional[bool] = ..., leader_global_checkpoint: _Optional[int] = ..., leader_max_seq_no: _Optional[int] = ...) -> None: ...

class PutRetentionLeaseRequest(_message.Message):
    __slots__ = ("leader_index", "shard", "lease_id", "retaining_seq_no", "source", "period")
    LEADER_INDEX_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    RETAINING_SEQ_NO_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    leader_index: str
    shard: int
    lease_id: str
    retaining_seq_no: int
    source: str
    period: _duration_pb2.Duration
    def __init__(self, leader_index: _Optional[str] = ..., shard: _Optional[int] = ..., lease_id: _Optional[str] = ..., retaining_seq_no: _Optional[int] = ..., source: _Optional[str] = ..., period: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class RemoveRetentionLeaseRequest(_message.Message):
    __slots__ = ("leader_index", "shard", "lease_id")
    LEADER_INDEX_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    leader_index: str
    shard: int
    lease_id: str
    def __init__(self, leader_index: _Optional[str] = ..., shard: _Optional[int] = ..., lease_id: _Optional[str] = ...) -> None: ...

class RemoveRetentionLeaseResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetLeaderIndexRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListLeaderIndicesRequest(_message.Message):
    __slots__ = ("pattern",)
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    pattern: str
    def __init__(self, pattern: _Optional[str] = ...) -> None: ...

class ListLeaderIndicesResponse(_message.Message):
    __slots__ = ("indices",)
    INDICES_FIELD_NUMBER: _ClassVar[int]
    indices: _containers.RepeatedCompositeFieldContainer[_indices_pb2.Index]
    def __init__(self, indices: _Optional[_Iterable[_Union[_indices_pb2.Index, _Mapping]]] = ...) -> None: ...
