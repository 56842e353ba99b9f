"""Table columns of the built-in kinds, as kube-apiserver's printers define them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flexmigrate.sandbox.kube.label_selectors import selector_string
from flexmigrate.sandbox.kube.meta import human_duration, parse_timestamp

Obj = dict[str, Any]
Column = tuple[str, str, int, Callable[[Obj, float], Any]]  # name, type, priority, cell


def age(obj: Obj, now: float) -> str:
    created = parse_timestamp((obj.get("metadata") or {}).get("creationTimestamp"))
    return "<unknown>" if created is None else human_duration(now - created)


def _name(obj: Obj, _now: float) -> str:
    return str(obj["metadata"].get("name", ""))


def field_at(obj: Any, *path: str, default: Any = None) -> Any:
    for part in path:
        if not isinstance(obj, dict):
            return default
        obj = obj.get(part)
    return default if obj is None else obj


def _text(obj: Obj, *path: str) -> Any:
    return field_at(obj, *path, default="<none>")


def _images(obj: Obj, key: str) -> str:
    containers = field_at(obj, "spec", "template", "spec", "containers", default=[])
    return ",".join(str(c.get(key, "")) for c in containers)


def _ready_pods(pod: Obj) -> str:
    statuses = field_at(pod, "status", "containerStatuses", default=[])
    total = len(field_at(pod, "spec", "containers", default=[]))
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def _pod_status(pod: Obj) -> str:
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    for status in field_at(pod, "status", "containerStatuses", default=[]):
        waiting = field_at(status, "state", "waiting", "reason")
        if waiting:
            return str(waiting)
    return str(field_at(pod, "status", "phase", default="Pending"))


def _service_ports(svc: Obj) -> str:
    ports = []
    for port in field_at(svc, "spec", "ports", default=[]):
        text = f"{port.get('port')}"
        if port.get("nodePort"):
            text += f":{port['nodePort']}"
        ports.append(f"{text}/{port.get('protocol', 'TCP')}")
    return ",".join(ports) or "<none>"


def _external_ip(svc: Obj) -> str:
    ingress = field_at(svc, "status", "loadBalancer", "ingress", default=[])
    found = [i.get("hostname") or i.get("ip") for i in ingress]
    if found:
        return ",".join(str(f) for f in found)
    return "<pending>" if field_at(svc, "spec", "type") == "LoadBalancer" else "<none>"


def _endpoints(ep: Obj) -> str:
    addresses = []
    for subset in ep.get("subsets") or []:
        for address in subset.get("addresses") or []:
            for port in subset.get("ports") or [{}]:
                addresses.append(
                    f"{address.get('ip')}:{port.get('port')}" if port else address.get("ip")
                )
    if not addresses:
        return "<none>"
    shown = ",".join(str(a) for a in addresses[:3])
    return shown + (f" + {len(addresses) - 3} more..." if len(addresses) > 3 else "")


def _slice_ports(slice_: Obj) -> str:
    ports = [str(p.get("port")) for p in slice_.get("ports") or []]
    return ",".join(ports) or "<unset>"


def _slice_endpoints(slice_: Obj) -> str:
    addresses = [a for e in slice_.get("endpoints") or [] for a in e.get("addresses") or []]
    if not addresses:
        return "<unset>"
    shown = ",".join(addresses[:3])
    return shown + (f" + {len(addresses) - 3} more..." if len(addresses) > 3 else "")


def _hpa_targets(hpa: Obj) -> str:
    parts = []
    current = {
        (field_at(m, "resource", "name")): m
        for m in field_at(hpa, "status", "currentMetrics", default=[])
    }
    for metric in field_at(hpa, "spec", "metrics", default=[]):
        name = field_at(metric, "resource", "name")
        target = field_at(metric, "resource", "target", "averageUtilization")
        seen = field_at(current.get(name) or {}, "resource", "current", "averageUtilization")
        if target is not None:
            parts.append(f"{name}: {'<unknown>' if seen is None else f'{seen}%'}/{target}%")
    return ", ".join(parts) or "<none>"


def _event_object(ev: Obj) -> str:
    involved = ev.get("involvedObject") or {}
    return f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"


def _last_seen(ev: Obj, now: float) -> str:
    when = parse_timestamp(
        ev.get("lastTimestamp") or ev.get("eventTime") or ev["metadata"].get("creationTimestamp")
    )
    return "<unknown>" if when is None else human_duration(now - when)


NAME: Column = ("Name", "string", 0, _name)
AGE: Column = ("Age", "string", 0, age)
COLUMNS: dict[str, list[Column]] = {
    "namespaces": [
        NAME,
        ("Status", "string", 0, lambda o, _n: field_at(o, "status", "phase", default="")),
        AGE,
    ],
    "deployments": [
        NAME,
        (
            "Ready",
            "string",
            0,
            lambda o, _n: (
                f"{field_at(o, 'status', 'readyReplicas', default=0)}/"
                f"{field_at(o, 'spec', 'replicas', default=0)}"
            ),
        ),
        (
            "Up-to-date",
            "integer",
            0,
            lambda o, _n: field_at(o, "status", "updatedReplicas", default=0),
        ),
        (
            "Available",
            "integer",
            0,
            lambda o, _n: field_at(o, "status", "availableReplicas", default=0),
        ),
        AGE,
        ("Containers", "string", 1, lambda o, _n: _images(o, "name")),
        ("Images", "string", 1, lambda o, _n: _images(o, "image")),
        ("Selector", "string", 1, lambda o, _n: selector_string(field_at(o, "spec", "selector"))),
    ],
    "replicasets": [
        NAME,
        ("Desired", "integer", 0, lambda o, _n: field_at(o, "spec", "replicas", default=0)),
        ("Current", "integer", 0, lambda o, _n: field_at(o, "status", "replicas", default=0)),
        ("Ready", "integer", 0, lambda o, _n: field_at(o, "status", "readyReplicas", default=0)),
        AGE,
        ("Containers", "string", 1, lambda o, _n: _images(o, "name")),
        ("Images", "string", 1, lambda o, _n: _images(o, "image")),
    ],
    "pods": [
        NAME,
        ("Ready", "string", 0, lambda o, _n: _ready_pods(o)),
        ("Status", "string", 0, lambda o, _n: _pod_status(o)),
        (
            "Restarts",
            "string",
            0,
            lambda o, _n: str(
                sum(
                    s.get("restartCount", 0)
                    for s in field_at(o, "status", "containerStatuses", default=[])
                )
            ),
        ),
        AGE,
        ("IP", "string", 1, lambda o, _n: field_at(o, "status", "podIP", default="<none>")),
        ("Node", "string", 1, lambda o, _n: field_at(o, "spec", "nodeName", default="<none>")),
        ("Nominated Node", "string", 1, lambda o, _n: "<none>"),
        ("Readiness Gates", "string", 1, lambda o, _n: "<none>"),
    ],
    "services": [
        NAME,
        ("Type", "string", 0, lambda o, _n: field_at(o, "spec", "type", default="")),
        (
            "Cluster-IP",
            "string",
            0,
            lambda o, _n: field_at(o, "spec", "clusterIP", default="<none>"),
        ),
        ("External-IP", "string", 0, lambda o, _n: _external_ip(o)),
        ("Port(s)", "string", 0, lambda o, _n: _service_ports(o)),
        AGE,
        (
            "Selector",
            "string",
            1,
            lambda o, _n: (
                ",".join(
                    f"{k}={v}"
                    for k, v in sorted((field_at(o, "spec", "selector", default={})).items())
                )
                or "<none>"
            ),
        ),
    ],
    "configmaps": [
        NAME,
        (
            "Data",
            "integer",
            0,
            lambda o, _n: len(o.get("data") or {}) + len(o.get("binaryData") or {}),
        ),
        AGE,
    ],
    "secrets": [
        NAME,
        ("Type", "string", 0, lambda o, _n: o.get("type", "")),
        ("Data", "integer", 0, lambda o, _n: len(o.get("data") or {})),
        AGE,
    ],
    "serviceaccounts": [
        NAME,
        ("Secrets", "integer", 0, lambda o, _n: len(o.get("secrets") or [])),
        AGE,
    ],
    "endpoints": [NAME, ("Endpoints", "string", 0, lambda o, _n: _endpoints(o)), AGE],
    "endpointslices": [
        NAME,
        ("AddressType", "string", 0, lambda o, _n: o.get("addressType", "")),
        ("Ports", "string", 0, lambda o, _n: _slice_ports(o)),
        ("Endpoints", "string", 0, lambda o, _n: _slice_endpoints(o)),
        AGE,
    ],
    "events": [
        ("Last Seen", "string", 0, _last_seen),
        ("Type", "string", 0, lambda o, _n: o.get("type", "")),
        ("Reason", "string", 0, lambda o, _n: o.get("reason", "")),
        ("Object", "string", 0, lambda o, _n: _event_object(o)),
        ("Message", "string", 0, lambda o, _n: o.get("message", "")),
    ],
    "horizontalpodautoscalers": [
        NAME,
        (
            "Reference",
            "string",
            0,
            lambda o, _n: (
                f"{field_at(o, 'spec', 'scaleTargetRef', 'kind')}/"
                f"{field_at(o, 'spec', 'scaleTargetRef', 'name')}"
            ),
        ),
        ("Targets", "string", 0, lambda o, _n: _hpa_targets(o)),
        (
            "MinPods",
            "string",
            0,
            lambda o, _n: str(field_at(o, "spec", "minReplicas", default="<unset>")),
        ),
        ("MaxPods", "integer", 0, lambda o, _n: field_at(o, "spec", "maxReplicas", default=0)),
        (
            "Replicas",
            "integer",
            0,
            lambda o, _n: field_at(o, "status", "currentReplicas", default=0),
        ),
        AGE,
    ],
    "poddisruptionbudgets": [
        NAME,
        (
            "Min Available",
            "string",
            0,
            lambda o, _n: str(field_at(o, "spec", "minAvailable", default="N/A")),
        ),
        (
            "Max Unavailable",
            "string",
            0,
            lambda o, _n: str(field_at(o, "spec", "maxUnavailable", default="N/A")),
        ),
        (
            "Allowed Disruptions",
            "integer",
            0,
            lambda o, _n: field_at(o, "status", "disruptionsAllowed", default=0),
        ),
        AGE,
    ],
    "networkpolicies": [
        NAME,
        (
            "Pod-Selector",
            "string",
            0,
            lambda o, _n: selector_string(field_at(o, "spec", "podSelector")) or "<none>",
        ),
        AGE,
    ],
    "ingresses": [
        NAME,
        (
            "Class",
            "string",
            0,
            lambda o, _n: field_at(o, "spec", "ingressClassName", default="<none>"),
        ),
        (
            "Hosts",
            "string",
            0,
            lambda o, _n: (
                ",".join(str(r.get("host", "*")) for r in field_at(o, "spec", "rules", default=[]))
                or "*"
            ),
        ),
        (
            "Address",
            "string",
            0,
            lambda o, _n: ",".join(
                str(i.get("hostname") or i.get("ip"))
                for i in field_at(o, "status", "loadBalancer", "ingress", default=[])
            ),
        ),
        ("Ports", "string", 0, lambda o, _n: "80, 443" if field_at(o, "spec", "tls") else "80"),
        AGE,
    ],
    "ingressclasses": [
        NAME,
        ("Controller", "string", 0, lambda o, _n: field_at(o, "spec", "controller", default="")),
        ("Parameters", "string", 0, lambda o, _n: "<none>"),
        AGE,
    ],
    "customresourcedefinitions": [
        NAME,
        ("Created At", "date", 0, lambda o, _n: o["metadata"].get("creationTimestamp", "")),
    ],
    "rolebindings": [
        NAME,
        (
            "Role",
            "string",
            0,
            lambda o, _n: f"{field_at(o, 'roleRef', 'kind')}/{field_at(o, 'roleRef', 'name')}",
        ),
        AGE,
    ],
    "clusterrolebindings": [
        NAME,
        (
            "Role",
            "string",
            0,
            lambda o, _n: f"{field_at(o, 'roleRef', 'kind')}/{field_at(o, 'roleRef', 'name')}",
        ),
        AGE,
    ],
    "roles": [
        NAME,
        ("Created At", "date", 0, lambda o, _n: o["metadata"].get("creationTimestamp", "")),
    ],
    "clusterroles": [
        NAME,
        ("Created At", "date", 0, lambda o, _n: o["metadata"].get("creationTimestamp", "")),
    ],
}
