"""Config loading precedence, connector spec files, and the error vocabulary's statuses."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import code_pb2, error_details_pb2

from ferry import errors
from ferry.config import AgentConfig, CoordinatorConfig, ServiceConfig, load
from ferry.errors import InvalidArgument
from ferry.specs import load_specs, parse_specs, state_name
from ferry.v1 import connectors_pb2 as pb


def violation_fields(err: pytest.ExceptionInfo[InvalidArgument]) -> list[str]:
    return [v.field for v in err.value.violations]


# ferry.config


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "ferry.yaml"
    path.write_text("lease-ttl: 7\nlisten: 0.0.0.0:9000\nlog_level: debug\nid: from-file\n")
    return path


def test_defaults_without_any_source() -> None:
    config = load(CoordinatorConfig)
    assert config == CoordinatorConfig()
    assert config.listen == "127.0.0.1:50051"
    assert config.lease_ttl == 10.0
    assert config.read_only is False


def test_precedence_flags_env_file_default(config_file: Path) -> None:
    config = load(
        CoordinatorConfig,
        flags={"listen": "127.0.0.1:1111", "id": None},
        env={"FERRY_LISTEN": "127.0.0.1:2222", "FERRY_LEASE_TTL": "5", "FERRY_ID": ""},
        file=config_file,
    )
    assert config.listen == "127.0.0.1:1111"  # flag beats env and file
    assert config.lease_ttl == 5.0  # env beats file
    assert config.log_level == "debug"  # file beats default
    assert config.id == "from-file"  # None flag and empty env count as unset
    assert config.grace_period == 10.0  # default


def test_config_is_frozen() -> None:
    config = load(ServiceConfig)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lease_ttl = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("source", "field", "expected_source"),
    [
        ({"env": {"FERRY_LEASE_TTL": "soon"}}, "lease_ttl", "FERRY_LEASE_TTL"),
        (
            {"flags": {"max_concurrent_tasks": "4.5"}},
            "max_concurrent_tasks",
            "--max-concurrent-tasks",
        ),
        ({"env": {"FERRY_MAX_CONCURRENT_TASKS": "many"}}, "max_concurrent_tasks", "FERRY_MAX_"),
        ({"flags": {"lease_ttl": True}}, "lease_ttl", "--lease-ttl"),
        ({"env": {"FERRY_LABELS": "zone"}}, "labels", "FERRY_LABELS"),
        ({"env": {"FERRY_LABELS": "=x"}}, "labels", "FERRY_LABELS"),
    ],
)
def test_coercion_error_names_field_and_source(
    source: dict[str, dict[str, object]], field: str, expected_source: str
) -> None:
    with pytest.raises(InvalidArgument) as err:
        load(AgentConfig, **source)  # type: ignore[arg-type]
    assert violation_fields(err) == [field]
    assert expected_source in err.value.violations[0].description


def test_coercion_error_from_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("max_concurrent_tasks: 2.5\n")
    with pytest.raises(InvalidArgument) as err:
        load(AgentConfig, file=path)
    assert violation_fields(err) == ["max_concurrent_tasks"]
    assert str(path) in err.value.message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("YES", True), ("1", True), ("off", False), ("0", False), (True, True)],
)
def test_boolean_coercion(raw: object, expected: bool) -> None:
    assert load(CoordinatorConfig, flags={"read_only": raw}).read_only is expected


def test_boolean_coercion_rejects_other_words() -> None:
    with pytest.raises(InvalidArgument) as err:
        load(CoordinatorConfig, env={"FERRY_READ_ONLY": "maybe"})
    assert violation_fields(err) == ["read_only"]
    assert "FERRY_READ_ONLY" in err.value.message


def test_string_setting_rejects_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("listen: {host: x}\n")
    with pytest.raises(InvalidArgument) as err:
        load(ServiceConfig, file=path)
    assert violation_fields(err) == ["listen"]


def test_numbers_from_strings() -> None:
    config = load(AgentConfig, env={"FERRY_MAX_CONCURRENT_TASKS": "8", "FERRY_LEASE_TTL": "2.5"})
    assert config.max_concurrent_tasks == 8
    assert config.lease_ttl == 2.5


def test_unknown_key_in_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("lease_ttl: 5\nleese_ttl: 6\n")
    with pytest.raises(InvalidArgument) as err:
        load(ServiceConfig, file=path)
    assert violation_fields(err) == ["leese_ttl"]
    assert str(path) in err.value.message


def test_key_of_another_service_is_unknown(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("read_only: true\n")
    with pytest.raises(InvalidArgument) as err:
        load(AgentConfig, file=path)
    assert violation_fields(err) == ["read_only"]


@pytest.mark.parametrize("content", ["- a\n- b\n", "just a string\n", "a: [unclosed\n"])
def test_file_that_is_not_a_mapping_is_rejected(tmp_path: Path, content: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(content)
    with pytest.raises(InvalidArgument) as err:
        load(ServiceConfig, file=path)
    assert violation_fields(err) == ["config"]


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as err:
        load(ServiceConfig, file=tmp_path / "absent.yaml")
    assert violation_fields(err) == ["config"]
    assert "absent.yaml" in err.value.message


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("")
    assert load(ServiceConfig, file=path) == ServiceConfig()


def test_labels_from_env_flags_and_file(tmp_path: Path) -> None:
    from_env = load(AgentConfig, env={"FERRY_LABELS": " zone = eu-1 ,tier=fast,, empty="})
    assert from_env.labels == {"zone": "eu-1", "tier": "fast", "empty": ""}
    from_flag = load(AgentConfig, flags={"labels": "gpu=true"})
    assert from_flag.labels == {"gpu": "true"}
    path = tmp_path / "agent.yaml"
    path.write_text("labels:\n  zone: us-2\n  cores: 8\n")
    assert load(AgentConfig, file=path).labels == {"zone": "us-2", "cores": "8"}
    assert load(AgentConfig).labels == {}


def test_member_id() -> None:
    assert load(ServiceConfig, flags={"id": "agent-7"}).member_id("agent") == "agent-7"
    generated = load(ServiceConfig).member_id("agent")
    assert generated.startswith("agent-")
    assert generated != load(ServiceConfig).member_id("agent")


# ferry.specs

ONE = "name: one\ntype: generator\nindex: one\nconfig: {docs: 5}\n"


def names_of(text: str) -> list[str]:
    return [e.spec.name for e in parse_specs(text)]


def test_single_document() -> None:
    (entry,) = parse_specs(ONE)
    assert entry.spec.name == "one"
    assert entry.spec.type == "generator"
    assert json_format.MessageToDict(entry.spec.config) == {"docs": 5}
    assert entry.state == pb.CONNECTOR_STATE_RUNNING


def test_list_of_specs() -> None:
    text = "- {name: a, type: generator}\n- {name: b, type: generator, state: Paused}\n"
    entries = parse_specs(text)
    assert [e.spec.name for e in entries] == ["a", "b"]
    assert [e.state for e in entries] == [pb.CONNECTOR_STATE_RUNNING, pb.CONNECTOR_STATE_PAUSED]


def test_multi_document_yaml() -> None:
    text = "name: a\ntype: generator\n---\n- name: b\n- name: c\n---\n"
    assert names_of(text) == ["a", "b", "c"]


def test_connectors_mapping() -> None:
    text = "connectors:\n  - name: a\n    state: stopped\n  - name: b\n"
    entries = parse_specs(text)
    assert [e.spec.name for e in entries] == ["a", "b"]
    assert entries[0].state == pb.CONNECTOR_STATE_STOPPED


def test_empty_inputs() -> None:
    assert parse_specs("") == []
    assert parse_specs("connectors:\n") == []
    assert parse_specs("---\n---\n") == []


def test_json_is_yaml() -> None:
    assert names_of('[{"name": "a", "tasksMax": 3}, {"name": "b", "tasks_max": 2}]') == ["a", "b"]


def test_bad_state_names_the_entry() -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_specs("- name: a\n- name: b\n  state: sleeping\n")
    assert violation_fields(err) == ["connectors[1].state"]
    assert "running" in err.value.message


def test_duplicate_name_names_the_entry() -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_specs("- name: a\n- name: b\n- name: a\n", source="conns.yaml")
    assert violation_fields(err) == ["connectors[2].name"]
    assert "'a'" in err.value.message
    assert "conns.yaml" in err.value.message


def test_invalid_yaml() -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_specs("name: [unclosed\n", source="bad.yaml")
    assert violation_fields(err) == ["file"]
    assert "bad.yaml" in err.value.message


def test_unknown_field_names_the_entry() -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_specs("- name: a\n- name: b\n  colour: blue\n")
    assert violation_fields(err) == ["connectors[1]"]
    assert "colour" in err.value.message


def test_wrong_field_type_names_the_entry() -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_specs("- name: a\n  tasks_max: lots\n")
    assert violation_fields(err) == ["connectors[0]"]


def test_entry_that_is_not_a_mapping() -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_specs("- name: a\n- just-a-string\n")
    assert violation_fields(err) == ["connectors[1]"]


def test_load_specs_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(ONE)
    assert [e.spec.name for e in load_specs(path)] == ["one"]
    with pytest.raises(InvalidArgument) as err:
        load_specs(tmp_path / "absent.yaml")
    assert violation_fields(err) == ["file"]


def test_state_name() -> None:
    assert state_name(pb.CONNECTOR_STATE_PAUSED) == "paused"
    assert state_name(pb.CONNECTOR_STATE_UNSPECIFIED) == "unspecified"


# ferry.errors


def test_invalid_argument_status_carries_bad_request() -> None:
    err = InvalidArgument.fields(
        [
            errors.FieldViolation("spec.name", "is required"),
            errors.FieldViolation("spec.config.docs", "must be at least 0"),
        ]
    )
    status = err.to_status()

    assert status.code == code_pb2.INVALID_ARGUMENT
    assert "spec.name: is required" in status.message
    assert "spec.config.docs: must be at least 0" in status.message
    (detail,) = status.details
    bad = error_details_pb2.BadRequest()
    assert detail.Unpack(bad)
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("spec.name", "is required"),
        ("spec.config.docs", "must be at least 0"),
    ]
    assert not err.retriable


def test_invalid_argument_single_field() -> None:
    err = InvalidArgument.field("page_size", "must not be negative")
    assert err.message == "page_size: must not be negative"
    assert err.violations == (errors.FieldViolation("page_size", "must not be negative"),)


def test_not_found_status_carries_resource_info() -> None:
    status = errors.NotFound("connector", "orders").to_status()

    assert status.code == code_pb2.NOT_FOUND
    info = error_details_pb2.ResourceInfo()
    assert status.details[0].Unpack(info)
    assert (info.resource_type, info.resource_name) == ("connector", "orders")
    assert "not found" in info.description


def test_already_exists_status_carries_resource_info() -> None:
    status = errors.AlreadyExists("connector", "orders").to_status()
    assert status.code == code_pb2.ALREADY_EXISTS
    info = error_details_pb2.ResourceInfo()
    assert status.details[0].Unpack(info)
    assert info.resource_name == "orders"


def test_fenced_status_carries_precondition_failure() -> None:
    err = errors.Fenced("/ferry/claims/task/t1", "token 42")
    status = err.to_status()

    assert status.code == code_pb2.FAILED_PRECONDITION
    failure = error_details_pb2.PreconditionFailure()
    assert status.details[0].Unpack(failure)
    (violation,) = failure.violations
    assert (violation.type, violation.subject) == ("FENCED", "/ferry/claims/task/t1")
    assert "token 42" in violation.description
    assert isinstance(err, errors.FailedPrecondition)
    assert not err.retriable


def test_failed_precondition_status() -> None:
    status = errors.FailedPrecondition("must be stopped", subject="connector/a").to_status()
    failure = error_details_pb2.PreconditionFailure()
    assert status.details[0].Unpack(failure)
    assert (failure.violations[0].type, failure.violations[0].subject) == (
        "STATE",
        "connector/a",
    )


@pytest.mark.parametrize(
    ("err", "code", "retriable"),
    [
        (InvalidArgument("bad"), grpc.StatusCode.INVALID_ARGUMENT, False),
        (errors.NotFound("connector", "a"), grpc.StatusCode.NOT_FOUND, False),
        (errors.AlreadyExists("connector", "a"), grpc.StatusCode.ALREADY_EXISTS, False),
        (errors.FailedPrecondition("x"), grpc.StatusCode.FAILED_PRECONDITION, False),
        (errors.Fenced("k"), grpc.StatusCode.FAILED_PRECONDITION, False),
        (errors.Aborted("connector 'a'", 3, 5), grpc.StatusCode.ABORTED, True),
        (errors.PermissionDenied("read-only"), grpc.StatusCode.PERMISSION_DENIED, False),
        (errors.Unauthenticated("who"), grpc.StatusCode.UNAUTHENTICATED, False),
        (errors.Unavailable("etcd"), grpc.StatusCode.UNAVAILABLE, True),
        (errors.SessionLost("lease"), grpc.StatusCode.UNAVAILABLE, True),
        (errors.Unimplemented("replication"), grpc.StatusCode.UNIMPLEMENTED, False),
        (errors.FerryError("boom"), grpc.StatusCode.INTERNAL, False),
    ],
)
def test_codes_and_retriable(
    err: errors.FerryError, code: grpc.StatusCode, retriable: bool
) -> None:
    assert isinstance(err, errors.FerryError)
    assert err.code == code
    assert err.retriable is retriable
    assert err.to_status().code == code.value[0]


def test_aborted_names_both_revisions() -> None:
    err = errors.Aborted("connector 'a'", 3, 5)
    assert "expected revision 3" in err.message
    assert "revision is 5" in err.message
    failure = error_details_pb2.PreconditionFailure()
    assert err.to_status().details[0].Unpack(failure)
    assert failure.violations[0].type == "REVISION"


def test_unimplemented_names_the_capability() -> None:
    err = errors.Unimplemented("replication")
    assert err.capability == "replication"
    assert err.to_status().message == "replication is not implemented yet"
    assert list(err.to_status().details) == []
