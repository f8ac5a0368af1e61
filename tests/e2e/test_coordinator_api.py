"""The coordinator as a real process, driven by the real grpcurl binary and a gRPC client."""

from __future__ import annotations

import json
import signal
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ferry.etcd import EmbeddedEtcd
from ferry.v1 import cluster_pb2, cluster_pb2_grpc, connectors_pb2_grpc
from ferry.v1 import connectors_pb2 as pb
from tests.helpers import ServiceProcess, wait_until


def prefix() -> str:
    return f"/e2e-{uuid.uuid4().hex[:8]}"


def run_grpcurl(
    grpcurl: str, *args: str, data: str | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = [grpcurl, "-plaintext"]
    if data is not None:
        cmd += ["-d", data]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def coordinator(
    etcd_server: EmbeddedEtcd, services: Callable[..., ServiceProcess]
) -> ServiceProcess:
    return services(
        "coordinator", etcd_server.endpoint, args=["--etcd-prefix", prefix()]
    ).wait_serving()


def test_grpcurl_lists_every_service_with_reflection(
    grpcurl: str, coordinator: ServiceProcess
) -> None:
    listed = run_grpcurl(grpcurl, coordinator.address, "list")
    assert listed.returncode == 0, listed.stderr
    names = set(listed.stdout.split())
    for service in ("Connectors", "Jobs", "Agents", "Indices", "Replication", "Cluster"):
        assert f"ferry.v1.{service}" in names
    assert "grpc.health.v1.Health" in names
    assert "grpc.reflection.v1alpha.ServerReflection" in names

    described = run_grpcurl(grpcurl, coordinator.address, "describe", "ferry.v1.ConnectorSpec")
    assert described.returncode == 0, described.stderr
    assert "tasks_max" in described.stdout and "agent_selector" in described.stdout

    health = run_grpcurl(grpcurl, coordinator.address, "grpc.health.v1.Health/Check")
    assert json.loads(health.stdout)["status"] == "SERVING"


def test_grpcurl_creates_and_reads_a_connector(grpcurl: str, coordinator: ServiceProcess) -> None:
    spec = {"name": "pg-orders", "type": "generator", "index": "orders", "tasksMax": 2,
            "config": {"docs": 500, "seed": 7}}  # fmt: skip
    created = run_grpcurl(
        grpcurl, coordinator.address, "ferry.v1.Connectors/Create", data=json.dumps({"spec": spec})
    )
    assert created.returncode == 0, created.stderr
    body = json.loads(created.stdout)
    assert body["spec"]["name"] == "pg-orders"
    assert body["state"] == "CONNECTOR_STATE_RUNNING"
    assert int(body["revision"]) > 0

    got = run_grpcurl(
        grpcurl, coordinator.address, "ferry.v1.Connectors/Get", data='{"name": "pg-orders"}'
    )
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["spec"]["config"] == {"docs": 500, "seed": 7}

    bad = run_grpcurl(
        grpcurl, coordinator.address, "ferry.v1.Connectors/Create",
        data=json.dumps({"spec": {**spec, "name": "other", "config": {"docs": -5}}}),
    )  # fmt: skip
    assert bad.returncode != 0
    assert "InvalidArgument" in bad.stderr and "spec.config.docs" in bad.stderr


def test_bad_config_names_the_field_in_bad_request_details(coordinator: ServiceProcess) -> None:
    config = struct_pb2.Struct()
    config.update({"docs": "many", "colour": "red"})
    spec = pb.ConnectorSpec(name="Bad_Name", type="generator", index="x", config=config)
    with grpc.insecure_channel(coordinator.address) as channel:
        stub = connectors_pb2_grpc.ConnectorsStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.Create(pb.CreateConnectorRequest(spec=spec), timeout=5)
        call = raised.value
        assert call.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        status = rpc_status.from_call(call)  # type: ignore[arg-type]
        assert status is not None
        bad_request = error_details_pb2.BadRequest()
        assert status.details[0].Unpack(bad_request)
        fields = {v.field for v in bad_request.field_violations}
        assert fields == {"spec.name", "spec.config.docs", "spec.config.colour"}
        # Nothing was stored.
        listed = stub.List(pb.ListConnectorsRequest(), timeout=5)
        assert [c.spec.name for c in listed.connectors] == []


def test_stale_revision_is_aborted(coordinator: ServiceProcess) -> None:
    spec = pb.ConnectorSpec(name="demo", type="generator", index="demo")
    with grpc.insecure_channel(coordinator.address) as channel:
        stub = connectors_pb2_grpc.ConnectorsStub(channel)
        first = stub.Create(pb.CreateConnectorRequest(spec=spec), timeout=5)
        spec.tasks_max = 3
        second = stub.Update(
            pb.UpdateConnectorRequest(spec=spec, expected_revision=first.revision), timeout=5
        )
        assert second.revision > first.revision and second.spec.tasks_max == 3
        with pytest.raises(grpc.RpcError) as raised:
            stub.Update(
                pb.UpdateConnectorRequest(spec=spec, expected_revision=first.revision), timeout=5
            )
        assert raised.value.code() == grpc.StatusCode.ABORTED  # type: ignore[attr-defined]
        paused = stub.Pause(pb.PauseConnectorRequest(name="demo"), timeout=5)
        assert paused.state == pb.CONNECTOR_STATE_PAUSED
        assert (
            stub.Get(pb.GetConnectorRequest(name="demo"), timeout=5).state
            == pb.CONNECTOR_STATE_PAUSED
        )


def test_replication_is_served_to_grpcurl(grpcurl: str, coordinator: ServiceProcess) -> None:
    result = run_grpcurl(
        grpcurl, coordinator.address, "ferry.v1.Replication/ListFollowers", data="{}"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {}
    missing = run_grpcurl(
        grpcurl,
        coordinator.address,
        "ferry.v1.Replication/Pause",
        data='{"follower_index": "nope"}',
    )
    assert missing.returncode != 0
    assert "NotFound" in missing.stderr and "nope" in missing.stderr


def test_jobs_are_served_to_grpcurl(grpcurl: str, coordinator: ServiceProcess) -> None:
    result = run_grpcurl(grpcurl, coordinator.address, "ferry.v1.Jobs/List", data="{}")
    assert result.returncode == 0, result.stderr
    missing = run_grpcurl(
        grpcurl, coordinator.address, "ferry.v1.Jobs/Start", data='{"connector": "nope"}'
    )
    assert missing.returncode != 0
    assert "NotFound" in missing.stderr and "nope" in missing.stderr


def test_status_shows_maintenance_as_set(coordinator: ServiceProcess) -> None:
    with grpc.insecure_channel(coordinator.address) as channel:
        stub = cluster_pb2_grpc.ClusterStub(channel)
        assert not stub.Status(cluster_pb2.ClusterStatusRequest(), timeout=5).maintenance
        request = cluster_pb2.SetMaintenanceRequest(enabled=True, reason="upgrade")
        assert stub.SetMaintenance(request, timeout=5).reason == "upgrade"
        assert stub.Status(cluster_pb2.ClusterStatusRequest(), timeout=5).maintenance
        got = stub.GetMaintenance(cluster_pb2.GetMaintenanceRequest(), timeout=5)
        assert got.enabled and got.reason == "upgrade" and got.running_tasks == 0
        stub.SetMaintenance(cluster_pb2.SetMaintenanceRequest(enabled=False), timeout=5)
        assert not stub.Status(cluster_pb2.ClusterStatusRequest(), timeout=5).maintenance


def test_read_only_refuses_mutations_but_serves_reads(
    etcd_server: EmbeddedEtcd, services: Callable[..., ServiceProcess]
) -> None:
    proc = services(
        "coordinator", etcd_server.endpoint, args=["--etcd-prefix", prefix(), "--read-only"]
    ).wait_serving()
    spec = pb.ConnectorSpec(name="demo", type="generator", index="demo")
    with grpc.insecure_channel(proc.address) as channel:
        stub = connectors_pb2_grpc.ConnectorsStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.Create(pb.CreateConnectorRequest(spec=spec), timeout=5)
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
        assert "read-only" in raised.value.details()  # type: ignore[attr-defined]
        assert stub.List(pb.ListConnectorsRequest(), timeout=5).connectors == []
        assert stub.Validate(pb.ValidateConnectorRequest(spec=spec), timeout=5).valid


def test_connectors_file_applied_at_start_and_on_sighup(
    etcd_server: EmbeddedEtcd, services: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    path = tmp_path / "connectors.yaml"
    path.write_text(
        "- {name: alpha, type: generator, index: a, config: {docs: 10}}\n"
        "- {name: beta, type: generator, index: b, state: paused}\n"
    )
    proc = services(
        "coordinator", etcd_server.endpoint,
        args=["--etcd-prefix", prefix(), "--connectors-file", str(path), "--read-only"],
    ).wait_serving()  # fmt: skip
    with grpc.insecure_channel(proc.address) as channel:
        stub = connectors_pb2_grpc.ConnectorsStub(channel)

        def names_and_states() -> dict[str, int]:
            listed = stub.List(pb.ListConnectorsRequest(), timeout=5).connectors
            return {c.spec.name: c.state for c in listed}

        assert names_and_states() == {
            "alpha": pb.CONNECTOR_STATE_RUNNING,
            "beta": pb.CONNECTOR_STATE_PAUSED,
        }
        path.write_text(
            "- {name: alpha, type: generator, index: a, config: {docs: 20}}\n"
            "- {name: gamma, type: generator, index: c}\n"
        )
        proc.signal(signal.SIGHUP)
        wait_until(lambda: set(names_and_states()) == {"alpha", "gamma"}, what="file re-applied")
        alpha = stub.Get(pb.GetConnectorRequest(name="alpha"), timeout=5)
        assert alpha.spec.config.fields["docs"].number_value == 20

        # A bad file on SIGHUP changes nothing and the coordinator keeps serving.
        path.write_text("- {name: alpha, type: generator, index: a, config: {docs: -1}}\n")
        proc.signal(signal.SIGHUP)
        wait_until(lambda: "connectors file not applied" in proc.log(), what="error logged")
        assert set(names_and_states()) == {"alpha", "gamma"}


def test_bad_connectors_file_fails_start_naming_the_field(
    etcd_server: EmbeddedEtcd, services: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    path = tmp_path / "connectors.yaml"
    path.write_text("- {name: alpha, type: generator, index: a, config: {docs: nope}}\n")
    proc = services(
        "coordinator",
        etcd_server.endpoint,
        args=["--etcd-prefix", prefix(), "--connectors-file", str(path)],
    )
    assert proc.process is not None
    assert proc.process.wait(timeout=20) != 0
    assert "connectors[0].config.docs" in proc.log()
