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

class JobKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_KIND_UNSPECIFIED: _ClassVar[JobKind]
    JOB_KIND_FULL: _ClassVar[JobKind]
    JOB_KIND_INCREMENTAL: _ClassVar[JobKind]

class JobTrigger(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_TRIGGER_UNSPECIFIED: _ClassVar[JobTrigger]
    JOB_TRIGGER_SCHEDULED: _ClassVar[JobTrigger]
    JOB_TRIGGER_ON_DEMAND: _ClassVar[JobTrigger]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_PENDING: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_COMPLETED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELING: _ClassVar[JobState]
    JOB_STATE_CANCELED: _ClassVar[JobState]
    JOB_STATE_SUSPENDED: _ClassVar[JobState]

class TaskState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_STATE_UNSPECIFIED: _ClassVar[TaskState]
    TASK_STATE_PENDING: _ClassVar[TaskState]
    TASK_STATE_ASSIGNED: _ClassVar[TaskState]
    TASK_STATE_RUNNING: _ClassVar[TaskState]
    TASK_STATE_COMPLETED: _ClassVar[TaskState]
    TASK_STATE_FAILED: _ClassVar[TaskState]
    TASK_STATE_CANCELED: _ClassVar[TaskState]
    TASK_STATE_SUSPENDED: _ClassVar[TaskState]
JOB_KIND_UNSPECIFIED: JobKind
JOB_KIND_FULL: JobKind
JOB_KIND_INCREMENTAL: JobKind
JOB_TRIGGER_UNSPECIFIED: JobTrigger
JOB_TRIGGER_SCHEDULED: JobTrigger
JOB_TRIGGER_ON_DEMAND: JobTrigger
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_PENDING: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_COMPLETED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELING: JobState
JOB_STATE_CANCELED: JobState
JOB_STATE_SUSPENDED: JobState
TASK_STATE_UNSPECIFIED: TaskState
TASK_STATE_PENDING: TaskState
TASK_STATE_ASSIGNED: TaskState
TASK_STATE_RUNNING: TaskState
TASK_STATE_COMPLETED: TaskState
TASK_STATE_FAILED: TaskState
TASK_STATE_CANCELED: TaskState
TASK_STATE_SUSPENDED: TaskState

class SyncCounters(_message.Message):
    __slots__ = ("docs_seen", "docs_indexed", "docs_deleted", "docs_failed", "bytes_indexed", "docs_per_second", "bytes_per_second", "docs_total_estimate")
    DOCS_SEEN_FIELD_NUMBER: _ClassVar[int]
    DOCS_INDEXED_FIELD_NUMBER: _ClassVar[int]
    DOCS_DELETED_FIELD_NUMBER: _ClassVar[int]
    DOCS_FAILED_FIELD_NUMBER: _ClassVar[int]
    BYTES_INDEXED_FIELD_NUMBER: _ClassVar[int]
    DOCS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    BYTES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    DOCS_TOTAL_ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    docs_seen: int
    docs_indexed: int
    docs_deleted: int
    docs_failed: int
    bytes_indexed: int
    docs_per_second: float
    bytes_per_second: float
    docs_total_estimate: int
    def __init__(self, docs_seen: _Optional[int] = ..., docs_indexed: _Optional[int] = ..., docs_deleted: _Optional[int] = ..., docs_failed: _Optional[int] = ..., bytes_indexed: _Optional[int] = ..., docs_per_second: _Optional[float] = ..., bytes_per_second: _Optional[float] = ..., docs_total_estimate: _Optional[int] = ...) -> None: ...

class DocumentError(_message.Message):
    __slots__ = ("doc_id", "message", "time")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    message: str
    time: _timestamp_pb2.Timestamp
    def __init__(self, doc_id: _Optional[str] = ..., message: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ("id", "job_id", "partition", "agent_id", "state", "fencing_token", "counters", "error", "claims", "start_time", "end_time", "checkpoint_time", "recent_document_errors", "cursor", "sweep", "params")
    ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FENCING_TOKEN_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CLAIMS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_TIME_FIELD_NUMBER: _ClassVar[int]
    RECENT_DOCUMENT_ERRORS_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    SWEEP_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    id: str
    job_id: str
    partition: str
    agent_id: str
    state: TaskState
    fencing_token: _common_pb2.FencingToken
    counters: SyncCounters
    error: str
    claims: int
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    checkpoint_time: _timestamp_pb2.Timestamp
    recent_document_errors: _containers.RepeatedCompositeFieldContainer[DocumentError]
    cursor: _struct_pb2.Struct
    sweep: bool
    params: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., job_id: _Optional[str] = ..., partition: _Optional[str] = ..., agent_id: _Optional[str] = ..., state: _Optional[_Union[TaskState, str]] = ..., fencing_token: _Optional[_Union[_common_pb2.FencingToken, _Mapping]] = ..., counters: _Optional[_Union[SyncCounters, _Mapping]] = ..., error: _Optional[str] = ..., claims: _Optional[int] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., checkpoint_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., recent_document_errors: _Optional[_Iterable[_Union[DocumentError, _Mapping]]] = ..., cursor: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., sweep: _Optional[bool] = ..., params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "connector", "index", "kind", "trigger", "state", "tasks", "counters", "create_time", "start_time", "end_time", "update_time", "scheduled_time", "error", "traceparent", "tracestate", "generation", "connector_revision", "revision", "request_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    CONNECTOR_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_TIME_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TRACEPARENT_FIELD_NUMBER: _ClassVar[int]
    TRACESTATE_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    CONNECTOR_REVISION_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    connector: str
    index: str
    kind: JobKind
    trigger: JobTrigger
    state: JobState
    tasks: _containers.RepeatedCompositeFieldContainer[Task]
    counters: SyncCounters
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    scheduled_time: _timestamp_pb2.Timestamp
    error: str
    traceparent: str
    tracestate: str
    generation: int
    connector_revision: int
    revision: int
    request_id: str
    def __init__(self, id: _Optional[str] = ..., connector: _Optional[str] = ..., index: _Optional[str] = ..., kind: _Optional[_Union[JobKind, str]] = ..., trigger: _Optional[_Union[JobTrigger, str]] = ..., state: _Optional[_Union[JobState, str]] = ..., tasks: _Optional[_Iterable[_Union[Task, _Mapping]]] = ..., counters: _Optional[_Union[SyncCounters, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., scheduled_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., error: _Optional[str] = ..., traceparent: _Optional[str] = ..., tracestate: _Optional[str] = ..., generation: _Optional[int] = ..., connector_revision: _Optional[int] = ..., revision: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class StartJobRequest(_message.Message):
    __slots__ = ("connector", "kind", "request_id")
    CONNECTOR_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    connector: str
    kind: JobKind
    request_id: str
    def __init__(self, connector: _Optional[str] = ..., kind: _Optional[_Union[JobKind, str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("connector", "index", "states", "kind", "page_size", "page_token")
    CONNECTOR_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    connector: str
    index: str
    states: _containers.RepeatedScalarFieldContainer[JobState]
    kind: JobKind
    page_size: int
    page_token: str
    def __init__(self, connector: _Optional[str] = ..., index: _Optional[str] = ..., states: _Optional[_Iterable[_Union[JobState, str]]] = ..., kind: _Optional[_Union[JobKind, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("id", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("id", "interval")
    ID_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    id: str
    interval: _duration_pb2.Duration
    def __init__(self, id: _Optional[str] = ..., interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class TaskProgress(_message.Message):
    __slots__ = ("task_id", "partition", "agent_id", "state", "counters", "error")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    partition: str
    agent_id: str
    state: TaskState
    counters: SyncCounters
    error: str
    def __init__(self, task_id: _Optional[str] = ..., partition: _Optional[str] = ..., agent_id: _Optional[str] = ..., state: _Optional[_Union[TaskState, str]] = ..., counters: _Optional[_Union[SyncCounters, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...

class JobProgress(_message.Message):
    __slots__ = ("job_id", "state", "counters", "tasks", "time", "error")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: JobState
    counters: SyncCounters
    tasks: _containers.RepeatedCompositeFieldContainer[TaskProgress]
    time: _timestamp_pb2.Timestamp
    error: str
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., counters: _Optional[_Union[SyncCounters, _Mapping]] = ..., tasks: _Optional[_Iterable[_Union[TaskProgress, _Mapping]]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...
