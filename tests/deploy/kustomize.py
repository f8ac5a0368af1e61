"""kustomize: the part of kustomize that deploy/k8s uses, for tests on machines without it.

:func:`build` renders a kustomization directory the way ``kubectl kustomize`` does, for
these fields only: ``resources`` (files and directories), ``components``, ``namespace``,
``patches`` (strategic-merge patches from ``path``, matched by kind and name), ``images``
and ``replicas``. Any other field, a missing file, a patch that matches nothing and two
objects with the same kind, namespace and name are errors, so the tree cannot use a
feature this renderer would silently skip. When ``kubectl`` is installed, the tests also
compare this output with its own ``kubectl kustomize``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

KUSTOMIZATION = "kustomization.yaml"
FIELDS = {"apiVersion", "kind", "namespace", "resources", "components", "patches", "images",
          "replicas"}  # fmt: skip
KINDS = {
    "Kustomization": "kustomize.config.k8s.io/v1beta1",
    "Component": "kustomize.config.k8s.io/v1alpha1",
}
CLUSTER_SCOPED = {"Namespace", "PersistentVolume", "StorageClass", "ClusterRole",
                  "ClusterRoleBinding", "PriorityClass", "CustomResourceDefinition"}  # fmt: skip
SCALABLE = {"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"}
# Strategic-merge keys of the lists the tree patches; any other list is replaced whole.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
}

Resource = dict[str, Any]


class KustomizeError(Exception):
    """KustomizeError says what in which kustomization cannot be rendered."""


@dataclass
class Build:
    """Build is a rendered kustomization and every file it read."""

    resources: list[Resource]
    files: set[Path] = field(default_factory=set)


def build(directory: Path) -> Build:
    """build renders the kustomization in ``directory``."""
    files: set[Path] = set()
    return Build(_kustomize(directory.resolve(), [], "Kustomization", files), files)


def build_with(resources: list[Path], components: list[Path]) -> Build:
    """build_with renders a kustomization that is not on disk: these resources, then these
    components (how the tests try each component on the base alone)."""
    files: set[Path] = set()
    spec = {"resources": resources, "components": components}
    out = _apply(Path("."), spec, [], files)
    return Build(out, files)


def key(resource: Resource) -> tuple[str, str, str]:
    """key is what must be unique in a build: kind, namespace and name."""
    meta = resource.get("metadata") or {}
    return (resource.get("kind", ""), meta.get("namespace", ""), meta.get("name", ""))


def _load_kustomization(directory: Path, kind: str, files: set[Path]) -> dict[str, Any]:
    path = directory / KUSTOMIZATION
    if not path.is_file():
        raise KustomizeError(f"{directory}: no {KUSTOMIZATION}")
    files.add(path)
    spec = yaml.safe_load(path.read_text()) or {}
    unknown = sorted(set(spec) - FIELDS)
    if unknown:
        raise KustomizeError(f"{path}: field {unknown[0]!r} is not supported by this renderer")
    if spec.get("kind", "Kustomization") != kind or spec.get("apiVersion") != KINDS[kind]:
        raise KustomizeError(f"{path}: must be a {kind} ({KINDS[kind]})")
    return dict(spec)


def _kustomize(
    directory: Path, accumulated: list[Resource], kind: str, files: set[Path]
) -> list[Resource]:
    spec = _load_kustomization(directory, kind, files)
    return _apply(directory, spec, accumulated, files)


def _apply(
    directory: Path, spec: dict[str, Any], accumulated: list[Resource], files: set[Path]
) -> list[Resource]:
    out = list(accumulated)
    for entry in spec.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            loaded = _kustomize(path, [], "Kustomization", files)
        elif path.is_file():
            files.add(path)
            loaded = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        else:
            raise KustomizeError(f"{directory / KUSTOMIZATION}: resource {entry} does not exist")
        for resource in loaded:
            if any(key(resource) == key(r) for r in out):
                raise KustomizeError(f"{path}: {key(resource)} is already defined")
            out.append(resource)
    for entry in spec.get("components", []):
        out = _kustomize((directory / entry).resolve(), out, "Component", files)
    for entry in spec.get("patches", []):
        _patch(directory, entry, out, files)
    if "namespace" in spec:
        _namespace(out, spec["namespace"])
    for image in spec.get("images", []):
        _image(out, image)
    for replicas in spec.get("replicas", []):
        _replicas(out, replicas)
    return out


def _patch(directory: Path, entry: Any, resources: list[Resource], files: set[Path]) -> None:
    if not isinstance(entry, dict) or set(entry) != {"path"}:
        raise KustomizeError(f"{directory}: only patches with a path alone are supported")
    path = (directory / entry["path"]).resolve()
    if not path.is_file():
        raise KustomizeError(f"{directory / KUSTOMIZATION}: patch {entry['path']} does not exist")
    files.add(path)
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    if len(docs) != 1:
        raise KustomizeError(f"{path}: one patch per file")
    patch = docs[0]
    kind, meta = patch.get("kind"), patch.get("metadata") or {}
    targets = [
        r
        for r in resources
        if r.get("kind") == kind
        and r["metadata"].get("name") == meta.get("name")
        and meta.get("namespace") in (None, r["metadata"].get("namespace"))
    ]
    if len(targets) != 1:
        raise KustomizeError(f"{path}: matches {len(targets)} objects, not one")
    merged = merge(targets[0], patch)
    targets[0].clear()
    targets[0].update(merged)


def merge(original: Any, patch: Any, field_name: str = "") -> Any:
    """merge is a strategic merge of ``patch`` into ``original`` (neither is changed): maps
    merge key by key (a null deletes), lists with a merge key merge item by item (the
    patch's items first, in its order, then the original's others), other lists and
    scalars are replaced."""
    if isinstance(original, dict) and isinstance(patch, dict):
        if any(k.startswith("$") for k in patch):
            raise KustomizeError(f"directive in patch of {field_name!r} is not supported")
        out = copy.deepcopy(original)
        for k, v in patch.items():
            if v is None:
                out.pop(k, None)
            elif k in out:
                out[k] = merge(out[k], v, k)
            else:
                out[k] = copy.deepcopy(v)
        return out
    if isinstance(original, list) and isinstance(patch, list):
        merge_key = MERGE_KEYS.get(field_name)
        if field_name == "ports":  # a container's ports, or a Service's
            merge_key = "containerPort" if all("containerPort" in i for i in patch) else "port"
        if merge_key is None or not all(isinstance(i, dict) for i in original + patch):
            return copy.deepcopy(patch)
        by_key = {item.get(merge_key): item for item in original}
        merged = [
            merge(by_key[item[merge_key]], item) if item.get(merge_key) in by_key else item
            for item in patch
        ]
        patched = {item.get(merge_key) for item in patch}
        return copy.deepcopy(merged) + [
            copy.deepcopy(i) for i in original if i.get(merge_key) not in patched
        ]
    return copy.deepcopy(patch)


def _namespace(resources: list[Resource], namespace: str) -> None:
    for resource in resources:
        meta = resource.setdefault("metadata", {})
        if resource.get("kind") == "Namespace":
            meta["name"] = namespace  # as kustomize does: the Namespace object follows
        elif resource.get("kind") not in CLUSTER_SCOPED:
            meta["namespace"] = namespace


def pod_specs(resource: Resource) -> list[dict[str, Any]]:
    """pod_specs are the pod templates of a workload (Deployment, StatefulSet, Job,
    CronJob, Pod, ...)."""
    spec = resource.get("spec") or {}
    if resource.get("kind") == "Pod":
        return [spec]
    if resource.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    template = spec.get("template") or {}
    return [template["spec"]] if "spec" in template else []


def containers(resource: Resource) -> list[dict[str, Any]]:
    """containers are the init and regular containers of a workload."""
    return [
        c
        for pod in pod_specs(resource)
        for c in [*pod.get("initContainers", []), *pod.get("containers", [])]
    ]


def split_image(image: str) -> tuple[str, str]:
    """split_image is (name, ":tag" or "@digest" or "")."""
    if "@" in image:
        name, _, digest = image.partition("@")
        return name, "@" + digest
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon:]
    return image, ""


def _image(resources: list[Resource], rule: dict[str, Any]) -> None:
    unknown = sorted(set(rule) - {"name", "newName", "newTag", "digest"})
    if unknown:
        raise KustomizeError(f"images: {unknown[0]!r} is not supported")
    for container in (c for r in resources for c in containers(r)):
        name, suffix = split_image(container.get("image", ""))
        if name != rule["name"]:
            continue
        if "digest" in rule:
            suffix = "@" + rule["digest"]
        elif "newTag" in rule:
            suffix = ":" + str(rule["newTag"])
        container["image"] = rule.get("newName", name) + suffix


def _replicas(resources: list[Resource], rule: dict[str, Any]) -> None:
    found = [
        r
        for r in resources
        if r.get("kind") in SCALABLE and r["metadata"].get("name") == rule["name"]
    ]
    if not found:
        raise KustomizeError(f"replicas: no workload named {rule['name']!r}")
    for resource in found:
        resource.setdefault("spec", {})["replicas"] = rule["count"]
