import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AgentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGENT_STATE_UNSPECIFIED: _ClassVar[AgentState]
    AGENT_STATE_ACTIVE: _ClassVar[AgentState]
    AGENT_STATE_DRAINING: _ClassVar[AgentState]
    AGENT_STATE_DRAINED: _ClassVar[AgentState]
AGENT_STATE_UNSPECIFIED: AgentState
AGENT_STATE_ACTIVE: AgentState
AGENT_STATE_DRAINING: AgentState
AGENT_STATE_DRAINED: AgentState

class CoordinatorInfo(_message.Message):
    __slots__ = ("id", "address", "leader", "start_time", "version")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    address: str
    leader: bool
    start_time: _timestamp_pb2.Timestamp
    version: str
    def __init__(self, id: _Optional[str] = ..., address: _Optional[str] = ..., leader: _Optional[bool] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[str] = ...) -> None: ...

class AgentInfo(_message.Message):
    __slots__ = ("id", "address", "max_concurrent_tasks", "labels", "connector_types", "state", "running_tasks", "start_time", "version", "lease_id")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_TASKS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CONNECTOR_TYPES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RUNNING_TASKS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    address: str
    max_concurrent_tasks: int
    labels: _containers.ScalarMap[str, str]
    connector_types: _containers.RepeatedScalarFieldContainer[str]
    state: AgentState
    running_tasks: int
    start_time: _timestamp_pb2.Timestamp
    version: str
    lease_id: int
    def __init__(self, id: _Optional[str] = ..., address: _Optional[str] = ..., max_concurrent_tasks: _Optional[int] = ..., labels: _Optional[_Mapping[str, str]] = ..., connector_types: _Optional[_Iterable[str]] = ..., state: _Optional[_Union[AgentState, str]] = ..., running_tasks: _Optional[int] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[str] = ..., lease_id: _Optional[int] = ...) -> None: ...

class ReplicatorInfo(_message.Message):
    __slots__ = ("id", "address", "start_time", "version", "lease_id", "running_shard_tasks")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    RUNNING_SHARD_TASKS_FIELD_NUMBER: _ClassVar[int]
    id: str
    address: str
    start_time: _timestamp_pb2.Timestamp
    version: str
    lease_id: int
    running_shard_tasks: int
    def __init__(self, id: _Optional[str] = ..., address: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[str] = ..., lease_id: _Optional[int] = ..., running_shard_tasks: _Optional[int] = ...) -> None: ...

class FencingToken(_message.Message):
    __slots__ = ("scope", "token")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    scope: str
    token: int
    def __init__(self, scope: _Optional[str] = ..., token: _Optional[int] = ...) -> None: ...
