"""Semantic validation of objects (422 Invalid), the checks clients rely on a server making.

Names must be valid for their kind, required fields present, a Deployment's selector must
match its template's labels, and so on; custom objects are checked against their CRD's
schema (types, required, enum, bounds). Each failure names the field, so kubectl prints the
same ``is invalid:`` line a real cluster gives.
"""

from __future__ import annotations

import re
from typing import Any

from flexmigrate.sandbox.kube import errors as e
from flexmigrate.sandbox.kube.crd_validation import crd_schema_errors
from flexmigrate.sandbox.kube.errors import FieldError
from flexmigrate.sandbox.kube.label_selectors import match_label_selector, selector_is_empty
from flexmigrate.sandbox.kube.naming import LABEL_MSG, label_errors, name_errors
from flexmigrate.sandbox.kube.resources import ResourceType
from flexmigrate.sandbox.kube.schema import Node

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_IANA_SVC = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_CONFIG_KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
    "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
    "'[-._a-zA-Z0-9]+')"
)


def validate(rt: ResourceType, obj: dict[str, Any], node: Node) -> list[FieldError]:
    """Every problem with ``obj`` (empty when valid)."""
    meta = obj.get("metadata") or {}
    problems: list[FieldError] = []
    name = meta.get("name") or ""
    if not name:
        problems.append(
            e.FieldError(
                "metadata.name",
                "FieldValueRequired",
                "Required value: name or generateName is required",
            )
        )
    else:
        problems += name_errors(rt, name)
    problems += label_errors("metadata.labels", meta.get("labels"), values_too=True)
    problems += label_errors("metadata.annotations", meta.get("annotations"), values_too=False)
    if rt.is_custom:
        problems += crd_schema_errors(obj, rt.crd_schema)
    else:
        problems += _required(obj, node, "")
        check = _CHECKS.get(rt.plural)
        if check is not None:
            problems += check(obj)
    return problems


def _required(value: Any, node: Node, path: str) -> list[FieldError]:
    out: list[FieldError] = []
    if node.kind == "list" and isinstance(value, list) and node.value is not None:
        for index, item in enumerate(value):
            out += _required(item, node.value, f"{path}[{index}]")
    elif node.kind == "map" and isinstance(value, dict) and node.value is not None:
        for key, item in value.items():
            out += _required(item, node.value, f"{path}[{key}]")
    elif node.kind == "struct" and isinstance(value, dict):
        for field in node.required:
            if value.get(field) is None:
                out.append(e.required(f"{path}.{field}" if path else field))
        for key, item in value.items():
            child = node.fields.get(key)
            if child is not None and key != "metadata":
                out += _required(item, child, f"{path}.{key}" if path else key)
    return out


def _pod_spec(spec: Any, path: str, template: bool) -> list[FieldError]:
    out: list[FieldError] = []
    if not isinstance(spec, dict):
        return [e.required(path)]
    containers = spec.get("containers")
    if not containers:
        out.append(e.required(f"{path}.containers"))
    names: set[str] = set()
    for list_name in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(list_name) or []):
            field = f"{path}.{list_name}[{index}]"
            name = container.get("name") or ""
            if name and not _LABEL.match(name):
                out.append(e.invalid_value(f"{field}.name", name, LABEL_MSG))
            elif name in names:
                out.append(e.duplicate(f"{field}.name", name))
            names.add(name)
            if not container.get("image"):
                out.append(e.required(f"{field}.image"))
            for p_index, port in enumerate(container.get("ports") or []):
                number = port.get("containerPort")
                if isinstance(number, int) and not 0 < number < 65536:
                    out.append(
                        e.invalid_value(
                            f"{field}.ports[{p_index}].containerPort",
                            number,
                            "must be between 1 and 65535, inclusive",
                        )
                    )
    if template and spec.get("restartPolicy") not in (None, "Always"):
        out.append(
            e.unsupported_value(f"{path}.restartPolicy", spec.get("restartPolicy"), ["Always"])
        )
    return out


def _workload(obj: dict[str, Any]) -> list[FieldError]:
    spec = obj.get("spec") or {}
    out: list[FieldError] = []
    selector = spec.get("selector")
    if selector is not None and selector_is_empty(selector):
        out.append(
            e.invalid_value("spec.selector", selector, "empty selector is invalid for deployment")
        )
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if selector and not selector_is_empty(selector) and not match_label_selector(selector, labels):
        out.append(
            e.invalid_value(
                "spec.template.metadata.labels",
                labels,
                "`selector` does not match template `labels`",
            )
        )
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        out.append(e.invalid_value("spec.replicas", replicas, "must be greater than or equal to 0"))
    strategy = (spec.get("strategy") or {}).get("type")
    if strategy not in (None, "RollingUpdate", "Recreate") and obj.get("kind") == "Deployment":
        out.append(
            e.unsupported_value("spec.strategy.type", strategy, ["Recreate", "RollingUpdate"])
        )
    if "template" in spec:
        out += _pod_spec(template.get("spec"), "spec.template.spec", template=True)
    return out


def _pod(obj: dict[str, Any]) -> list[FieldError]:
    return _pod_spec(obj.get("spec"), "spec", template=False)


def _service(obj: dict[str, Any]) -> list[FieldError]:
    spec = obj.get("spec") or {}
    out: list[FieldError] = []
    kind = spec.get("type") or "ClusterIP"
    if kind not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        out.append(
            e.unsupported_value(
                "spec.type", kind, ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
            )
        )
    ports = spec.get("ports") or []
    if not ports and kind != "ExternalName" and spec.get("clusterIP") != "None":
        out.append(e.required("spec.ports"))
    names: set[str] = set()
    for index, port in enumerate(ports):
        field = f"spec.ports[{index}]"
        number = port.get("port")
        if isinstance(number, int) and not 0 < number < 65536:
            out.append(
                e.invalid_value(f"{field}.port", number, "must be between 1 and 65535, inclusive")
            )
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            out.append(e.required(f"{field}.name"))
        elif name in names:
            out.append(e.duplicate(f"{field}.name", name))
        names.add(name)
        target = port.get("targetPort")
        if isinstance(target, int) and not 0 < target < 65536:
            out.append(
                e.invalid_value(
                    f"{field}.targetPort", target, "must be between 1 and 65535, inclusive"
                )
            )
        if isinstance(target, str) and not target.isdigit() and not _IANA_SVC.match(target):
            out.append(
                e.invalid_value(
                    f"{field}.targetPort",
                    target,
                    "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                )
            )
        if port.get("protocol", "TCP") not in ("TCP", "UDP", "SCTP"):
            out.append(
                e.unsupported_value(
                    f"{field}.protocol", port.get("protocol"), ["SCTP", "TCP", "UDP"]
                )
            )
    return out


def _config_keys(obj: dict[str, Any]) -> list[FieldError]:
    out: list[FieldError] = []
    for section in ("data", "binaryData", "stringData"):
        for key in obj.get(section) or {}:
            if not _CONFIG_KEY.match(key):
                out.append(
                    e.invalid_value(
                        f"{section}[{key}]",
                        key,
                        _CONFIG_KEY_MSG,
                    )
                )
    return out


def _hpa(obj: dict[str, Any]) -> list[FieldError]:
    spec = obj.get("spec") or {}
    out: list[FieldError] = []
    high = spec.get("maxReplicas")
    low = spec.get("minReplicas")
    if isinstance(high, int) and high < 1:
        out.append(e.invalid_value("spec.maxReplicas", high, "must be greater than 0"))
    if isinstance(low, int) and low < 1:
        out.append(e.invalid_value("spec.minReplicas", low, "must be greater than or equal to 1"))
    if isinstance(low, int) and isinstance(high, int) and low > high:
        out.append(
            e.invalid_value("spec.minReplicas", low, "must be less than or equal to maxReplicas")
        )
    return out


def _pdb(obj: dict[str, Any]) -> list[FieldError]:
    spec = obj.get("spec") or {}
    if "minAvailable" in spec and "maxUnavailable" in spec:
        return [e.invalid_value("spec", spec, "minAvailable and maxUnavailable cannot be both set")]
    return []


def _crd(obj: dict[str, Any]) -> list[FieldError]:
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    out: list[FieldError] = []
    group = spec.get("group") or ""
    plural = names.get("plural") or ""
    if group and plural and (obj.get("metadata") or {}).get("name") != f"{plural}.{group}":
        out.append(
            e.invalid_value(
                "metadata.name",
                obj["metadata"].get("name"),
                'must be spec.names.plural+"."+spec.group',
            )
        )
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        out.append(e.unsupported_value("spec.scope", spec.get("scope"), ["Cluster", "Namespaced"]))
    versions = spec.get("versions") or []
    if not versions:
        out.append(e.required("spec.versions"))
    elif sum(1 for v in versions if v.get("storage")) != 1:
        out.append(
            e.invalid_value(
                "spec.versions", "", "must have exactly one version marked as storage version"
            )
        )
    for index, version in enumerate(versions):
        if not ((version.get("schema") or {}).get("openAPIV3Schema")):
            out.append(
                e.FieldError(
                    f"spec.versions[{index}].schema.openAPIV3Schema",
                    "FieldValueRequired",
                    "Required value: schemas are required",
                )
            )
    return out


_CHECKS = {
    "deployments": _workload,
    "replicasets": _workload,
    "statefulsets": _workload,
    "daemonsets": _workload,
    "pods": _pod,
    "services": _service,
    "configmaps": _config_keys,
    "secrets": _config_keys,
    "horizontalpodautoscalers": _hpa,
    "poddisruptionbudgets": _pdb,
    "customresourcedefinitions": _crd,
}
