"""The ``ferry`` client commands against fake servicers on a real in-process gRPC server.

The fakes only record requests and return canned answers: these tests cover
argument parsing, rendering and error reporting. The real coordinator is
exercised by the integration and end-to-end tests.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2

from ferry.cli import output
from ferry.cli.client import CommandError, connection_security
from ferry.cli.main import build_parser, client_settings, default_coordinator
from ferry.errors import FieldViolation, InvalidArgument, NotFound, Unavailable
from ferry.security import ClientTls
from ferry.v1 import (
    agents_pb2_grpc,
    cluster_pb2,
    cluster_pb2_grpc,
    common_pb2,
    connectors_pb2_grpc,
)
from ferry.v1 import (
    connectors_pb2 as pb,
)
from tests.unit.fake_servers import FakeAgents, abort, rows, serving
from tests.unit.fake_servers import run_cli as run

TWO_CONNECTORS = """\
connectors:
  - name: orders
    type: generator
    index: orders
    tasks_max: 2
    config: {docs: 100}
  - name: users
    type: generator
    index: users
    state: paused
    config: {docs: 5}
"""


def _connector(
    name: str, state: pb.ConnectorState = pb.CONNECTOR_STATE_RUNNING, revision: int = 1
) -> pb.Connector:
    config = struct_pb2.Struct()
    config.update({"docs": 100})
    spec = pb.ConnectorSpec(name=name, type="generator", index=f"{name}-idx", tasks_max=2)
    spec.config.CopyFrom(config)
    return pb.Connector(spec=spec, state=state, revision=revision)


@dataclass
class FakeConnectors(connectors_pb2_grpc.ConnectorsServicer):
    """FakeConnectors stores connectors in a dict and serves List one connector per page."""

    stored: dict[str, pb.Connector] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def Create(
        self, request: pb.CreateConnectorRequest, context: grpc.ServicerContext
    ) -> pb.Connector:
        self.calls.append(("Create", request))
        if request.spec.name == "bad":
            abort(
                context,
                InvalidArgument.fields(
                    [
                        FieldViolation("spec.config.docs", "must be an integer"),
                        FieldViolation("spec.tasks_max", "must be at least 1"),
                    ]
                ),
            )
        state = request.initial_state or pb.CONNECTOR_STATE_RUNNING
        connector = pb.Connector(spec=request.spec, state=state, revision=len(self.calls) + 10)
        self.stored[request.spec.name] = connector
        return connector

    def Get(self, request: pb.GetConnectorRequest, context: grpc.ServicerContext) -> pb.Connector:
        if request.name not in self.stored:
            abort(context, NotFound("connector", request.name))
        return self.stored[request.name]

    def List(
        self, request: pb.ListConnectorsRequest, context: grpc.ServicerContext
    ) -> pb.ListConnectorsResponse:
        self.calls.append(("List", request))
        matching = [c for c in self.stored.values() if request.type in ("", c.spec.type)]
        start = int(request.page_token or 0)
        more = start + 1 < len(matching)
        return pb.ListConnectorsResponse(
            connectors=matching[start : start + 1], next_page_token=str(start + 1) if more else ""
        )

    def Update(
        self, request: pb.UpdateConnectorRequest, context: grpc.ServicerContext
    ) -> pb.Connector:
        self.calls.append(("Update", request))
        connector = pb.Connector(spec=request.spec, state=pb.CONNECTOR_STATE_RUNNING, revision=99)
        self.stored[request.spec.name] = connector
        return connector

    def Delete(
        self, request: pb.DeleteConnectorRequest, context: grpc.ServicerContext
    ) -> pb.DeleteConnectorResponse:
        self.calls.append(("Delete", request))
        self.stored.pop(request.name, None)
        return pb.DeleteConnectorResponse()

    def _set_state(
        self, name: str, state: pb.ConnectorState, context: grpc.ServicerContext
    ) -> pb.Connector:
        if name not in self.stored:
            abort(context, NotFound("connector", name))
        self.stored[name].state = state
        return self.stored[name]

    def Pause(
        self, request: pb.PauseConnectorRequest, context: grpc.ServicerContext
    ) -> pb.Connector:
        return self._set_state(request.name, pb.CONNECTOR_STATE_PAUSED, context)

    def Resume(
        self, request: pb.ResumeConnectorRequest, context: grpc.ServicerContext
    ) -> pb.Connector:
        return self._set_state(request.name, pb.CONNECTOR_STATE_RUNNING, context)

    def Stop(self, request: pb.StopConnectorRequest, context: grpc.ServicerContext) -> pb.Connector:
        return self._set_state(request.name, pb.CONNECTOR_STATE_STOPPED, context)

    def Restart(
        self, request: pb.RestartConnectorRequest, context: grpc.ServicerContext
    ) -> pb.RestartConnectorResponse:
        self.calls.append(("Restart", request))
        return pb.RestartConnectorResponse(restarted_task_ids=[f"{request.name}-0"])

    def Validate(
        self, request: pb.ValidateConnectorRequest, context: grpc.ServicerContext
    ) -> pb.ValidateConnectorResponse:
        self.calls.append(("Validate", request))
        if request.spec.index:
            return pb.ValidateConnectorResponse(valid=True)
        error = pb.FieldError(field="spec.index", description="is required")
        return pb.ValidateConnectorResponse(valid=False, errors=[error])

    def ListTypes(
        self, request: pb.ListConnectorTypesRequest, context: grpc.ServicerContext
    ) -> pb.ListConnectorTypesResponse:
        fields = [
            pb.ConfigField(name="docs", type=pb.FIELD_TYPE_INTEGER, required=True),
            pb.ConfigField(name="seed", type=pb.FIELD_TYPE_INTEGER),
        ]
        kind = pb.ConnectorType(
            name="generator", description="synthetic documents", fields=fields, incremental=True
        )
        return pb.ListConnectorTypesResponse(types=[kind])


@dataclass
class FakeCluster(cluster_pb2_grpc.ClusterServicer):
    """FakeCluster reports a two-coordinator cluster, or fails with UNAVAILABLE when told to."""

    etcd_down: bool = False

    def Status(
        self, request: cluster_pb2.ClusterStatusRequest, context: grpc.ServicerContext
    ) -> cluster_pb2.ClusterStatus:
        if self.etcd_down:
            abort(context, Unavailable("etcd is unavailable"))
        leader = common_pb2.CoordinatorInfo(id="coord-a", address="10.0.0.1:50051", leader=True)
        follower = common_pb2.CoordinatorInfo(id="coord-b", address="10.0.0.2:50051")
        return cluster_pb2.ClusterStatus(
            leader=leader,
            leader_epoch=42,
            coordinators=[leader, follower],
            agents=[common_pb2.AgentInfo(id="agent-a", address="10.0.0.1:7000")],
            replicators=[common_pb2.ReplicatorInfo(id="repl-a", running_shard_tasks=3)],
            etcd=cluster_pb2.EtcdHealth(
                healthy=True, endpoints=["127.0.0.1:2379"], version="3.5.1", revision=1234
            ),
            answered_by="coord-b",
        )


@dataclass
class Fakes:
    address: str
    connectors: FakeConnectors
    cluster: FakeCluster


@pytest.fixture(autouse=True)
def _no_coordinator_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FERRY_COORDINATOR", raising=False)


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    connectors, cluster = FakeConnectors(), FakeCluster()
    with serving(
        (connectors_pb2_grpc.add_ConnectorsServicer_to_server, connectors),
        (agents_pb2_grpc.add_AgentsServicer_to_server, FakeAgents()),
        (cluster_pb2_grpc.add_ClusterServicer_to_server, cluster),
    ) as address:
        yield Fakes(address, connectors, cluster)


@pytest.fixture
def dead_address() -> Iterator[str]:
    """dead_address is a port held by a socket that never listens, so connects are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def spec_file(tmp_path: Path, text: str = TWO_CONNECTORS) -> str:
    path = tmp_path / "connectors.yaml"
    path.write_text(text)
    return str(path)


# connectors


def test_create_from_file_creates_each_spec_with_its_initial_state(
    capsys: pytest.CaptureFixture[str], fakes: Fakes, tmp_path: Path
) -> None:
    code, out, err = run(
        capsys, "connectors", "create", "-f", spec_file(tmp_path), "--coordinator", fakes.address
    )

    assert (code, err) == (0, "")
    creates = [r for name, r in fakes.connectors.calls if name == "Create"]
    assert [(r.spec.name, r.initial_state) for r in creates] == [
        ("orders", pb.CONNECTOR_STATE_RUNNING),
        ("users", pb.CONNECTOR_STATE_PAUSED),
    ]
    first = creates[0].spec
    assert (first.type, first.index, first.tasks_max) == ("generator", "orders", 2)
    assert first.config["docs"] == 100
    assert out.splitlines() == [
        "orders created (state running, revision 11)",
        "users created (state paused, revision 12)",
    ]


def test_create_json_is_an_array_of_connectors(
    capsys: pytest.CaptureFixture[str], fakes: Fakes, tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys,
        "connectors",
        "create",
        "-f",
        spec_file(tmp_path),
        "--coordinator",
        fakes.address,
        "-o",
        "json",
    )

    assert code == 0
    created = json.loads(out)
    assert [c["spec"]["name"] for c in created] == ["orders", "users"]
    assert created[1]["state"] == "CONNECTOR_STATE_PAUSED"
    assert created[0]["spec"]["tasks_max"] == 2
    assert created[0]["revision"] == "11"  # int64 follows the proto3 JSON mapping


def test_invalid_argument_prints_each_field_violation(
    capsys: pytest.CaptureFixture[str], fakes: Fakes, tmp_path: Path
) -> None:
    path = spec_file(tmp_path, "name: bad\ntype: generator\nindex: bad\n")

    code, out, err = run(capsys, "connectors", "create", "-f", path, "--coordinator", fakes.address)

    assert code == 1
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == "error: bad: INVALID_ARGUMENT: 2 invalid fields:"
    assert lines[1:] == [
        "  spec.config.docs: must be an integer",
        "  spec.tasks_max: must be at least 1",
    ]


def test_create_goes_on_after_a_rejected_connector_and_fails(
    capsys: pytest.CaptureFixture[str], fakes: Fakes, tmp_path: Path
) -> None:
    path = spec_file(
        tmp_path,
        "- {name: bad, type: generator, index: x}\n- {name: ok, type: generator, index: y}\n",
    )

    code, out, err = run(capsys, "connectors", "create", "-f", path, "--coordinator", fakes.address)

    assert code == 1
    assert "INVALID_ARGUMENT" in err
    assert out.startswith("ok created")
    assert "ok" in fakes.connectors.stored


def test_dry_run_validates_instead_of_creating(
    capsys: pytest.CaptureFixture[str], fakes: Fakes, tmp_path: Path
) -> None:
    path = spec_file(
        tmp_path, "- {name: good, type: generator, index: g}\n- {name: noindex, type: generator}\n"
    )

    code, out, _ = run(
        capsys, "connectors", "create", "--dry-run", "-f", path, "--coordinator", fakes.address
    )

    assert code == 1
    assert [name for name, _ in fakes.connectors.calls] == ["Validate", "Validate"]
    assert out.splitlines() == ["good: valid", "noindex: invalid", "  spec.index: is required"]


def test_validate_json(capsys: pytest.CaptureFixture[str], fakes: Fakes, tmp_path: Path) -> None:
    path = spec_file(
        tmp_path, "- {name: good, type: generator, index: g}\n- {name: noindex, type: generator}\n"
    )

    code, out, _ = run(
        capsys, "connectors", "validate", "-f", path, "--coordinator", fakes.address, "-o", "json"
    )

    assert code == 1
    assert json.loads(out) == [
        {"name": "good", "valid": True, "errors": []},
        {
            "name": "noindex",
            "valid": False,
            "errors": [{"field": "spec.index", "description": "is required"}],
        },
    ]


def test_list_follows_pages_and_renders_a_table(
    capsys: pytest.CaptureFixture[str], fakes: Fakes
) -> None:
    fakes.connectors.stored = {
        "orders": _connector("orders", pb.CONNECTOR_STATE_PAUSED, revision=7),
        "users": _connector("users", revision=8),
    }

    code, out, _ = run(capsys, "connectors", "list", "--coordinator", fakes.address)

    assert code == 0
    assert rows(out) == [
        ["NAME", "TYPE", "INDEX", "STATE", "TASKS_MAX", "REVISION"],
        ["orders", "generator", "orders-idx", "paused", "2", "7"],
        ["users", "generator", "users-idx", "running", "2", "8"],
    ]
    tokens = [r.page_token for name, r in fakes.connectors.calls if name == "List"]
    assert tokens == ["", "1"]


def test_list_json_is_an_array_and_passes_the_type_filter(
    capsys: pytest.CaptureFixture[str], fakes: Fakes
) -> None:
    fakes.connectors.stored = {"orders": _connector("orders", pb.CONNECTOR_STATE_STOPPED)}

    code, out, _ = run(
        capsys,
        "connectors",
        "list",
        "--type",
        "generator",
        "-o",
        "json",
        "--coordinator",
        fakes.address,
    )

    assert code == 0
    listed = json.loads(out)
    assert [(c["spec"]["name"], c["state"]) for c in listed] == [
        ("orders", "CONNECTOR_STATE_STOPPED")
    ]
    assert listed[0]["spec"]["config"] == {"docs": 100}
    assert fakes.connectors.calls[0][1].type == "generator"


def test_get_shows_a_key_value_block_with_config_as_json(
    capsys: pytest.CaptureFixture[str], fakes: Fakes
) -> None:
    fakes.connectors.stored = {
        "orders": _connector("orders", pb.CONNECTOR_STATE_PAUSED, revision=7)
    }

    code, out, _ = run(capsys, "connectors", "get", "orders", "--coordinator", fakes.address)

    assert code == 0
    block = dict(line.split(":", 1) for line in out.splitlines())
    assert block["name"].strip() == "orders"
    assert block["state"].strip() == "paused"
    assert block["revision"].strip() == "7"
    assert json.loads(block["config"]) == {"docs": 100}


def test_get_json_is_one_connector(capsys: pytest.CaptureFixture[str], fakes: Fakes) -> None:
    fakes.connectors.stored = {"orders": _connector("orders")}

    code, out, _ = run(
        capsys, "connectors", "get", "orders", "-o", "json", "--coordinator", fakes.address
    )

    assert code == 0
    got = json.loads(out)
    assert got["spec"]["name"] == "orders"
    assert got["state"] == "CONNECTOR_STATE_RUNNING"


def test_get_missing_connector_reports_not_found(
    capsys: pytest.CaptureFixture[str], fakes: Fakes
) -> None:
    code, out, err = run(capsys, "connectors", "get", "nope", "--coordinator", fakes.address)

    assert (code, out) == (1, "")
    assert err.strip() == "error: NOT_FOUND: connector 'nope' not found"


def test_pause_resume_stop_show_the_new_state(
    capsys: pytest.CaptureFixture[str], fakes: Fakes
) -> None:
    fakes.connectors.stored = {"orders": _connector("orders", revision=7)}

    for verb, state in (("pause", "paused"), ("stop", "stopped"), ("resume", "running")):
        code, out, _ = run(capsys, "connectors", verb, "orders", "--coordinator", fakes.address)
        assert code == 0
        assert f"(state {state}, revision 7)" in out

    code, out, _ = run(
        capsys, "connectors", "pause", "orders", "-o", "json", "--coordinator", fakes.address
    )
    assert json.loads(out)["state"] == "CONNECTOR_STATE_PAUSED"


def test_delete_passes_the_expected_revision(
    capsys: pytest.CaptureFixture[str], fakes: Fakes
) -> None:
    fakes.connectors.stored = {"orders": _connector("orders")}

    code, out, _ = run(
        capsys, "connectors", "delete", "orders", "--revision", "7", "--coordinator", fakes.address
    )

    assert (code, out) == (0, "orders deleted\n")
    request = fakes.connectors.calls[-1][1]
    assert (request.name, request.expected_revision) == ("orders", 7)


def test_update_sends_each_spec_with_the_revision(
    capsys: pytest.CaptureFixture[str], fakes: Fakes, tmp_path: Path
) -> None:
    path = spec_file(tmp_path, "name: orders\ntype: generator\nindex: orders\ntasks_max: 3\n")

    code, out, _ = run(
        capsys,
        "connectors",
        "update",
        "-f",
        path,
        "--revision",
        "7",
        "--coordinator",
        fakes.address,
    )

    assert code == 0
    request = fakes.connectors.calls[-1][1]
    assert (request.spec.tasks_max, request.expected_revision) == (3, 7)
    assert out == "orders updated (state running, revision 99)\n"


def test_update_refuses_a_revision_for_several_connectors(
    capsys: pytest.CaptureFixture[str], fakes: Fakes, tmp_path: Path
) -> None:
    code, _, err = run(
        capsys,
        "connectors",
        "update",
        "-f",
        spec_file(tmp_path),
        "--revision",
        "7",
        "--coordinator",
        fakes.address,
    )

    assert code == 2
    assert "--revision needs one connector" in err
    assert fakes.connectors.calls == []


def test_restart(capsys: pytest.CaptureFixture[str], fakes: Fakes) -> None:
    code, out, _ = run(
        capsys, "connectors", "restart", "orders", "--only-failed", "--coordinator", fakes.address
    )

    assert (code, out) == (0, "orders: restarted 1 task(s): orders-0\n")
    assert fakes.connectors.calls[-1][1].only_failed


def test_types_table_and_json(capsys: pytest.CaptureFixture[str], fakes: Fakes) -> None:
    code, out, _ = run(capsys, "connectors", "types", "--coordinator", fakes.address)

    assert code == 0
    header, row = out.splitlines()
    assert header.split() == ["TYPE", "INCREMENTAL", "FIELDS", "DESCRIPTION"]
    assert row.split(None, 2) == ["generator", "yes", "docs*, seed   synthetic documents"]

    code, out, _ = run(capsys, "connectors", "types", "-o", "json", "--coordinator", fakes.address)
    (kind,) = json.loads(out)
    assert kind["name"] == "generator"
    assert [f["name"] for f in kind["fields"]] == ["docs", "seed"]


# agents and cluster


def test_agents_list_table(capsys: pytest.CaptureFixture[str], fakes: Fakes) -> None:
    code, out, _ = run(capsys, "agents", "list", "--coordinator", fakes.address)

    assert code == 0
    assert rows(out) == [
        ["ID", "ADDRESS", "STATE", "CAPACITY", "RUNNING", "LABELS", "TYPES"],
        ["agent-a", "10.0.0.1:7000", "active", "4", "3", "disk=ssd,zone=a", "generator,postgres"],
        ["agent-b", "10.0.0.2:7000", "draining", "2", "0", "-", "-"],
    ]


def test_agents_list_json(capsys: pytest.CaptureFixture[str], fakes: Fakes) -> None:
    code, out, _ = run(capsys, "agents", "list", "-o", "json", "--coordinator", fakes.address)

    assert code == 0
    agents = json.loads(out)
    assert [a["id"] for a in agents] == ["agent-a", "agent-b"]
    assert agents[0]["labels"] == {"zone": "a", "disk": "ssd"}
    assert agents[0]["max_concurrent_tasks"] == 4
    assert agents[1]["state"] == "AGENT_STATE_DRAINING"


def test_cluster_status_table_marks_the_leader(
    capsys: pytest.CaptureFixture[str], fakes: Fakes
) -> None:
    code, out, _ = run(capsys, "cluster", "status", "--coordinator", fakes.address)

    assert code == 0
    assert "leader:       coord-a (10.0.0.1:50051), epoch 42" in out
    assert "healthy, version 3.5.1, revision 1234, endpoints 127.0.0.1:2379" in out
    table = rows(out.split("COORDINATORS (2)\n")[1].split("\n\n")[0])
    assert table[1][:3] == ["coord-a", "10.0.0.1:50051", "*"]
    assert table[2][:3] == ["coord-b", "10.0.0.2:50051", "-"]
    assert "AGENTS (1)" in out
    assert "REPLICATORS (1)" in out


def test_cluster_status_json(capsys: pytest.CaptureFixture[str], fakes: Fakes) -> None:
    code, out, _ = run(capsys, "cluster", "status", "-o", "json", "--coordinator", fakes.address)

    assert code == 0
    status = json.loads(out)
    assert status["leader"]["id"] == "coord-a"
    assert status["leader_epoch"] == "42"
    assert [c["id"] for c in status["coordinators"]] == ["coord-a", "coord-b"]
    assert status["etcd"]["healthy"] is True


def test_unavailable_from_a_reachable_coordinator_is_not_unreachable(
    capsys: pytest.CaptureFixture[str], fakes: Fakes
) -> None:
    fakes.cluster.etcd_down = True

    code, _, err = run(capsys, "cluster", "status", "--coordinator", fakes.address)

    assert code == 1
    assert err.strip() == "error: UNAVAILABLE: etcd is unavailable"


# addresses, connection and usage errors


def test_coordinator_address_comes_from_the_environment(
    capsys: pytest.CaptureFixture[str], fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FERRY_COORDINATOR", fakes.address)

    code, out, _ = run(capsys, "agents", "list")

    assert code == 0
    assert "agent-a" in out


def test_coordinator_flag_wins_over_the_environment(
    capsys: pytest.CaptureFixture[str],
    fakes: Fakes,
    monkeypatch: pytest.MonkeyPatch,
    dead_address: str,
) -> None:
    monkeypatch.setenv("FERRY_COORDINATOR", dead_address)

    code, out, _ = run(capsys, "agents", "list", "--coordinator", fakes.address, "--timeout", "2")

    assert code == 0
    assert "agent-a" in out


def test_default_coordinator() -> None:
    assert default_coordinator({}) == "127.0.0.1:50051"
    assert default_coordinator({"FERRY_COORDINATOR": "  "}) == "127.0.0.1:50051"
    assert default_coordinator({"FERRY_COORDINATOR": "coord:1"}) == "coord:1"


def test_client_settings_come_from_flags_else_ferry_variables() -> None:
    env = {
        "FERRY_COORDINATOR": "coord:1",
        "FERRY_AUTH_TOKEN": " env-token ",
        "FERRY_TLS_CA_FILE": "/env/ca.pem",
        "FERRY_TLS_CERT_FILE": "/env/me.pem",
        "FERRY_TLS_KEY_FILE": "/env/me-key.pem",
    }
    args = build_parser().parse_args(["agents", "list", "--tls-ca-file", "/flag/ca.pem"])
    client_settings(args, env)
    assert args.coordinator == "coord:1"
    assert args.auth_token == "env-token"
    assert connection_security(args) == (
        ClientTls("/flag/ca.pem", "/env/me.pem", "/env/me-key.pem"),
        "env-token",
    )

    plain = build_parser().parse_args(["agents", "list", "--coordinator", "c:2"])
    client_settings(plain, {"FERRY_AUTH_TOKEN": "t"})
    assert plain.coordinator == "c:2"
    assert connection_security(plain) == (None, "t")  # the token is read even with a flag

    for value, tls in (("1", True), ("yes", True), ("0", False), ("", False)):
        wanted = build_parser().parse_args(["agents", "list"])
        client_settings(wanted, {"FERRY_USE_TLS": value})
        assert (connection_security(wanted)[0] == ClientTls()) is tls, value

    half = build_parser().parse_args(["agents", "list"])
    client_settings(half, {"FERRY_TLS_CERT_FILE": "/env/me.pem"})
    with pytest.raises(CommandError, match="go together"):
        connection_security(half)


def test_unreachable_coordinator_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], dead_address: str
) -> None:
    code, out, err = run(
        capsys, "connectors", "list", "--coordinator", dead_address, "--timeout", "2"
    )

    assert (code, out) == (1, "")
    assert len(err.splitlines()) == 1
    assert err.startswith(f"error: cannot reach coordinator at {dead_address}: ")


def test_silent_coordinator_fails_at_the_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # accepts TCP connections but never speaks HTTP/2
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        address = f"127.0.0.1:{sock.getsockname()[1]}"

        code, _, err = run(capsys, "agents", "list", "--coordinator", address, "--timeout", "0.3")

    assert code == 1
    assert (
        err
        == f"error: cannot reach coordinator at {address}: no connection within 0.3s (--timeout)\n"
    )


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["connectors"],
        ["connectors", "create"],
        ["connectors", "list", "--timeout", "0"],
        ["connectors", "list", "-o", "yaml"],
        ["nonsense"],
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = run(capsys, *argv)

    assert code == 2
    assert out == ""
    assert "usage: ferry" in err


def test_unreadable_or_malformed_spec_file_exits_2(
    capsys: pytest.CaptureFixture[str], fakes: Fakes, tmp_path: Path
) -> None:
    missing = str(tmp_path / "missing.yaml")
    code, _, err = run(
        capsys, "connectors", "create", "-f", missing, "--coordinator", fakes.address
    )
    assert code == 2
    assert "cannot read" in err

    bad_state = spec_file(tmp_path, "name: x\ntype: generator\nstate: sleeping\n")
    code, _, err = run(
        capsys, "connectors", "create", "-f", bad_state, "--coordinator", fakes.address
    )
    assert code == 2
    assert "connectors[0].state" in err
    assert fakes.connectors.calls == []


def test_help_documents_the_json_shapes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")

    assert code == 0
    assert "a JSON array of messages" in out
    assert "FERRY_COORDINATOR" in out


# rendering helpers


def test_enum_label_is_short_and_lower_case() -> None:
    assert output.enum_label(pb.ConnectorState, pb.CONNECTOR_STATE_PAUSED) == "paused"
    assert output.enum_label(common_pb2.AgentState, common_pb2.AGENT_STATE_DRAINED) == "drained"
    assert output.enum_label(pb.FieldType, pb.FIELD_TYPE_BOOLEAN) == "boolean"
    assert output.enum_label(pb.ConnectorState, 77) == "77"


def test_table_aligns_columns_and_fills_empty_cells() -> None:
    assert output.table(["a", "bb"], [("xxx", ""), ("y", "z")]).splitlines() == [
        "A     BB",
        "xxx   -",
        "y     z",
    ]
