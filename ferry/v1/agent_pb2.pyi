from ferry.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AgentStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TaskRun(_message.Message):
    __slots__ = ("task_id", "job_id", "connector", "fencing_token", "docs_indexed")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    CONNECTOR_FIELD_NUMBER: _ClassVar[int]
    FENCING_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DOCS_INDEXED_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    job_id: str
    connector: str
    fencing_token: _common_pb2.FencingToken
    docs_indexed: int
    def __init__(self, task_id: _Optional[str] = ..., job_id: _Optional[str] = ..., connector: _Optional[str] = ..., fencing_token: _Optional[_Union[_common_pb2.FencingToken, _Mapping]] = ..., docs_indexed: _Optional[int] = ...) -> None: ...

class AgentStatus(_message.Message):
    __slots__ = ("info", "session_alive", "tasks")
    INFO_FIELD_NUMBER: _ClassVar[int]
    SESSION_ALIVE_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    info: _common_pb2.AgentInfo
    session_alive: bool
    tasks: _containers.RepeatedCompositeFieldContainer[TaskRun]
    def __init__(self, info: _Optional[_Union[_common_pb2.AgentInfo, _Mapping]] = ..., session_alive: _Optional[bool] = ..., tasks: _Optional[_Iterable[_Union[TaskRun, _Mapping]]] = ...) -> None: ...

class AgentDrainRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
