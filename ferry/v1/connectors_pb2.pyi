import datetime

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

class ConnectorState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONNECTOR_STATE_UNSPECIFIED: _ClassVar[ConnectorState]
    CONNECTOR_STATE_RUNNING: _ClassVar[ConnectorState]
    CONNECTOR_STATE_PAUSED: _ClassVar[ConnectorState]
    CONNECTOR_STATE_STOPPED: _ClassVar[ConnectorState]

class Isolation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ISOLATION_UNSPECIFIED: _ClassVar[Isolation]
    ISOLATION_NONE: _ClassVar[Isolation]
    ISOLATION_PROCESS: _ClassVar[Isolation]

class RuleOperator(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RULE_OPERATOR_UNSPECIFIED: _ClassVar[RuleOperator]
    RULE_OPERATOR_EQUALS: _ClassVar[RuleOperator]
    RULE_OPERATOR_CONTAINS: _ClassVar[RuleOperator]
    RULE_OPERATOR_STARTS_WITH: _ClassVar[RuleOperator]
    RULE_OPERATOR_ENDS_WITH: _ClassVar[RuleOperator]
    RULE_OPERATOR_REGEX: _ClassVar[RuleOperator]
    RULE_OPERATOR_GREATER_THAN: _ClassVar[RuleOperator]
    RULE_OPERATOR_LESS_THAN: _ClassVar[RuleOperator]

class RulePolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RULE_POLICY_UNSPECIFIED: _ClassVar[RulePolicy]
    RULE_POLICY_INCLUDE: _ClassVar[RulePolicy]
    RULE_POLICY_EXCLUDE: _ClassVar[RulePolicy]

class FieldType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FIELD_TYPE_UNSPECIFIED: _ClassVar[FieldType]
    FIELD_TYPE_STRING: _ClassVar[FieldType]
    FIELD_TYPE_INTEGER: _ClassVar[FieldType]
    FIELD_TYPE_NUMBER: _ClassVar[FieldType]
    FIELD_TYPE_BOOLEAN: _ClassVar[FieldType]
    FIELD_TYPE_LIST: _ClassVar[FieldType]
    FIELD_TYPE_OBJECT: _ClassVar[FieldType]
CONNECTOR_STATE_UNSPECIFIED: ConnectorState
CONNECTOR_STATE_RUNNING: ConnectorState
CONNECTOR_STATE_PAUSED: ConnectorState
CONNECTOR_STATE_STOPPED: ConnectorState
ISOLATION_UNSPECIFIED: Isolation
ISOLATION_NONE: Isolation
ISOLATION_PROCESS: Isolation
RULE_OPERATOR_UNSPECIFIED: RuleOperator
RULE_OPERATOR_EQUALS: RuleOperator
RULE_OPERATOR_CONTAINS: RuleOperator
RULE_OPERATOR_STARTS_WITH: RuleOperator
RULE_OPERATOR_ENDS_WITH: RuleOperator
RULE_OPERATOR_REGEX: RuleOperator
RULE_OPERATOR_GREATER_THAN: RuleOperator
RULE_OPERATOR_LESS_THAN: RuleOperator
RULE_POLICY_UNSPECIFIED: RulePolicy
RULE_POLICY_INCLUDE: RulePolicy
RULE_POLICY_EXCLUDE: RulePolicy
FIELD_TYPE_UNSPECIFIED: FieldType
FIELD_TYPE_STRING: FieldType
FIELD_TYPE_INTEGER: FieldType
FIELD_TYPE_NUMBER: FieldType
FIELD_TYPE_BOOLEAN: FieldType
FIELD_TYPE_LIST: FieldType
FIELD_TYPE_OBJECT: FieldType

class Schedule(_message.Message):
    __slots__ = ("full", "incremental")
    FULL_FIELD_NUMBER: _ClassVar[int]
    INCREMENTAL_FIELD_NUMBER: _ClassVar[int]
    full: str
    incremental: str
    def __init__(self, full: _Optional[str] = ..., incremental: _Optional[str] = ...) -> None: ...

class BasicRule(_message.Message):
    __slots__ = ("field", "operator", "value", "policy")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    field: str
    operator: RuleOperator
    value: str
    policy: RulePolicy
    def __init__(self, field: _Optional[str] = ..., operator: _Optional[_Union[RuleOperator, str]] = ..., value: _Optional[str] = ..., policy: _Optional[_Union[RulePolicy, str]] = ...) -> None: ...

class SyncRules(_message.Message):
    __slots__ = ("basic", "advanced")
    BASIC_FIELD_NUMBER: _ClassVar[int]
    ADVANCED_FIELD_NUMBER: _ClassVar[int]
    basic: _containers.RepeatedCompositeFieldContainer[BasicRule]
    advanced: _struct_pb2.Struct
    def __init__(self, basic: _Optional[_Iterable[_Union[BasicRule, _Mapping]]] = ..., advanced: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ErrorPolicy(_message.Message):
    __slots__ = ("max_retries", "initial_backoff", "max_backoff", "max_error_rate", "fail_on_document_error")
    MAX_RETRIES_FIELD_NUMBER: _ClassVar[int]
    INITIAL_BACKOFF_FIELD_NUMBER: _ClassVar[int]
    MAX_BACKOFF_FIELD_NUMBER: _ClassVar[int]
    MAX_ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    FAIL_ON_DOCUMENT_ERROR_FIELD_NUMBER: _ClassVar[int]
    max_retries: int
    initial_backoff: _duration_pb2.Duration
    max_backoff: _duration_pb2.Duration
    max_error_rate: float
    fail_on_document_error: bool
    def __init__(self, max_retries: _Optional[int] = ..., initial_backoff: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_backoff: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_error_rate: _Optional[float] = ..., fail_on_document_error: _Optional[bool] = ...) -> None: ...

class ConnectorSpec(_message.Message):
    __slots__ = ("name", "type", "index", "config", "tasks_max", "agent_selector", "schedule", "rules", "error_policy", "isolation", "memory_limit_bytes")
    class AgentSelectorEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    TASKS_MAX_FIELD_NUMBER: _ClassVar[int]
    AGENT_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    ERROR_POLICY_FIELD_NUMBER: _ClassVar[int]
    ISOLATION_FIELD_NUMBER: _ClassVar[int]
    MEMORY_LIMIT_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    index: str
    config: _struct_pb2.Struct
    tasks_max: int
    agent_selector: _containers.ScalarMap[str, str]
    schedule: Schedule
    rules: SyncRules
    error_policy: ErrorPolicy
    isolation: Isolation
    memory_limit_bytes: int
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., index: _Optional[str] = ..., config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., tasks_max: _Optional[int] = ..., agent_selector: _Optional[_Mapping[str, str]] = ..., schedule: _Optional[_Union[Schedule, _Mapping]] = ..., rules: _Optional[_Union[SyncRules, _Mapping]] = ..., error_policy: _Optional[_Union[ErrorPolicy, _Mapping]] = ..., isolation: _Optional[_Union[Isolation, str]] = ..., memory_limit_bytes: _Optional[int] = ...) -> None: ...

class Connector(_message.Message):
    __slots__ = ("spec", "state", "revision", "create_time", "update_time")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    spec: ConnectorSpec
    state: ConnectorState
    revision: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, spec: _Optional[_Union[ConnectorSpec, _Mapping]] = ..., state: _Optional[_Union[ConnectorState, str]] = ..., revision: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateConnectorRequest(_message.Message):
    __slots__ = ("spec", "initial_state")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    INITIAL_STATE_FIELD_NUMBER: _ClassVar[int]
    spec: ConnectorSpec
    initial_state: ConnectorState
    def __init__(self, spec: _Optional[_Union[ConnectorSpec, _Mapping]] = ..., initial_state: _Optional[_Union[ConnectorState, str]] = ...) -> None: ...

class GetConnectorRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListConnectorsRequest(_message.Message):
    __slots__ = ("type", "page_size", "page_token")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    type: str
    page_size: int
    page_token: str
    def __init__(self, type: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListConnectorsResponse(_message.Message):
    __slots__ = ("connectors", "next_page_token")
    CONNECTORS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    connectors: _containers.RepeatedCompositeFieldContainer[Connector]
    next_page_token: str
    def __init__(self, connectors: _Optional[_Iterable[_Union[Connector, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateConnectorRequest(_message.Message):
    __slots__ = ("spec", "expected_revision")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_REVISION_FIELD_NUMBER: _ClassVar[int]
    spec: ConnectorSpec
    expected_revision: int
    def __init__(self, spec: _Optional[_Union[ConnectorSpec, _Mapping]] = ..., expected_revision: _Optional[int] = ...) -> None: ...

class DeleteConnectorRequest(_message.Message):
    __slots__ = ("name", "expected_revision")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_REVISION_FIELD_NUMBER: _ClassVar[int]
    name: str
    expected_revision: int
    def __init__(self, name: _Optional[str] = ..., expected_revision: _Optional[int] = ...) -> None: ...

class DeleteConnectorResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PauseConnectorRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ResumeConnectorRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class StopConnectorRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RestartConnectorRequest(_message.Message):
    __slots__ = ("name", "only_failed")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ONLY_FAILED_FIELD_NUMBER: _ClassVar[int]
    name: str
    only_failed: bool
    def __init__(self, name: _Optional[str] = ..., only_failed: _Optional[bool] = ...) -> None: ...

class RestartConnectorResponse(_message.Message):
    __slots__ = ("restarted_task_ids",)
    RESTARTED_TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    restarted_task_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, restarted_task_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ValidateConnectorRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: ConnectorSpec
    def __init__(self, spec: _Optional[_Union[ConnectorSpec, _Mapping]] = ...) -> None: ...

class FieldError(_message.Message):
    __slots__ = ("field", "description")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    field: str
    description: str
    def __init__(self, field: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class ValidateConnectorResponse(_message.Message):
    __slots__ = ("valid", "errors")
    VALID_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    errors: _containers.RepeatedCompositeFieldContainer[FieldError]
    def __init__(self, valid: _Optional[bool] = ..., errors: _Optional[_Iterable[_Union[FieldError, _Mapping]]] = ...) -> None: ...

class ConfigField(_message.Message):
    __slots__ = ("name", "type", "required", "default", "description", "secret", "choices")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: FieldType
    required: bool
    default: _struct_pb2.Value
    description: str
    secret: bool
    choices: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[FieldType, str]] = ..., required: _Optional[bool] = ..., default: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., description: _Optional[str] = ..., secret: _Optional[bool] = ..., choices: _Optional[_Iterable[str]] = ...) -> None: ...

class ConnectorType(_message.Message):
    __slots__ = ("name", "description", "fields", "incremental", "advanced_rules")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    INCREMENTAL_FIELD_NUMBER: _ClassVar[int]
    ADVANCED_RULES_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    fields: _containers.RepeatedCompositeFieldContainer[ConfigField]
    incremental: bool
    advanced_rules: bool
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., fields: _Optional[_Iterable[_Union[ConfigField, _Mapping]]] = ..., incremental: _Optional[bool] = ..., advanced_rules: _Optional[bool] = ...) -> None: ...

class ListConnectorTypesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListConnectorTypesResponse(_message.Message):
    __slots__ = ("types",)
    TYPES_FIELD_NUMBER: _ClassVar[int]
    types: _containers.RepeatedCompositeFieldContainer[ConnectorType]
    def __init__(self, types: _Optional[_Iterable[_Union[ConnectorType, _Mapping]]] = ...) -> None: ...

class TaskOffset(_message.Message):
    __slots__ = ("partition", "cursor", "update_time")
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    partition: str
    cursor: _struct_pb2.Struct
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, partition: _Optional[str] = ..., cursor: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ConnectorOffsets(_message.Message):
    __slots__ = ("name", "offsets")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OFFSETS_FIELD_NUMBER: _ClassVar[int]
    name: str
    offsets: _containers.RepeatedCompositeFieldContainer[TaskOffset]
    def __init__(self, name: _Optional[str] = ..., offsets: _Optional[_Iterable[_Union[TaskOffset, _Mapping]]] = ...) -> None: ...

class GetOffsetsRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class AlterOffsetsRequest(_message.Message):
    __slots__ = ("name", "offsets")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OFFSETS_FIELD_NUMBER: _ClassVar[int]
    name: str
    offsets: _containers.RepeatedCompositeFieldContainer[TaskOffset]
    def __init__(self, name: _Optional[str] = ..., offsets: _Optional[_Iterable[_Union[TaskOffset, _Mapping]]] = ...) -> None: ...

class ResetOffsetsRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...
