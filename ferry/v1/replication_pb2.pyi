import datetime

from ferry.v1 import common_pb2 as _common_pb2
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

class FollowerStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FOLLOWER_STATUS_UNSPECIFIED: _ClassVar[FollowerStatus]
    FOLLOWER_STATUS_ACTIVE: _ClassVar[FollowerStatus]
    FOLLOWER_STATUS_PAUSED: _ClassVar[FollowerStatus]

class ShardFollowState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SHARD_FOLLOW_STATE_UNSPECIFIED: _ClassVar[ShardFollowState]
    SHARD_FOLLOW_STATE_UNASSIGNED: _ClassVar[ShardFollowState]
    SHARD_FOLLOW_STATE_BOOTSTRAPPING: _ClassVar[ShardFollowState]
    SHARD_FOLLOW_STATE_FOLLOWING: _ClassVar[ShardFollowState]
    SHARD_FOLLOW_STATE_PAUSED: _ClassVar[ShardFollowState]
FOLLOWER_STATUS_UNSPECIFIED: FollowerStatus
FOLLOWER_STATUS_ACTIVE: FollowerStatus
FOLLOWER_STATUS_PAUSED: FollowerStatus
SHARD_FOLLOW_STATE_UNSPECIFIED: ShardFollowState
SHARD_FOLLOW_STATE_UNASSIGNED: ShardFollowState
SHARD_FOLLOW_STATE_BOOTSTRAPPING: ShardFollowState
SHARD_FOLLOW_STATE_FOLLOWING: ShardFollowState
SHARD_FOLLOW_STATE_PAUSED: ShardFollowState

class RemoteCluster(_message.Message):
    __slots__ = ("name", "addresses", "tls", "token", "connected", "error")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    name: str
    addresses: _containers.RepeatedScalarFieldContainer[str]
    tls: bool
    token: str
    connected: bool
    error: str
    def __init__(self, name: _Optional[str] = ..., addresses: _Optional[_Iterable[str]] = ..., tls: _Optional[bool] = ..., token: _Optional[str] = ..., connected: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class FollowParameters(_message.Message):
    __slots__ = ("max_read_request_operation_count", "max_outstanding_read_requests", "max_read_request_size", "max_write_request_operation_count", "max_write_request_size", "max_outstanding_write_requests", "max_write_buffer_count", "max_write_buffer_size", "max_retry_delay", "read_poll_timeout")
    MAX_READ_REQUEST_OPERATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTSTANDING_READ_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    MAX_READ_REQUEST_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_WRITE_REQUEST_OPERATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    MAX_WRITE_REQUEST_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTSTANDING_WRITE_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    MAX_WRITE_BUFFER_COUNT_FIELD_NUMBER: _ClassVar[int]
    MAX_WRITE_BUFFER_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_RETRY_DELAY_FIELD_NUMBER: _ClassVar[int]
    READ_POLL_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    max_read_request_operation_count: int
    max_outstanding_read_requests: int
    max_read_request_size: int
    max_write_request_operation_count: int
    max_write_request_size: int
    max_outstanding_write_requests: int
    max_write_buffer_count: int
    max_write_buffer_size: int
    max_retry_delay: _duration_pb2.Duration
    read_poll_timeout: _duration_pb2.Duration
    def __init__(self, max_read_request_operation_count: _Optional[int] = ..., max_outstanding_read_requests: _Optional[int] = ..., max_read_request_size: _Optional[int] = ..., max_write_request_operation_count: _Optional[int] = ..., max_write_request_size: _Optional[int] = ..., max_outstanding_write_requests: _Optional[int] = ..., max_write_buffer_count: _Optional[int] = ..., max_write_buffer_size: _Optional[int] = ..., max_retry_delay: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., read_poll_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class Follower(_message.Message):
    __slots__ = ("follower_index", "remote_cluster", "leader_index", "parameters", "status", "auto_follow_pattern", "create_time", "revision")
    FOLLOWER_INDEX_FIELD_NUMBER: _ClassVar[int]
    REMOTE_CLUSTER_FIELD_NUMBER: _ClassVar[int]
    LEADER_INDEX_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AUTO_FOLLOW_PATTERN_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    follower_index: str
    remote_cluster: str
    leader_index: str
    parameters: FollowParameters
    status: FollowerStatus
    auto_follow_pattern: str
    create_time: _timestamp_pb2.Timestamp
    revision: int
    def __init__(self, follower_index: _Optional[str] = ..., remote_cluster: _Optional[str] = ..., leader_index: _Optional[str] = ..., parameters: _Optional[_Union[FollowParameters, _Mapping]] = ..., status: _Optional[_Union[FollowerStatus, str]] = ..., auto_follow_pattern: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class FollowRequest(_message.Message):
    __slots__ = ("follower_index", "remote_cluster", "leader_index", "parameters")
    FOLLOWER_INDEX_FIELD_NUMBER: _ClassVar[int]
    REMOTE_CLUSTER_FIELD_NUMBER: _ClassVar[int]
    LEADER_INDEX_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    follower_index: str
    remote_cluster: str
    leader_index: str
    parameters: FollowParameters
    def __init__(self, follower_index: _Optional[str] = ..., remote_cluster: _Optional[str] = ..., leader_index: _Optional[str] = ..., parameters: _Optional[_Union[FollowParameters, _Mapping]] = ...) -> None: ...

class PauseFollowerRequest(_message.Message):
    __slots__ = ("follower_index",)
    FOLLOWER_INDEX_FIELD_NUMBER: _ClassVar[int]
    follower_index: str
    def __init__(self, follower_index: _Optional[str] = ...) -> None: ...

class ResumeFollowerRequest(_message.Message):
    __slots__ = ("follower_index", "parameters")
    FOLLOWER_INDEX_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    follower_index: str
    parameters: FollowParameters
    def __init__(self, follower_index: _Optional[str] = ..., parameters: _Optional[_Union[FollowParameters, _Mapping]] = ...) -> None: ...

class UnfollowRequest(_message.Message):
    __slots__ = ("follower_index",)
    FOLLOWER_INDEX_FIELD_NUMBER: _ClassVar[int]
    follower_index: str
    def __init__(self, follower_index: _Optional[str] = ...) -> None: ...

class ListFollowersRequest(_message.Message):
    __slots__ = ("remote_cluster",)
    REMOTE_CLUSTER_FIELD_NUMBER: _ClassVar[int]
    remote_cluster: str
    def __init__(self, remote_cluster: _Optional[str] = ...) -> None: ...

class ListFollowersResponse(_message.Message):
    __slots__ = ("followers",)
    FOLLOWERS_FIELD_NUMBER: _ClassVar[int]
    followers: _containers.RepeatedCompositeFieldContainer[Follower]
    def __init__(self, followers: _Optional[_Iterable[_Union[Follower, _Mapping]]] = ...) -> None: ...

class ReadException(_message.Message):
    __slots__ = ("from_seq_no", "retries", "exception")
    FROM_SEQ_NO_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    EXCEPTION_FIELD_NUMBER: _ClassVar[int]
    from_seq_no: int
    retries: int
    exception: str
    def __init__(self, from_seq_no: _Optional[int] = ..., retries: _Optional[int] = ..., exception: _Optional[str] = ...) -> None: ...

class ShardFollowStats(_message.Message):
    __slots__ = ("remote_cluster", "leader_index", "follower_index", "shard", "state", "leader_global_checkpoint", "leader_max_seq_no", "follower_global_checkpoint", "follower_max_seq_no", "last_requested_seq_no", "outstanding_read_requests", "outstanding_write_requests", "write_buffer_operation_count", "write_buffer_size_in_bytes", "outstanding_credit_operations", "outstanding_credit_bytes", "follower_schema_version", "total_read_time_millis", "total_read_remote_exec_time_millis", "successful_read_requests", "failed_read_requests", "operations_read", "bytes_read", "total_write_time_millis", "successful_write_requests", "failed_write_requests", "operations_written", "read_exceptions", "time_since_last_read_millis", "fatal_exception", "lag_operations", "lag_millis", "bootstraps", "last_bootstrap_time", "last_bootstrap_reason", "replicator_id", "fencing_token")
    REMOTE_CLUSTER_FIELD_NUMBER: _ClassVar[int]
    LEADER_INDEX_FIELD_NUMBER: _ClassVar[int]
    FOLLOWER_INDEX_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LEADER_GLOBAL_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    LEADER_MAX_SEQ_NO_FIELD_NUMBER: _ClassVar[int]
    FOLLOWER_GLOBAL_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    FOLLOWER_MAX_SEQ_NO_FIELD_NUMBER: _ClassVar[int]
    LAST_REQUESTED_SEQ_NO_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_READ_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_WRITE_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    WRITE_BUFFER_OPERATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    WRITE_BUFFER_SIZE_IN_BYTES_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_CREDIT_OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_CREDIT_BYTES_FIELD_NUMBER: _ClassVar[int]
    FOLLOWER_SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    TOTAL_READ_TIME_MILLIS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_READ_REMOTE_EXEC_TIME_MILLIS_FIELD_NUMBER: _ClassVar[int]
    SUCCESSFUL_READ_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    FAILED_READ_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_READ_FIELD_NUMBER: _ClassVar[int]
    BYTES_READ_FIELD_NUMBER: _ClassVar[int]
    TOTAL_WRITE_TIME_MILLIS_FIELD_NUMBER: _ClassVar[int]
    SUCCESSFUL_WRITE_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    FAILED_WRITE_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    READ_EXCEPTIONS_FIELD_NUMBER: _ClassVar[int]
    TIME_SINCE_LAST_READ_MILLIS_FIELD_NUMBER: _ClassVar[int]
    FATAL_EXCEPTION_FIELD_NUMBER: _ClassVar[int]
    LAG_OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    LAG_MILLIS_FIELD_NUMBER: _ClassVar[int]
    BOOTSTRAPS_FIELD_NUMBER: _ClassVar[int]
    LAST_BOOTSTRAP_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_BOOTSTRAP_REASON_FIELD_NUMBER: _ClassVar[int]
    REPLICATOR_ID_FIELD_NUMBER: _ClassVar[int]
    FENCING_TOKEN_FIELD_NUMBER: _ClassVar[int]
    remote_cluster: str
    leader_index: str
    follower_index: str
    shard: int
    state: ShardFollowState
    leader_global_checkpoint: int
    leader_max_seq_no: int
    follower_global_checkpoint: int
    follower_max_seq_no: int
    last_requested_seq_no: int
    outstanding_read_requests: int
    outstanding_write_requests: int
    write_buffer_operation_count: int
    write_buffer_size_in_bytes: int
    outstanding_credit_operations: int
    outstanding_credit_bytes: int
    follower_schema_version: int
    total_read_time_millis: int
    total_read_remote_exec_time_millis: int
    successful_read_requests: int
    failed_read_requests: int
    operations_read: int
    bytes_read: int
    total_write_time_millis: int
    successful_write_requests: int
    failed_write_requests: int
    operations_written: int
    read_exceptions: _containers.RepeatedCompositeFieldContainer[ReadException]
    time_since_last_read_millis: int
    fatal_exception: str
    lag_operations: int
    lag_millis: int
    bootstraps: int
    last_bootstrap_time: _timestamp_pb2.Timestamp
    last_bootstrap_reason: str
    replicator_id: str
    fencing_token: _common_pb2.FencingToken
    def __init__(self, remote_cluster: _Optional[str] = ..., leader_index: _Optional[str] = ..., follower_index: _Optional[str] = ..., shard: _Optional[int] = ..., state: _Optional[_Union[ShardFollowState, str]] = ..., leader_global_checkpoint: _Optional[int] = ..., leader_max_seq_no: _Optional[int] = ..., follower_global_checkpoint: _Optional[int] = ..., follower_max_seq_no: _Optional[int] = ..., last_requested_seq_no: _Optional[int] = ..., outstanding_read_requests: _Optional[int] = ..., outstanding_write_requests: _Optional[int] = ..., write_buffer_operation_count: _Optional[int] = ..., write_buffer_size_in_bytes: _Optional[int] = ..., outstanding_credit_operations: _Optional[int] = ..., outstanding_credit_bytes: _Optional[int] = ..., follower_schema_version: _Optional[int] = ..., total_read_time_millis: _Optional[int] = ..., total_read_remote_exec_time_millis: _Optional[int] = ..., successful_read_requests: _Optional[int] = ..., failed_read_requests: _Optional[int] = ..., operations_read: _Optional[int] = ..., bytes_read: _Optional[int] = ..., total_write_time_millis: _Optional[int] = ..., successful_write_requests: _Optional[int] = ..., failed_write_requests: _Optional[int] = ..., operations_written: _Optional[int] = ..., read_exceptions: _Optional[_Iterable[_Union[ReadException, _Mapping]]] = ..., time_since_last_read_millis: _Optional[int] = ..., fatal_exception: _Optional[str] = ..., lag_operations: _Optional[int] = ..., lag_millis: _Optional[int] = ..., bootstraps: _Optional[int] = ..., last_bootstrap_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_bootstrap_reason: _Optional[str] = ..., replicator_id: _Optional[str] = ..., fencing_token: _Optional[_Union[_common_pb2.FencingToken, _Mapping]] = ...) -> None: ...

class FollowerStats(_message.Message):
    __slots__ = ("follower_index", "remote_cluster", "leader_index", "status", "shards")
    FOLLOWER_INDEX_FIELD_NUMBER: _ClassVar[int]
    REMOTE_CLUSTER_FIELD_NUMBER: _ClassVar[int]
    LEADER_INDEX_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    follower_index: str
    remote_cluster: str
    leader_index: str
    status: FollowerStatus
    shards: _containers.RepeatedCompositeFieldContainer[ShardFollowStats]
    def __init__(self, follower_index: _Optional[str] = ..., remote_cluster: _Optional[str] = ..., leader_index: _Optional[str] = ..., status: _Optional[_Union[FollowerStatus, str]] = ..., shards: _Optional[_Iterable[_Union[ShardFollowStats, _Mapping]]] = ...) -> None: ...

class AutoFollowError(_message.Message):
    __slots__ = ("auto_follow_pattern", "leader_index", "error", "time")
    AUTO_FOLLOW_PATTERN_FIELD_NUMBER: _ClassVar[int]
    LEADER_INDEX_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    auto_follow_pattern: str
    leader_index: str
    error: str
    time: _timestamp_pb2.Timestamp
    def __init__(self, auto_follow_pattern: _Optional[str] = ..., leader_index: _Optional[str] = ..., error: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AutoFollowStats(_message.Message):
    __slots__ = ("number_of_successful_follow_indices", "number_of_failed_follow_indices", "number_of_failed_remote_cluster_state_requests", "recent_auto_follow_errors")
    NUMBER_OF_SUCCESSFUL_FOLLOW_INDICES_FIELD_NUMBER: _ClassVar[int]
    NUMBER_OF_FAILED_FOLLOW_INDICES_FIELD_NUMBER: _ClassVar[int]
    NUMBER_OF_FAILED_REMOTE_CLUSTER_STATE_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    RECENT_AUTO_FOLLOW_ERRORS_FIELD_NUMBER: _ClassVar[int]
    number_of_successful_follow_indices: int
    number_of_failed_follow_indices: int
    number_of_failed_remote_cluster_state_requests: int
    recent_auto_follow_errors: _containers.RepeatedCompositeFieldContainer[AutoFollowError]
    def __init__(self, number_of_successful_follow_indices: _Optional[int] = ..., number_of_failed_follow_indices: _Optional[int] = ..., number_of_failed_remote_cluster_state_requests: _Optional[int] = ..., recent_auto_follow_errors: _Optional[_Iterable[_Union[AutoFollowError, _Mapping]]] = ...) -> None: ...

class FollowStatsRequest(_message.Message):
    __slots__ = ("follower_indices",)
    FOLLOWER_INDICES_FIELD_NUMBER: _ClassVar[int]
    follower_indices: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, follower_indices: _Optional[_Iterable[str]] = ...) -> None: ...

class FollowStatsResponse(_message.Message):
    __slots__ = ("followers", "auto_follow")
    FOLLOWERS_FIELD_NUMBER: _ClassVar[int]
    AUTO_FOLLOW_FIELD_NUMBER: _ClassVar[int]
    followers: _containers.RepeatedCompositeFieldContainer[FollowerStats]
    auto_follow: AutoFollowStats
    def __init__(self, followers: _Optional[_Iterable[_Union[FollowerStats, _Mapping]]] = ..., auto_follow: _Optional[_Union[AutoFollowStats, _Mapping]] = ...) -> None: ...

class AutoFollowPattern(_message.Message):
    __slots__ = ("name", "remote_cluster", "leader_index_patterns", "leader_index_exclusion_patterns", "follower_index_template", "parameters", "paused", "follow_existing", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REMOTE_CLUSTER_FIELD_NUMBER: _ClassVar[int]
    LEADER_INDEX_PATTERNS_FIELD_NUMBER: _ClassVar[int]
    LEADER_INDEX_EXCLUSION_PATTERNS_FIELD_NUMBER: _ClassVar[int]
    FOLLOWER_INDEX_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_EXISTING_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    remote_cluster: str
    leader_index_patterns: _containers.RepeatedScalarFieldContainer[str]
    leader_index_exclusion_patterns: _containers.RepeatedScalarFieldContainer[str]
    follower_index_template: str
    parameters: FollowParameters
    paused: bool
    follow_existing: bool
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., remote_cluster: _Optional[str] = ..., leader_index_patterns: _Optional[_Iterable[str]] = ..., leader_index_exclusion_patterns: _Optional[_Iterable[str]] = ..., follower_index_template: _Optional[str] = ..., parameters: _Optional[_Union[FollowParameters, _Mapping]] = ..., paused: _Optional[bool] = ..., follow_existing: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PutAutoFollowPatternRequest(_message.Message):
    __slots__ = ("pattern",)
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    pattern: AutoFollowPattern
    def __init__(self, pattern: _Optional[_Union[AutoFollowPattern, _Mapping]] = ...) -> None: ...

class DeleteAutoFollowPatternRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteAutoFollowPatternResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAutoFollowPatternsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAutoFollowPatternsResponse(_message.Message):
    __slots__ = ("patterns",)
    PATTERNS_FIELD_NUMBER: _ClassVar[int]
    patterns: _containers.RepeatedCompositeFieldContainer[AutoFollowPattern]
    def __init__(self, patterns: _Optional[_Iterable[_Union[AutoFollowPattern, _Mapping]]] = ...) -> None: ...

class PutRemoteClusterRequest(_message.Message):
    __slots__ = ("remote_cluster",)
    REMOTE_CLUSTER_FIELD_NUMBER: _ClassVar[int]
    remote_cluster: RemoteCluster
    def __init__(self, remote_cluster: _Optional[_Union[RemoteCluster, _Mapping]] = ...) -> None: ...

class DeleteRemoteClusterRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteRemoteClusterResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListRemoteClustersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListRemoteClustersResponse(_message.Message):
    __slots__ = ("remote_clusters",)
    REMOTE_CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    remote_clusters: _containers.RepeatedCompositeFieldContainer[RemoteCluster]
    def __init__(self, remote_clusters: _Optional[_Iterable[_Union[RemoteCluster, _Mapping]]] = ...) -> None: ...
