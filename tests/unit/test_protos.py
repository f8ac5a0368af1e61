"""The API contract: generated stubs are fresh and every service has its RPCs."""

from __future__ import annotations

import importlib
import re
import shutil
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf.descriptor import FileDescriptor, ServiceDescriptor

from ferry import protogen

UNARY = "unary"
SERVER_STREAM = "server-stream"
BIDI = "bidi"

# Service -> RPC -> streaming shape. Adding or renaming an RPC must update this.
EXPECTED_SERVICES: dict[str, dict[str, str]] = {
    "Connectors": {
        name: UNARY
        for name in (
            "Create",
            "Get",
            "List",
            "Update",
            "Delete",
            "Pause",
            "Resume",
            "Stop",
            "Restart",
            "Validate",
            "ListTypes",
            "GetOffsets",
            "AlterOffsets",
            "ResetOffsets",
        )
    },
    "Jobs": {
        "Start": UNARY,
        "Get": UNARY,
        "List": UNARY,
        "Cancel": UNARY,
        "Watch": SERVER_STREAM,
    },
    "Agents": {"List": UNARY, "Drain": UNARY, "Undrain": UNARY},
    "Indices": {
        name: UNARY
        for name in (
            "Create",
            "Get",
            "List",
            "Delete",
            "UpdateSchema",
            "Stats",
            "Bulk",
            "GetDocument",
            "MultiGet",
            "Search",
            "Count",
        )
    },
    "Replication": {
        name: UNARY
        for name in (
            "Follow",
            "Pause",
            "Resume",
            "Unfollow",
            "ListFollowers",
            "Stats",
            "PutAutoFollowPattern",
            "DeleteAutoFollowPattern",
            "ListAutoFollowPatterns",
            "PutRemoteCluster",
            "DeleteRemoteCluster",
            "ListRemoteClusters",
        )
    },
    "Cluster": {"Status": UNARY, "SetMaintenance": UNARY, "GetMaintenance": UNARY},
    "Agent": {"Status": UNARY, "Drain": UNARY},
    "LeaderReplication": {
        "ReadOperations": BIDI,
        "Bootstrap": SERVER_STREAM,
        "PutRetentionLease": UNARY,
        "RemoveRetentionLease": UNARY,
        "GetIndex": UNARY,
        "ListIndices": UNARY,
    },
    "Replicator": {"Status": UNARY, "ShardStats": UNARY},
}


def _pb2_modules() -> list[ModuleType]:
    """Import the _pb2 module of every proto in the contract."""
    names = [Path(f).stem for f in protogen.proto_files()]
    return [importlib.import_module(f"ferry.v1.{name}_pb2") for name in names]


def _services() -> dict[str, tuple[ServiceDescriptor, ModuleType]]:
    """Return every service of the contract with the _pb2 module defining it."""
    found: dict[str, tuple[ServiceDescriptor, ModuleType]] = {}
    for module in _pb2_modules():
        file: FileDescriptor = module.DESCRIPTOR
        assert file.package == "ferry.v1", file.name
        for name, service in file.services_by_name.items():
            assert name not in found, f"service {name} defined twice"
            found[name] = (service, module)
    return found


def _shape(client_streaming: bool, server_streaming: bool) -> str:
    if client_streaming and server_streaming:
        return BIDI
    if server_streaming:
        return SERVER_STREAM
    return "client-stream" if client_streaming else UNARY


def test_committed_stubs_are_fresh() -> None:
    problems = protogen.diff_stubs()
    assert problems == [], "stubs differ from protos; run `make proto`: " + ", ".join(problems)


def test_check_reports_stale_missing_and_extra_stubs(tmp_path: Path) -> None:
    shutil.copytree(protogen.REPO_ROOT / protogen.PACKAGE_DIR, tmp_path / protogen.PACKAGE_DIR)
    stubs = tmp_path / protogen.PACKAGE_DIR
    with (stubs / "jobs_pb2.py").open("a") as f:
        f.write("# hand edit\n")
    (stubs / "indices_pb2_grpc.pyi").unlink()
    (stubs / "gone_pb2.py").write_text("")

    assert protogen.diff_stubs(tmp_path) == [
        "extra: ferry/v1/gone_pb2.py",
        "missing: ferry/v1/indices_pb2_grpc.pyi",
        "stale: ferry/v1/jobs_pb2.py",
    ]
    assert protogen.main(["--check", "--out", str(tmp_path)]) == 1


def test_write_stubs_regenerates_and_removes_orphans(tmp_path: Path) -> None:
    stubs = tmp_path / protogen.PACKAGE_DIR
    stubs.mkdir(parents=True)
    (stubs / "gone_pb2.py").write_text("")
    (stubs / "jobs_pb2.py").write_text("# stale\n")

    protogen.write_stubs(tmp_path)

    assert protogen.diff_stubs(tmp_path) == []


def test_every_service_has_the_expected_rpcs() -> None:
    services = _services()
    assert sorted(services) == sorted(EXPECTED_SERVICES)
    for name, (service, _) in services.items():
        actual = {m.name: _shape(m.client_streaming, m.server_streaming) for m in service.methods}
        assert actual == EXPECTED_SERVICES[name], f"service ferry.v1.{name}"


@pytest.mark.parametrize("service_name", sorted(EXPECTED_SERVICES))
def test_every_service_has_stub_servicer_and_registration(service_name: str) -> None:
    service, module = _services()[service_name]
    grpc_module = importlib.import_module(module.__name__ + "_grpc")
    assert hasattr(grpc_module, f"{service_name}Stub")
    servicer = getattr(grpc_module, f"{service_name}Servicer")
    for method in service.methods:
        assert callable(getattr(servicer, method.name)), f"{service_name}.{method.name}"
    assert callable(getattr(grpc_module, f"add_{service_name}Servicer_to_server"))


def test_every_rpc_has_its_own_request_message() -> None:
    seen: dict[str, str] = {}
    for name, (service, _) in _services().items():
        for method in service.methods:
            rpc = f"{name}.{method.name}"
            request = method.input_type.full_name
            assert request not in seen, f"{rpc} shares {request} with {seen.get(request)}"
            seen[request] = rpc


def test_enum_values_are_prefixed_and_zero_is_unspecified() -> None:
    for module in _pb2_modules():
        for enum in module.DESCRIPTOR.enum_types_by_name.values():
            prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"
            assert enum.values[0].number == 0, enum.full_name
            assert enum.values[0].name == prefix + "UNSPECIFIED", enum.full_name
            for value in enum.values:
                assert value.name.startswith(prefix), f"{enum.full_name}.{value.name}"


def test_generated_modules_import_through_the_package() -> None:
    stubs = protogen.REPO_ROOT / protogen.PACKAGE_DIR
    flat_import = re.compile(r"^import \w+_pb2\b", re.MULTILINE)
    for path in sorted(stubs.glob("*_pb2*.py*")):
        assert not flat_import.search(path.read_text()), f"{path.name} imports a flat module"
