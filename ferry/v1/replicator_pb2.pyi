from ferry.v1 import common_pb2 as _common_pb2
from ferry.v1 import replication_pb2 as _replication_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReplicatorStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ShardTaskRun(_message.Message):
    __slots__ = ("follower_index", "shard", "fencing_token", "follower_global_checkpoint")
    FOLLOWER_INDEX_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    FENCING_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FOLLOWER_GLOBAL_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    follower_index: str
    shard: int
    fencing_token: _common_pb2.FencingToken
    follower_global_checkpoint: int
    def __init__(self, follower_index: _Optional[str] = ..., shard: _Optional[int] = ..., fencing_token: _Optional[_Union[_common_pb2.FencingToken, _Mapping]] = ..., follower_global_checkpoint: _Optional[int] = ...) -> None: ...

class ReplicatorStatus(_message.Message):
    __slots__ = ("info", "session_alive", "shard_tasks")
    INFO_FIELD_NUMBER: _ClassVar[int]
    SESSION_ALIVE_FIELD_NUMBER: _ClassVar[int]
    SHARD_TASKS_FIELD_NUMBER: _ClassVar[int]
    info: _common_pb2.ReplicatorInfo
    session_alive: bool
    shard_tasks: _containers.RepeatedCompositeFieldContainer[ShardTaskRun]
    def __init__(self, info: _Optional[_Union[_common_pb2.ReplicatorInfo, _Mapping]] = ..., session_alive: _Optional[bool] = ..., shard_tasks: _Optional[_Iterable[_Union[ShardTaskRun, _Mapping]]] = ...) -> None: ...

class ShardStatsRequest(_message.Message):
    __slots__ = ("follower_indices",)
    FOLLOWER_INDICES_FIELD_NUMBER: _ClassVar[int]
    follower_indices: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, follower_indices: _Optional[_Iterable[str]] = ...) -> None: ...

class ShardStatsResponse(_message.Message):
    __slots__ = ("shards",)
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    shards: _containers.RepeatedCompositeFieldContainer[_replication_pb2.ShardFollowStats]
    def __init__(self, shards: _Optional[_Iterable[_Union[_replication_pb2.ShardFollowStats, _Mapping]]] = ...) -> None: ...
