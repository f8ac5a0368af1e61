"""deploy/compose.yaml: a 3-member etcd cluster, PostgreSQL, 2 coordinators, 2 agents, a
replicator and an OpenTelemetry collector, wired together with settings that exist."""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.deploy import settings
from tests.helpers import REPO

COMPOSE = REPO / "deploy" / "compose.yaml"
SPEC: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
SERVICES: dict[str, Any] = SPEC["services"]
PINNED = re.compile(r":v?\d+\.\d+(\.\d+)?(-[a-z0-9.]+)?$")


def _ferry_services() -> dict[str, Any]:
    return {n: s for n, s in SERVICES.items() if s["image"].split(":")[0] == "ferry"}


def _roles() -> dict[str, str]:
    return {n: s["command"][0] for n, s in _ferry_services().items()}


def test_the_services_are_all_there() -> None:
    roles = sorted(_roles().values())
    assert roles == ["agent", "agent", "coordinator", "coordinator", "replicator"]
    etcds = [n for n, s in SERVICES.items() if s["image"].startswith("quay.io/coreos/etcd:")]
    assert len(etcds) == 3
    assert any(s["image"].startswith("postgres:") for s in SERVICES.values())
    assert any(s["image"].startswith("otel/opentelemetry-collector:") for s in SERVICES.values())


def test_images_are_pinned() -> None:
    for name, service in SERVICES.items():
        assert PINNED.search(service["image"]), f"{name}: {service['image']} is not pinned"
    etcd = next(s["image"] for s in SERVICES.values() if "etcd" in s["image"])
    version = tuple(int(p) for p in etcd.rpartition(":v")[2].split("."))
    assert version >= (3, 5, 6), "etcd >= 3.5.6 (SPEC 2.2)"


def test_the_ferry_image_is_built_from_the_dockerfile() -> None:
    version = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)
    assert version
    for name, service in _ferry_services().items():
        assert service["image"] == f"ferry:{version.group(1)}", name
        build = service["build"]
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == (
            REPO / "deploy" / "Dockerfile"
        )


def _etcd_members() -> dict[str, dict[str, str]]:
    return {
        n: s["environment"] for n, s in SERVICES.items() if s["image"].startswith("quay.io/coreos")
    }


def test_etcd_is_one_three_member_cluster() -> None:
    members = _etcd_members()
    clusters = {env["ETCD_INITIAL_CLUSTER"] for env in members.values()}
    assert len(clusters) == 1
    initial = dict(item.split("=", 1) for item in clusters.pop().split(","))
    assert set(initial) == {env["ETCD_NAME"] for env in members.values()}
    for name, env in members.items():
        assert initial[env["ETCD_NAME"]] == env["ETCD_INITIAL_ADVERTISE_PEER_URLS"], name
        assert env["ETCD_INITIAL_CLUSTER_STATE"] == "new"
        assert any(v.endswith(":/var/lib/etcd") for v in SERVICES[name]["volumes"]), name


def test_every_ferry_service_lists_every_etcd_member_by_address() -> None:
    """Several endpoints must be IP addresses (ferry.etcd.connect): the members' own."""
    subnet = ipaddress.ip_network(SPEC["networks"]["ferry"]["ipam"]["config"][0]["subnet"])
    addresses = set()
    for name, env in _etcd_members().items():
        address = SERVICES[name]["networks"]["ferry"]["ipv4_address"]
        assert ipaddress.ip_address(address) in subnet
        assert env["ETCD_ADVERTISE_CLIENT_URLS"] == f"http://{address}:2379"
        addresses.add(f"{address}:2379")
    for name, service in _ferry_services().items():
        endpoints = service["environment"]["FERRY_ETCD_ENDPOINTS"].split(",")
        assert set(endpoints) == addresses, name


def test_the_store_is_the_shared_postgresql() -> None:
    postgres = SERVICES["postgres"]["environment"]
    url = (
        f"postgresql://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{postgres['POSTGRES_DB']}"
    )
    for name, service in _ferry_services().items():
        assert service["environment"]["FERRY_STORE_URL"] == url, name


def test_ferry_settings_exist() -> None:
    errors = []
    for name, service in _ferry_services().items():
        env = service["environment"]
        errors += [f"{name}: {p}" for p in settings.problems(service["command"], env)]
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4317"
        # The health check probes FERRY_LISTEN; each advertised address is its own name.
        assert env["FERRY_LISTEN"].startswith("0.0.0.0:")
        assert env["FERRY_ADVERTISE"] == f"{service['hostname']}:{env['FERRY_LISTEN'][8:]}"
    assert not errors, "\n".join(errors)


def test_ids_and_advertised_addresses_are_unique() -> None:
    envs = [s["environment"] for s in _ferry_services().values()]
    for setting in ("FERRY_ID", "FERRY_ADVERTISE"):
        values = [env[setting] for env in envs]
        assert len(values) == len(set(values)), setting


def test_health_checks_and_dependencies() -> None:
    for name, service in SERVICES.items():
        for target, condition in service.get("depends_on", {}).items():
            assert target in SERVICES, f"{name} depends on unknown {target}"
            wanted = "service_healthy" if "healthcheck" in SERVICES[target] else "service_started"
            assert condition["condition"] == wanted, (name, target)
    for name in [*_ferry_services(), *_etcd_members(), "postgres"]:
        assert SERVICES[name]["healthcheck"]["test"][0] == "CMD", name
    for name in _ferry_services():
        assert {"etcd-1", "etcd-2", "etcd-3", "postgres"} <= set(SERVICES[name]["depends_on"])


def test_ports_are_published_on_loopback_only() -> None:
    published = 0
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"
            published += 1
    assert published


def test_ferry_containers_are_locked_down() -> None:
    for name, service in _ferry_services().items():
        assert service["user"] == "10001:10001", name
        assert service["read_only"] is True and "/tmp" in service["tmpfs"], name
        assert service["cap_drop"] == ["ALL"], name


def test_the_collector_config_receives_otlp_and_exports_to_debug() -> None:
    collector = SERVICES["otel-collector"]
    [mount] = collector["volumes"]
    source, target, _ = mount.split(":")
    assert f"--config={target}" in collector["command"]
    config = yaml.safe_load((COMPOSE.parent / source).read_text())
    assert config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert config["service"]["pipelines"]["traces"] == {
        "receivers": ["otlp"],
        "processors": ["batch"],
        "exporters": ["debug"],
    }


def _docker_compose() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_docker_compose_accepts_the_file() -> None:
    command = _docker_compose()
    if command is None:
        pytest.skip("neither `docker compose` (the plugin) nor docker-compose is installed")
    out = subprocess.run(
        [*command, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
