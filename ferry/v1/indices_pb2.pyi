import datetime

from ferry.v1 import common_pb2 as _common_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IndexFieldType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INDEX_FIELD_TYPE_UNSPECIFIED: _ClassVar[IndexFieldType]
    INDEX_FIELD_TYPE_KEYWORD: _ClassVar[IndexFieldType]
    INDEX_FIELD_TYPE_TEXT: _ClassVar[IndexFieldType]
    INDEX_FIELD_TYPE_LONG: _ClassVar[IndexFieldType]
    INDEX_FIELD_TYPE_DOUBLE: _ClassVar[IndexFieldType]
    INDEX_FIELD_TYPE_BOOLEAN: _ClassVar[IndexFieldType]
    INDEX_FIELD_TYPE_TIMESTAMP: _ClassVar[IndexFieldType]
    INDEX_FIELD_TYPE_OBJECT: _ClassVar[IndexFieldType]

class BulkOperationType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BULK_OPERATION_TYPE_UNSPECIFIED: _ClassVar[BulkOperationType]
    BULK_OPERATION_TYPE_INDEX: _ClassVar[BulkOperationType]
    BULK_OPERATION_TYPE_DELETE: _ClassVar[BulkOperationType]

class MatchOperator(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MATCH_OPERATOR_UNSPECIFIED: _ClassVar[MatchOperator]
    MATCH_OPERATOR_OR: _ClassVar[MatchOperator]
    MATCH_OPERATOR_AND: _ClassVar[MatchOperator]

class SortOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SORT_ORDER_UNSPECIFIED: _ClassVar[SortOrder]
    SORT_ORDER_ASCENDING: _ClassVar[SortOrder]
    SORT_ORDER_DESCENDING: _ClassVar[SortOrder]
INDEX_FIELD_TYPE_UNSPECIFIED: IndexFieldType
INDEX_FIELD_TYPE_KEYWORD: IndexFieldType
INDEX_FIELD_TYPE_TEXT: IndexFieldType
INDEX_FIELD_TYPE_LONG: IndexFieldType
INDEX_FIELD_TYPE_DOUBLE: IndexFieldType
INDEX_FIELD_TYPE_BOOLEAN: IndexFieldType
INDEX_FIELD_TYPE_TIMESTAMP: IndexFieldType
INDEX_FIELD_TYPE_OBJECT: IndexFieldType
BULK_OPERATION_TYPE_UNSPECIFIED: BulkOperationType
BULK_OPERATION_TYPE_INDEX: BulkOperationType
BULK_OPERATION_TYPE_DELETE: BulkOperationType
MATCH_OPERATOR_UNSPECIFIED: MatchOperator
MATCH_OPERATOR_OR: MatchOperator
MATCH_OPERATOR_AND: MatchOperator
SORT_ORDER_UNSPECIFIED: SortOrder
SORT_ORDER_ASCENDING: SortOrder
SORT_ORDER_DESCENDING: SortOrder

class IndexField(_message.Message):
    __slots__ = ("path", "type")
    PATH_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    path: str
    type: IndexFieldType
    def __init__(self, path: _Optional[str] = ..., type: _Optional[_Union[IndexFieldType, str]] = ...) -> None: ...

class IndexSchema(_message.Message):
    __slots__ = ("version", "fields")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    version: int
    fields: _containers.RepeatedCompositeFieldContainer[IndexField]
    def __init__(self, version: _Optional[int] = ..., fields: _Optional[_Iterable[_Union[IndexField, _Mapping]]] = ...) -> None: ...

class LeaderIndexRef(_message.Message):
    __slots__ = ("remote_cluster", "index")
    REMOTE_CLUSTER_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    remote_cluster: str
    index: str
    def __init__(self, remote_cluster: _Optional[str] = ..., index: _Optional[str] = ...) -> None: ...

class Index(_message.Message):
    __slots__ = ("name", "shard_count", "schema", "follower", "leader", "create_time", "doc_count", "revision")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SHARD_COUNT_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    FOLLOWER_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DOC_COUNT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    name: str
    shard_count: int
    schema: IndexSchema
    follower: bool
    leader: LeaderIndexRef
    create_time: _timestamp_pb2.Timestamp
    doc_count: int
    revision: int
    def __init__(self, name: _Optional[str] = ..., shard_count: _Optional[int] = ..., schema: _Optional[_Union[IndexSchema, _Mapping]] = ..., follower: _Optional[bool] = ..., leader: _Optional[_Union[LeaderIndexRef, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., doc_count: _Optional[int] = ..., revision: _Optional[int] = ...) -> None: ...

class CreateIndexRequest(_message.Message):
    __slots__ = ("name", "shard_count", "schema")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SHARD_COUNT_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    name: str
    shard_count: int
    schema: IndexSchema
    def __init__(self, name: _Optional[str] = ..., shard_count: _Optional[int] = ..., schema: _Optional[_Union[IndexSchema, _Mapping]] = ...) -> None: ...

class GetIndexRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListIndicesRequest(_message.Message):
    __slots__ = ("pattern", "page_size", "page_token")
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    pattern: str
    page_size: int
    page_token: str
    def __init__(self, pattern: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListIndicesResponse(_message.Message):
    __slots__ = ("indices", "next_page_token")
    INDICES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    indices: _containers.RepeatedCompositeFieldContainer[Index]
    next_page_token: str
    def __init__(self, indices: _Optional[_Iterable[_Union[Index, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteIndexRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteIndexResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UpdateIndexSchemaRequest(_message.Message):
    __slots__ = ("name", "fields", "expected_version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    fields: _containers.RepeatedCompositeFieldContainer[IndexField]
    expected_version: int
    def __init__(self, name: _Optional[str] = ..., fields: _Optional[_Iterable[_Union[IndexField, _Mapping]]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class RetentionLease(_message.Message):
    __slots__ = ("id", "retaining_seq_no", "source", "renew_time", "expire_time", "period")
    ID_FIELD_NUMBER: _ClassVar[int]
    RETAINING_SEQ_NO_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    RENEW_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    id: str
    retaining_seq_no: int
    source: str
    renew_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    period: _duration_pb2.Duration
    def __init__(self, id: _Optional[str] = ..., retaining_seq_no: _Optional[int] = ..., source: _Optional[str] = ..., renew_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., period: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ShardStats(_message.Message):
    __slots__ = ("shard", "doc_count", "max_seq_no", "global_checkpoint", "min_retained_seq_no", "retention_leases", "history_operations")
    SHARD_FIELD_NUMBER: _ClassVar[int]
    DOC_COUNT_FIELD_NUMBER: _ClassVar[int]
    MAX_SEQ_NO_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    MIN_RETAINED_SEQ_NO_FIELD_NUMBER: _ClassVar[int]
    RETENTION_LEASES_FIELD_NUMBER: _ClassVar[int]
    HISTORY_OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    shard: int
    doc_count: int
    max_seq_no: int
    global_checkpoint: int
    min_retained_seq_no: int
    retention_leases: _containers.RepeatedCompositeFieldContainer[RetentionLease]
    history_operations: int
    def __init__(self, shard: _Optional[int] = ..., doc_count: _Optional[int] = ..., max_seq_no: _Optional[int] = ..., global_checkpoint: _Optional[int] = ..., min_retained_seq_no: _Optional[int] = ..., retention_leases: _Optional[_Iterable[_Union[RetentionLease, _Mapping]]] = ..., history_operations: _Optional[int] = ...) -> None: ...

class IndexStatsRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class IndexStats(_message.Message):
    __slots__ = ("name", "shards", "doc_count", "fences")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    DOC_COUNT_FIELD_NUMBER: _ClassVar[int]
    FENCES_FIELD_NUMBER: _ClassVar[int]
    name: str
    shards: _containers.RepeatedCompositeFieldContainer[ShardStats]
    doc_count: int
    fences: _containers.RepeatedCompositeFieldContainer[_common_pb2.FencingToken]
    def __init__(self, name: _Optional[str] = ..., shards: _Optional[_Iterable[_Union[ShardStats, _Mapping]]] = ..., doc_count: _Optional[int] = ..., fences: _Optional[_Iterable[_Union[_common_pb2.FencingToken, _Mapping]]] = ...) -> None: ...

class Document(_message.Message):
    __slots__ = ("id", "source", "shard", "seq_no", "version")
    ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    SEQ_NO_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    source: _struct_pb2.Struct
    shard: int
    seq_no: int
    version: int
    def __init__(self, id: _Optional[str] = ..., source: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., shard: _Optional[int] = ..., seq_no: _Optional[int] = ..., version: _Optional[int] = ...) -> None: ...

class BulkOperation(_message.Message):
    __slots__ = ("type", "id", "source")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    type: BulkOperationType
    id: str
    source: _struct_pb2.Struct
    def __init__(self, type: _Optional[_Union[BulkOperationType, str]] = ..., id: _Optional[str] = ..., source: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class BulkRequest(_message.Message):
    __slots__ = ("index", "operations", "fencing_token")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    FENCING_TOKEN_FIELD_NUMBER: _ClassVar[int]
    index: str
    operations: _containers.RepeatedCompositeFieldContainer[BulkOperation]
    fencing_token: _common_pb2.FencingToken
    def __init__(self, index: _Optional[str] = ..., operations: _Optional[_Iterable[_Union[BulkOperation, _Mapping]]] = ..., fencing_token: _Optional[_Union[_common_pb2.FencingToken, _Mapping]] = ...) -> None: ...

class BulkItemResult(_message.Message):
    __slots__ = ("id", "shard", "seq_no", "version")
    ID_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    SEQ_NO_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    shard: int
    seq_no: int
    version: int
    def __init__(self, id: _Optional[str] = ..., shard: _Optional[int] = ..., seq_no: _Optional[int] = ..., version: _Optional[int] = ...) -> None: ...

class BulkResponse(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[BulkItemResult]
    def __init__(self, items: _Optional[_Iterable[_Union[BulkItemResult, _Mapping]]] = ...) -> None: ...

class GetDocumentRequest(_message.Message):
    __slots__ = ("index", "id")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    index: str
    id: str
    def __init__(self, index: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class MultiGetRequest(_message.Message):
    __slots__ = ("index", "ids")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    index: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, index: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ...) -> None: ...

class MultiGetItem(_message.Message):
    __slots__ = ("id", "found", "document")
    ID_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    id: str
    found: bool
    document: Document
    def __init__(self, id: _Optional[str] = ..., found: _Optional[bool] = ..., document: _Optional[_Union[Document, _Mapping]] = ...) -> None: ...

class MultiGetResponse(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[MultiGetItem]
    def __init__(self, items: _Optional[_Iterable[_Union[MultiGetItem, _Mapping]]] = ...) -> None: ...

class RangeCondition(_message.Message):
    __slots__ = ("gt", "gte", "lt", "lte")
    GT_FIELD_NUMBER: _ClassVar[int]
    GTE_FIELD_NUMBER: _ClassVar[int]
    LT_FIELD_NUMBER: _ClassVar[int]
    LTE_FIELD_NUMBER: _ClassVar[int]
    gt: _struct_pb2.Value
    gte: _struct_pb2.Value
    lt: _struct_pb2.Value
    lte: _struct_pb2.Value
    def __init__(self, gt: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., gte: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., lt: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., lte: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class Filter(_message.Message):
    __slots__ = ("field", "term", "prefix", "range", "exists", "negate")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    RANGE_FIELD_NUMBER: _ClassVar[int]
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    NEGATE_FIELD_NUMBER: _ClassVar[int]
    field: str
    term: _struct_pb2.Value
    prefix: str
    range: RangeCondition
    exists: bool
    negate: bool
    def __init__(self, field: _Optional[str] = ..., term: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., prefix: _Optional[str] = ..., range: _Optional[_Union[RangeCondition, _Mapping]] = ..., exists: _Optional[bool] = ..., negate: _Optional[bool] = ...) -> None: ...

class MatchQuery(_message.Message):
    __slots__ = ("query", "fields", "operator")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    query: str
    fields: _containers.RepeatedScalarFieldContainer[str]
    operator: MatchOperator
    def __init__(self, query: _Optional[str] = ..., fields: _Optional[_Iterable[str]] = ..., operator: _Optional[_Union[MatchOperator, str]] = ...) -> None: ...

class SortField(_message.Message):
    __slots__ = ("field", "order")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    field: str
    order: SortOrder
    def __init__(self, field: _Optional[str] = ..., order: _Optional[_Union[SortOrder, str]] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("index", "filters", "match", "sort", "page_size", "page_token")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    index: str
    filters: _containers.RepeatedCompositeFieldContainer[Filter]
    match: MatchQuery
    sort: _containers.RepeatedCompositeFieldContainer[SortField]
    page_size: int
    page_token: str
    def __init__(self, index: _Optional[str] = ..., filters: _Optional[_Iterable[_Union[Filter, _Mapping]]] = ..., match: _Optional[_Union[MatchQuery, _Mapping]] = ..., sort: _Optional[_Iterable[_Union[SortField, _Mapping]]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SearchHit(_message.Message):
    __slots__ = ("document", "score")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    document: Document
    score: float
    def __init__(self, document: _Optional[_Union[Document, _Mapping]] = ..., score: _Optional[float] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("hits", "next_page_token")
    HITS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[SearchHit]
    next_page_token: str
    def __init__(self, hits: _Optional[_Iterable[_Union[SearchHit, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CountRequest(_message.Message):
    __slots__ = ("index", "filters", "match")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    index: str
    filters: _containers.RepeatedCompositeFieldContainer[Filter]
    match: MatchQuery
    def __init__(self, index: _Optional[str] = ..., filters: _Optional[_Iterable[_Union[Filter, _Mapping]]] = ..., match: _Optional[_Union[MatchQuery, _Mapping]] = ...) -> None: ...

class CountResponse(_message.Message):
    __slots__ = ("count",)
    COUNT_FIELD_NUMBER: _ClassVar[int]
    count: int
    def __init__(self, count: _Optional[int] = ...) -> None: ...
