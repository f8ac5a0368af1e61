"""deploy/k8s: every build renders, validates against the Kubernetes schemas, and runs
Ferry with settings that exist, non-root, read-only, with probes and resource limits."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from ferry import auth
from ferry.connectors.registry import load_registry
from services.coordinator.declarative import DeclarativeConnectors
from tests.deploy import settings
from tests.deploy.kustomize import Build, build, build_with, containers, key, pod_specs
from tests.helpers import REPO

K8S = REPO / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30"
BASE = K8S / "base"
OVERLAYS = sorted(p.parent for p in (K8S / "overlays").glob("*/kustomization.yaml"))
COMPONENTS = sorted(p.parent for p in (K8S / "components").glob("*/kustomization.yaml"))
# Files under deploy/k8s that are no Kubernetes objects and no kustomization input.
NOT_MANIFESTS = {K8S / "components" / "sidecar-agent" / "connector.yaml"}
# Secrets the operator creates (components/tls says how); every other reference must resolve.
EXTERNAL_SECRETS = {"ferry-tls", "etcd-tls", "etcd-client-tls"}
FERRY_UID = 10001
# An exact release: 1.2.3 or v1.2.3, or PostgreSQL's 17.6, with an optional -variant; never
# latest or a bare major version.
PINNED = r":v?\d+\.\d+(\.\d+)?(-[a-z0-9.]+)?$"


def _name(path: Path) -> str:
    return str(path.relative_to(K8S))


def builds() -> dict[str, Build]:
    """builds: the base, every overlay, and the base with each component alone."""
    found = {"base": build(BASE)}
    found.update({_name(o): build(o) for o in OVERLAYS})
    found.update({f"base+{c.name}": build_with([BASE], [c]) for c in COMPONENTS})
    return found


BUILDS = builds()
ALL = pytest.mark.parametrize("name", sorted(BUILDS))


def _is_ferry(container: dict[str, Any]) -> bool:
    image = container.get("image", "").rpartition("/")[2]
    return image.split(":")[0].split("@")[0] == "ferry"


def _by_kind(b: Build, kind: str) -> list[dict[str, Any]]:
    return [r for r in b.resources if r["kind"] == kind]


def _get(b: Build, kind: str, name: str) -> dict[str, Any]:
    [found] = [r for r in b.resources if r["kind"] == kind and r["metadata"]["name"] == name]
    return found


def test_the_tree_has_overlays_and_components() -> None:
    assert {o.name for o in OVERLAYS} >= {"dev", "production"}
    assert {c.name for c in COMPONENTS} >= {"declarative", "sidecar-agent", "tls", "metrics"}


@ALL
def test_every_object_validates_against_the_kubernetes_schemas(name: str) -> None:
    errors = []
    for resource in BUILDS[name].resources:
        try:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{key(resource)}: {exc.caught.message} at {list(exc.caught.path)}")
    assert not errors, "\n".join(errors)


@ALL
def test_names_are_unique(name: str) -> None:
    keys = [key(r) for r in BUILDS[name].resources]
    assert len(keys) == len(set(keys))


def test_every_file_is_used() -> None:
    used = set().union(*(b.files for b in BUILDS.values()))
    files = {p.resolve() for p in K8S.rglob("*.yaml")}
    assert files - used == {p.resolve() for p in NOT_MANIFESTS}


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl (with kustomize) not installed")
@pytest.mark.parametrize("directory", [BASE, *OVERLAYS], ids=_name)
def test_the_renderer_agrees_with_kubectl_kustomize(directory: Path) -> None:
    out = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    theirs = {key(r): r for r in yaml.safe_load_all(out.stdout) if r}
    mine = {key(r): r for r in build(directory).resources}
    assert mine == theirs


@ALL
def test_pods_run_non_root_read_only_with_limits(name: str) -> None:
    errors = []
    for resource in BUILDS[name].resources:
        for pod in pod_specs(resource):
            where = str(key(resource))
            ctx = pod.get("securityContext", {})
            if ctx.get("runAsNonRoot") is not True:
                errors.append(f"{where}: pod without runAsNonRoot")
            if ctx.get("seccompProfile", {}).get("type") != "RuntimeDefault":
                errors.append(f"{where}: pod without the RuntimeDefault seccomp profile")
            if pod.get("automountServiceAccountToken") is not False:
                errors.append(f"{where}: mounts a service account token it does not need")
            if pod.get("enableServiceLinks") is not False:
                errors.append(f"{where}: service links put *_SERVICE_HOST variables in env")
        for c in containers(resource):
            where = f"{key(resource)} {c['name']}"
            sc = c.get("securityContext", {})
            expected = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                        "runAsNonRoot": True}  # fmt: skip
            for field, value in expected.items():
                if sc.get(field) is not value:
                    errors.append(f"{where}: securityContext.{field} is not {value}")
            if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                errors.append(f"{where}: does not drop ALL capabilities")
            if _is_ferry(c) and sc.get("runAsUser") != FERRY_UID:
                errors.append(f"{where}: Ferry runs as {FERRY_UID}")
            for bound in ("requests", "limits"):
                if set(c.get("resources", {}).get(bound, {})) < {"cpu", "memory"}:
                    errors.append(f"{where}: no cpu and memory {bound}")
    assert not errors, "\n".join(errors)


@ALL
def test_images_are_pinned(name: str) -> None:
    for c in (c for r in BUILDS[name].resources for c in containers(r)):
        image = c["image"]
        assert "@sha256:" in image or re.search(PINNED, image), f"{image} is not an exact release"


def test_the_base_ferry_image_is_the_project_version() -> None:
    version = _project_version()
    images = {c["image"] for r in BUILDS["base"].resources for c in containers(r) if _is_ferry(c)}
    assert images == {f"ferry:{version}"}


def _project_version() -> str:
    text = (REPO / "pyproject.toml").read_text()
    match = re.search(r'^version = "([^"]+)"', text, re.M)
    assert match
    return match.group(1)


@ALL
def test_ferry_commands_and_variables_exist(name: str) -> None:
    """Every flag and FERRY_* variable of every Ferry container is a real setting."""
    errors, checked = [], 0
    for resource in BUILDS[name].resources:
        for c in (c for c in containers(resource) if _is_ferry(c)):
            args = c.get("args", [])
            env = [e["name"] for e in c.get("env", [])]
            errors += [f"{key(resource)} {c['name']}: {p}" for p in settings.problems(args, env)]
            checked += 1
    assert checked
    assert not errors, "\n".join(errors)


def test_the_settings_check_catches_typos() -> None:
    assert settings.problems(["coordinator", "--read-only"], ["FERRY_LISTEN"]) == []
    assert settings.problems(["coordinator", "--readonly"], [])
    assert settings.problems(["agent"], ["FERRY_LABEL"])
    assert settings.problems(["replicator"], ["FERRY_LABELS"])  # an agent's setting
    assert settings.problems(["agent", "--log-level", "verbose"], [])


@ALL
def test_variable_references_resolve(name: str) -> None:
    """$(VAR) in env values, command and args names a variable defined earlier in env
    (Kubernetes leaves others as they are), and every Secret and ConfigMap referenced exists."""
    b = BUILDS[name]
    errors = []
    present = {(r["kind"], r["metadata"]["name"]) for r in b.resources}
    for resource in b.resources:
        for c in containers(resource):
            defined: list[str] = []
            for e in c.get("env", []):
                for ref in settings.VAR_REF.findall(e.get("value", "")):
                    if ref not in defined:
                        errors.append(f"{key(resource)} {c['name']}: {e['name']} uses $({ref})")
                defined.append(e["name"])
                ref_kind = next(iter(e.get("valueFrom", {})), "")
                if ref_kind in ("secretKeyRef", "configMapKeyRef"):
                    kind = "Secret" if ref_kind == "secretKeyRef" else "ConfigMap"
                    errors += _missing(present, kind, e["valueFrom"][ref_kind]["name"])
            for word in [*c.get("command", []), *c.get("args", [])]:
                for ref in settings.VAR_REF.findall(word):
                    if ref not in defined:
                        errors.append(f"{key(resource)} {c['name']}: args use $({ref})")
        for pod in pod_specs(resource):
            for volume in pod.get("volumes", []):
                if "secret" in volume:
                    errors += _missing(present, "Secret", volume["secret"]["secretName"])
                if "configMap" in volume:
                    errors += _missing(present, "ConfigMap", volume["configMap"]["name"])
                if "persistentVolumeClaim" in volume:
                    claim = volume["persistentVolumeClaim"]["claimName"]
                    errors += _missing(present, "PersistentVolumeClaim", claim)
    assert not errors, "\n".join(errors)


def _missing(present: set[tuple[str, str]], kind: str, name: str) -> list[str]:
    if (kind, name) in present or (kind == "Secret" and name in EXTERNAL_SECRETS):
        return []
    return [f"{kind} {name} is referenced but not in the build"]


@ALL
def test_selectors_select_pods(name: str) -> None:
    b = BUILDS[name]
    templates = [
        (r, (r["spec"]["template"]["metadata"].get("labels", {})))
        for r in b.resources
        if "template" in r.get("spec", {})
    ]
    errors = []
    for resource in b.resources:
        spec = resource.get("spec", {})
        if resource["kind"] == "Service" and "selector" in spec:
            selector = spec["selector"]
        elif "selector" in spec and "matchLabels" in spec["selector"]:
            selector = spec["selector"]["matchLabels"]
        else:
            continue
        matched = [t for t, labels in templates if selector.items() <= labels.items()]
        if resource["kind"] in ("Deployment", "StatefulSet"):
            labels = spec["template"]["metadata"]["labels"]
            ok = selector.items() <= labels.items()
        else:
            ok = bool(matched)
        if not ok:
            errors.append(f"{key(resource)}: selector {selector} selects no pod")
    assert not errors, "\n".join(errors)


def _ferry_container(b: Build, deployment: str) -> dict[str, Any]:
    [c] = containers(_get(b, "Deployment", deployment))
    return c


def test_coordinators_are_two_with_a_disruption_budget() -> None:
    b = BUILDS["base"]
    assert _get(b, "Deployment", "ferry-coordinator")["spec"]["replicas"] == 2
    pdb = _get(b, "PodDisruptionBudget", "ferry-coordinator")
    assert pdb["spec"]["minAvailable"] == 1


@pytest.mark.parametrize(("deployment", "port"), [("ferry-coordinator", 50051),
                         ("ferry-agent", 50061), ("ferry-replicator", 50071)])  # fmt: skip
def test_ferry_probes_are_native_grpc_on_the_listen_port(deployment: str, port: int) -> None:
    c = _ferry_container(BUILDS["base"], deployment)
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["FERRY_LISTEN"] == f"0.0.0.0:{port}"
    assert c["readinessProbe"]["grpc"] == {"port": port}
    for probe in ("startupProbe", "livenessProbe"):  # alive, whatever etcd does
        assert c[probe]["grpc"] == {"port": port, "service": "liveness"}, probe


def test_with_tls_the_probes_use_the_plaintext_health_port() -> None:
    """The kubelet's gRPC probe speaks no TLS: with TLS on, it probes FERRY_HEALTH_LISTEN."""
    b = BUILDS["base+tls"]
    for deployment in ("ferry-coordinator", "ferry-agent", "ferry-replicator"):
        c = _ferry_container(b, deployment)
        env = {e["name"]: e.get("value", "") for e in c["env"]}
        assert {"FERRY_TLS_CERT_FILE", "FERRY_TLS_CA_FILE", "FERRY_ETCD_CA_FILE"} <= set(env)
        health = int(env["FERRY_HEALTH_LISTEN"].rpartition(":")[2])
        assert health != int(env["FERRY_LISTEN"].rpartition(":")[2])
        assert health in {p["containerPort"] for p in c["ports"]}
        assert c["readinessProbe"]["grpc"] == {"port": health}
        for probe in ("startupProbe", "livenessProbe"):
            assert c[probe]["grpc"] == {"port": health, "service": "liveness"}, probe


def test_etcd_is_a_three_member_cluster_with_stable_names() -> None:
    b = BUILDS["base"]
    sts = _get(b, "StatefulSet", "etcd")
    assert sts["spec"]["replicas"] == 3
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    headless = _get(b, "Service", sts["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    [c] = containers(sts)
    env = {e["name"]: e.get("value", "") for e in c["env"]}
    service = sts["spec"]["serviceName"]
    members = [f"etcd-{i}=http://etcd-{i}.{service}:2380" for i in range(3)]
    assert env["ETCD_INITIAL_CLUSTER"] == ",".join(members)
    assert env["ETCD_INITIAL_ADVERTISE_PEER_URLS"] == f"http://$(POD_NAME).{service}:2380"
    version = c["image"].rpartition(":v")[2]
    assert tuple(int(p) for p in version.split(".")) >= (3, 5, 6), "etcd >= 3.5.6 (SPEC 2.2)"
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert {"name": "data", "mountPath": "/var/lib/etcd"} in c["volumeMounts"]


def test_ferry_dials_the_etcd_client_service() -> None:
    b = BUILDS["base"]
    service = _get(b, "Service", "etcd")
    assert service["spec"].get("clusterIP") != "None"
    for deployment in ("ferry-coordinator", "ferry-agent", "ferry-replicator"):
        env = {e["name"]: e.get("value") for e in _ferry_container(b, deployment)["env"]}
        assert env["FERRY_ETCD_ENDPOINTS"] == "etcd:2379"


def test_agents_are_ready_for_an_autoscaler() -> None:
    c = _ferry_container(BUILDS["base"], "ferry-agent")
    assert set(c["resources"]["requests"]) == {"cpu", "memory"}
    hpa = _get(BUILDS["overlays/production"], "HorizontalPodAutoscaler", "ferry-agent")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "ferry-agent"


def test_declarative_mode_mounts_the_connectors_file_read_only() -> None:
    b = BUILDS["base+declarative"]
    c = _ferry_container(b, "ferry-coordinator")
    args = c["args"]
    assert "--read-only" in args
    path = Path(args[args.index("--connectors-file") + 1])
    [mount] = [m for m in c["volumeMounts"] if path.is_relative_to(m["mountPath"])]
    assert "subPath" not in mount  # a changed ConfigMap reaches the file
    pod = pod_specs(_get(b, "Deployment", "ferry-coordinator"))[0]
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    config_map = _get(b, "ConfigMap", volume["configMap"]["name"])
    assert path.name in config_map["data"]


def _validate_connectors(text: str, tmp_path: Path) -> list[Any]:
    file = tmp_path / "connectors.yaml"
    file.write_text(text)
    return DeclarativeConnectors(None, load_registry(), file).load()  # type: ignore[arg-type]


def test_the_connectors_file_example_is_valid(tmp_path: Path) -> None:
    config_map = _get(BUILDS["base+declarative"], "ConfigMap", "ferry-connectors")
    assert _validate_connectors(config_map["data"]["connectors.yaml"], tmp_path)


def test_the_sidecar_connector_runs_only_on_its_sidecar_agent(tmp_path: Path) -> None:
    b = BUILDS["base+sidecar-agent"]
    connector = K8S / "components" / "sidecar-agent" / "connector.yaml"
    [entry] = _validate_connectors(connector.read_text(), tmp_path)
    spec = entry.spec
    app = _get(b, "Deployment", "shop-exporter")
    agents = [c for c in containers(app) if _is_ferry(c)]
    others = [c for c in containers(app) if not _is_ferry(c)]
    assert len(agents) == 1 and others
    env = {e["name"]: e.get("value", "") for e in agents[0]["env"]}
    labels = dict(item.split("=", 1) for item in env["FERRY_LABELS"].split(","))
    assert dict(spec.agent_selector).items() <= labels.items()
    # The shared agents carry no such label, so only the sidecar is eligible.
    for deployment in ("ferry-agent",):
        shared = {e["name"]: e.get("value", "") for e in _ferry_container(b, deployment)["env"]}
        assert "app=" not in shared.get("FERRY_LABELS", "")
    # The app writes where the connector reads, on a volume both containers mount.
    path = spec.config["path"]
    mounts = [
        {m["mountPath"]: m["name"] for m in c["volumeMounts"]} for c in (agents[0], others[0])
    ]
    assert mounts[0][path] == mounts[1][path]
    pod = pod_specs(app)[0]
    [volume] = [v for v in pod["volumes"] if v["name"] == mounts[0][path]]
    assert "emptyDir" in volume


def test_the_tokens_example_parses_and_admits_nobody() -> None:
    secret = _get(BUILDS["base+auth"], "Secret", "ferry-api-tokens")
    tokens = auth.parse_tokens(secret["stringData"]["tokens.yaml"])
    assert {i.role.label for i in tokens.values()} == {"admin", "operator", "viewer"}
    service_token = _get(BUILDS["base+auth"], "Secret", "ferry-service-token")
    assert auth.token_digest(service_token["stringData"]["token"]) not in tokens


def test_metrics_listen_matches_the_scrape_annotations() -> None:
    b = BUILDS["base+metrics"]
    for deployment in ("ferry-coordinator", "ferry-agent", "ferry-replicator"):
        d = _get(b, "Deployment", deployment)
        annotations = d["spec"]["template"]["metadata"]["annotations"]
        env = {e["name"]: e.get("value") for e in _ferry_container(b, deployment)["env"]}
        port = env["FERRY_METRICS_LISTEN"].rpartition(":")[2]
        assert annotations["prometheus.io/port"] == port == "9464"


def test_backups_run_ferry_backup_on_a_schedule() -> None:
    cron = _get(BUILDS["base+backup"], "CronJob", "ferry-backup")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    [c] = containers(cron)
    assert c["args"] == ["backup", "/backups/$(POD_NAME)"]
    [mount] = [m for m in c["volumeMounts"] if m["mountPath"] == "/backups"]
    pod = pod_specs(cron)[0]
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["persistentVolumeClaim"]["claimName"] == "ferry-backups"
