"""Validation of the rendered objects before anything is applied; every problem names the file.

Two layers. ``local_problems`` needs nothing but the render: known kinds and API versions,
valid names, the runbook's namespace, the fields each kind cannot do without, no Secret
with data in git, and the Deployment/Service the runbook names. ``schema_problems`` checks
every field against the OpenAPI v3 schema the cluster itself publishes — unknown fields and
wrong types, as the API server's strict field validation would — once the cluster exists.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from flexmigrate.errors import CloudError

if TYPE_CHECKING:
    from flexmigrate.clients.kube import KubeApi
    from phases.app_deploy.render import Manifest, Rendered
    from phases.shared.sections import AppSection

KNOWN_KINDS: dict[tuple[str, str], bool] = {  # (apiVersion, kind) → namespaced
    ("v1", "Namespace"): False,
    ("v1", "ConfigMap"): True,
    ("v1", "Secret"): True,
    ("v1", "ServiceAccount"): True,
    ("v1", "Service"): True,
    ("apps/v1", "Deployment"): True,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): True,
    ("policy/v1", "PodDisruptionBudget"): True,
    ("networking.k8s.io/v1", "NetworkPolicy"): True,
    ("networking.k8s.io/v1", "Ingress"): True,
    ("rbac.authorization.k8s.io/v1", "Role"): True,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): True,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): True,
}
_TOP_LEVEL = {"apiVersion", "kind", "metadata"}
_TOP_BY_KIND = {
    "ConfigMap": {"data", "binaryData", "immutable"},
    "Secret": {"data", "stringData", "type", "immutable"},
    "ServiceAccount": {"automountServiceAccountToken", "imagePullSecrets", "secrets"},
    "Role": {"rules"},
    "RoleBinding": {"roleRef", "subjects"},
}
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAMED = {"Namespace", "Service"}


def local_problems(rendered: Rendered, app: AppSection) -> list[str]:
    problems: list[str] = []
    seen: set[tuple[str, str, str | None]] = set()
    for manifest in rendered.manifests:
        found = [f"{manifest.source}: {manifest.ref}: {p}" for p in _object_problems(manifest)]
        problems += found
        key = (manifest.kind, manifest.name, manifest.namespace)
        if key in seen:
            problems.append(f"{manifest.source}: {manifest.ref} is rendered twice")
        seen.add(key)
        namespaced = KNOWN_KINDS.get((manifest.api_version, manifest.kind))
        if namespaced and manifest.namespace not in (None, app.namespace):
            problems.append(
                f"{manifest.source}: {manifest.ref} is in namespace {manifest.namespace}, "
                f"the runbook deploys to {app.namespace} (app.namespace)"
            )
        if manifest.kind == "Namespace" and manifest.name != app.namespace:
            problems.append(
                f"{manifest.source}: Namespace {manifest.name} is not the runbook's namespace "
                f"{app.namespace}"
            )
    problems += _service_problems(rendered, app)
    return problems


def _object_problems(manifest: Manifest) -> Iterator[str]:
    obj = manifest.obj
    if not manifest.api_version or not manifest.kind:
        yield "apiVersion and kind are required"
        return
    if (manifest.api_version, manifest.kind) not in KNOWN_KINDS:
        known = sorted({f"{v} {k}" for v, k in KNOWN_KINDS})
        yield (
            f"unknown kind {manifest.kind} ({manifest.api_version}); this phase deploys: "
            + ", ".join(known)
        )
        return
    if not isinstance(obj.get("metadata"), dict) or not manifest.name:
        yield "metadata.name is required"
        return
    pattern, limit = (_LABEL, 63) if manifest.kind in _LABEL_NAMED else (_SUBDOMAIN, 253)
    if len(manifest.name) > limit or not pattern.match(manifest.name):
        yield (
            f"name {manifest.name!r} is not a valid Kubernetes name (lower-case letters, "
            f"digits and '-', at most {limit} characters)"
        )
    allowed = _TOP_LEVEL | _TOP_BY_KIND.get(manifest.kind, {"spec"})
    for key in obj:
        if key not in allowed and key != "status":
            yield f"unknown field {key!r} at the top level"
    yield from _REQUIRED.get(manifest.kind, _nothing)(obj)


def _nothing(obj: dict[str, Any]) -> Iterator[str]:
    return iter(())


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _deployment(obj: dict[str, Any]) -> Iterator[str]:
    selector = _get(obj, "spec.selector")
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        yield "spec.selector is required"
    containers = _get(obj, "spec.template.spec.containers")
    if not isinstance(containers, list) or not containers:
        yield "spec.template.spec.containers is required"
        return
    for index, container in enumerate(containers):
        for key in ("name", "image"):
            if not isinstance(container, dict) or not container.get(key):
                yield f"spec.template.spec.containers[{index}].{key} is required"
    labels = _get(obj, "spec.template.metadata.labels") or {}
    wanted = (selector or {}).get("matchLabels") or {} if isinstance(selector, dict) else {}
    if any(labels.get(k) != v for k, v in wanted.items()):
        yield "spec.selector.matchLabels does not match spec.template.metadata.labels"


def _service(obj: dict[str, Any]) -> Iterator[str]:
    ports = _get(obj, "spec.ports")
    if not isinstance(ports, list) or not ports:
        yield "spec.ports is required"
        return
    for index, port in enumerate(ports):
        if not isinstance(port, dict) or "port" not in port:
            yield f"spec.ports[{index}].port is required"


def _hpa(obj: dict[str, Any]) -> Iterator[str]:
    for path in ("spec.scaleTargetRef.kind", "spec.scaleTargetRef.name", "spec.maxReplicas"):
        if _get(obj, path) in (None, ""):
            yield f"{path} is required"
    low, high = _get(obj, "spec.minReplicas"), _get(obj, "spec.maxReplicas")
    if isinstance(low, int) and isinstance(high, int) and low > high:
        yield f"spec.minReplicas ({low}) is above spec.maxReplicas ({high})"


def _pdb(obj: dict[str, Any]) -> Iterator[str]:
    if not isinstance(_get(obj, "spec.selector"), dict):
        yield "spec.selector is required"
    spec = obj.get("spec") or {}
    if ("minAvailable" in spec) == ("maxUnavailable" in spec):
        yield "exactly one of spec.minAvailable and spec.maxUnavailable is required"


def _network_policy(obj: dict[str, Any]) -> Iterator[str]:
    if not isinstance(_get(obj, "spec.podSelector"), dict):
        yield "spec.podSelector is required (an empty {} selects every pod)"


def _secret(obj: dict[str, Any]) -> Iterator[str]:
    if obj.get("data") or obj.get("stringData"):
        yield (
            "a Secret with data must not be kept in git; the phase builds the Secret from AWS "
            "(app.secret in the runbook) — remove this file from the kustomization"
        )


def _service_monitor(obj: dict[str, Any]) -> Iterator[str]:
    if not isinstance(_get(obj, "spec.selector"), dict):
        yield "spec.selector is required"
    if not _get(obj, "spec.endpoints"):
        yield "spec.endpoints is required"


_REQUIRED = {
    "Deployment": _deployment,
    "Service": _service,
    "HorizontalPodAutoscaler": _hpa,
    "PodDisruptionBudget": _pdb,
    "NetworkPolicy": _network_policy,
    "Secret": _secret,
    "ServiceMonitor": _service_monitor,
}


def _service_problems(rendered: Rendered, app: AppSection) -> list[str]:
    service = rendered.find("Service", app.service)
    if service is None:
        return [f"{rendered.overlay}: no Service {app.service!r} (app.service) is rendered"]
    if service_port(rendered, app) is None:
        return [
            f"{service.source}: Service {app.service} has no port whose targetPort is "
            f"{app.port} (app.port), which the target group sends traffic to"
        ]
    return []


def service_port(rendered: Rendered, app: AppSection) -> int | None:
    """The Service port that reaches the app's container port (the binding names it)."""
    service = rendered.find("Service", app.service)
    if service is None:
        return None
    named = _container_ports(rendered, app)
    for port in _get(service.obj, "spec.ports") or []:
        target = port.get("targetPort", port.get("port"))
        number = named.get(target) if isinstance(target, str) else target
        if number == app.port:
            return int(port["port"])
    return None


def _container_ports(rendered: Rendered, app: AppSection) -> dict[str, int]:
    deployment = rendered.find("Deployment", app.deployment)
    found: dict[str, int] = {}
    for container in (
        _get(deployment.obj if deployment else {}, "spec.template.spec.containers") or []
    ):
        for port in container.get("ports") or []:
            if port.get("name"):
                found[str(port["name"])] = int(port["containerPort"])
    return found


def secret_keys_read(rendered: Rendered, app: AppSection) -> tuple[set[str], bool]:
    """Keys of the app's Secret the Deployment reads by ``secretKeyRef``, and whether it reads
    the whole Secret (``envFrom``), in which case every key of the source goes in."""
    deployment = rendered.find("Deployment", app.deployment)
    pod = _get(deployment.obj if deployment else {}, "spec.template.spec") or {}
    keys: set[str] = set()
    whole = False
    for container in [*(pod.get("containers") or []), *(pod.get("initContainers") or [])]:
        for env in container.get("env") or []:
            ref = _get(env, "valueFrom.secretKeyRef") or {}
            if ref.get("name") == app.secret.name and ref.get("key"):
                keys.add(str(ref["key"]))
        for source in container.get("envFrom") or []:
            if (source.get("secretRef") or {}).get("name") == app.secret.name:
                whole = True
    for volume in pod.get("volumes") or []:
        secret = volume.get("secret") or {}
        if secret.get("secretName") == app.secret.name:
            items = secret.get("items") or []
            keys.update(str(i["key"]) for i in items if i.get("key"))
            whole = whole or not items
    return keys, whole


# -- against the cluster's own schema ---------------------------------------------------------
class SchemaBook:
    """The cluster's OpenAPI v3 documents, fetched once per group/version."""

    def __init__(self, kube: KubeApi) -> None:
        self._kube = kube
        self._index: dict[str, str] | None = None
        self._docs: dict[str, dict[str, Any]] = {}

    def _paths(self) -> dict[str, str]:
        if self._index is None:
            root = self._kube.request("GET", "/openapi/v3", what="get OpenAPI v3 index")
            self._index = {
                str(path): str(entry.get("serverRelativeURL", f"/openapi/v3/{path}"))
                for path, entry in (root.get("paths") or {}).items()
            }
        return self._index

    def document(self, api_version: str) -> dict[str, Any] | None:
        key = "api/v1" if api_version == "v1" else f"apis/{api_version}"
        if key not in self._docs:
            url = self._paths().get(key)
            if url is None:
                return None
            path, _, query = url.partition("?")
            params = [(k, v) for k, _, v in (p.partition("=") for p in query.split("&") if p)]
            self._docs[key] = self._kube.request(
                "GET", path, query=params, what=f"get OpenAPI v3 {key}"
            )
        return self._docs[key]

    def schema(self, api_version: str, kind: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(the kind's schema, every component) or None when the cluster does not serve it."""
        doc = self.document(api_version)
        if doc is None:
            return None
        group, _, version = api_version.rpartition("/")
        components = (doc.get("components") or {}).get("schemas") or {}
        for schema in components.values():
            for gvk in schema.get("x-kubernetes-group-version-kind") or []:
                if (gvk.get("group", ""), gvk.get("version"), gvk.get("kind")) == (
                    group,
                    version,
                    kind,
                ):
                    return schema, components
        return None


def schema_problems(rendered: Rendered, book: SchemaBook) -> tuple[list[str], list[Manifest]]:
    """(problems, objects whose kind the cluster does not serve)."""
    problems: list[str] = []
    unserved: list[Manifest] = []
    for manifest in rendered.manifests:
        try:
            found = book.schema(manifest.api_version, manifest.kind)
        except CloudError as exc:
            problems.append(f"{manifest.source}: {manifest.ref}: schema unavailable: {exc}")
            continue
        if found is None:
            unserved.append(manifest)
            continue
        schema, components = found
        for where, message in _walk(manifest.obj, schema, components, ""):
            problems.append(f"{manifest.source}: {manifest.ref}: {where or '.'}: {message}")
    return problems, unserved


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    for _ in range(20):
        if "$ref" in schema:
            schema = components.get(str(schema["$ref"]).rsplit("/", 1)[-1], {})
        elif len(schema.get("allOf") or []) == 1 and "properties" not in schema:
            schema = schema["allOf"][0]
        else:
            break
    return schema


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def _walk(
    value: Any, schema: dict[str, Any], components: dict[str, Any], where: str
) -> Iterator[tuple[str, str]]:
    schema = _resolve(schema, components)
    if schema.get("x-kubernetes-preserve-unknown-fields") and "properties" not in schema:
        return
    if schema.get("x-kubernetes-int-or-string") or schema.get("format") == "int-or-string":
        if not isinstance(value, int | str) or isinstance(value, bool):
            yield where, f"expected an integer or a string, got {type(value).__name__}"
        return
    if "anyOf" in schema or "oneOf" in schema:
        return
    expected = schema.get("type")
    if isinstance(expected, str) and expected in _TYPES:
        ok = isinstance(value, _TYPES[expected])
        if expected in ("integer", "number") and isinstance(value, bool):
            ok = False
        if expected == "string" and isinstance(value, int | float) and not isinstance(value, bool):
            ok = True  # quantities (cpu: 1) decode from numbers as well as strings
        if not ok:
            yield where, f"expected {expected}, got {type(value).__name__}"
            return
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if where == "" and key == "status":
                continue
            if key in properties:
                yield from _walk(item, properties[key], components, path)
            elif isinstance(extra, dict):
                yield from _walk(item, extra, components, path)
            elif extra is True:
                continue
            elif properties and not schema.get("x-kubernetes-preserve-unknown-fields"):
                yield path, "unknown field"
        for key in schema.get("required") or []:
            if key not in value:
                yield where, f"required field {key!r} is missing"
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from _walk(item, schema["items"], components, f"{where}[{index}]")
