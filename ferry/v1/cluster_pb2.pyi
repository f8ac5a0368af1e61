from ferry.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SetMaintenanceRequest(_message.Message):
    __slots__ = ("enabled", "reason")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    reason: str
    def __init__(self, enabled: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class GetMaintenanceRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MaintenanceStatus(_message.Message):
    __slots__ = ("enabled", "reason", "running_tasks")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RUNNING_TASKS_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    reason: str
    running_tasks: int
    def __init__(self, enabled: _Optional[bool] = ..., reason: _Optional[str] = ..., running_tasks: _Optional[int] = ...) -> None: ...

class ClusterStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EtcdHealth(_message.Message):
    __slots__ = ("healthy", "endpoints", "version", "revision", "error")
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    healthy: bool
    endpoints: _containers.RepeatedScalarFieldContainer[str]
    version: str
    revision: int
    error: str
    def __init__(self, healthy: _Optional[bool] = ..., endpoints: _Optional[_Iterable[str]] = ..., version: _Optional[str] = ..., revision: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class ClusterStatus(_message.Message):
    __slots__ = ("leader", "leader_epoch", "coordinators", "agents", "replicators", "etcd", "answered_by", "read_only", "maintenance")
    LEADER_FIELD_NUMBER: _ClassVar[int]
    LEADER_EPOCH_FIELD_NUMBER: _ClassVar[int]
    COORDINATORS_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    REPLICATORS_FIELD_NUMBER: _ClassVar[int]
    ETCD_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_BY_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    MAINTENANCE_FIELD_NUMBER: _ClassVar[int]
    leader: _common_pb2.CoordinatorInfo
    leader_epoch: int
    coordinators: _containers.RepeatedCompositeFieldContainer[_common_pb2.CoordinatorInfo]
    agents: _containers.RepeatedCompositeFieldContainer[_common_pb2.AgentInfo]
    replicators: _containers.RepeatedCompositeFieldContainer[_common_pb2.ReplicatorInfo]
    etcd: EtcdHealth
    answered_by: str
    read_only: bool
    maintenance: bool
    def __init__(self, leader: _Optional[_Union[_common_pb2.CoordinatorInfo, _Mapping]] = ..., leader_epoch: _Optional[int] = ..., coordinators: _Optional[_Iterable[_Union[_common_pb2.CoordinatorInfo, _Mapping]]] = ..., agents: _Optional[_Iterable[_Union[_common_pb2.AgentInfo, _Mapping]]] = ..., replicators: _Optional[_Iterable[_Union[_common_pb2.ReplicatorInfo, _Mapping]]] = ..., etcd: _Optional[_Union[EtcdHealth, _Mapping]] = ..., answered_by: _Optional[str] = ..., read_only: _Optional[bool] = ..., maintenance: _Optional[bool] = ...) -> None: ...
