"""What the API server does to particular kinds on write, beyond defaults and validation.

Secrets fold ``stringData`` into base64 ``data``; Services get a cluster IP from the
service CIDR (EKS uses 172.20.0.0/16) and node ports; CRDs are accepted and established at
once and their resources registered; new Pods start Pending.
"""

from __future__ import annotations

import base64
import ipaddress
import random
import re
import threading
from typing import Any

from flexmigrate.sandbox.kube import errors as e
from flexmigrate.sandbox.kube.errors import ApiError
from flexmigrate.sandbox.kube.resources import ResourceType

Obj = dict[str, Any]

SERVICE_CIDR = ipaddress.ip_network("172.20.0.0/16")
KUBERNETES_SERVICE_IP = "172.20.0.1"
DNS_SERVICE_IP = "172.20.0.10"
_NODE_PORTS = range(30000, 32768)


class Admission:
    """Per-cluster allocations (service IPs, node ports) and the kind-specific mutations."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ips: set[str] = {KUBERNETES_SERVICE_IP, DNS_SERVICE_IP}
        self._node_ports: set[int] = set()
        # Addresses only need to look like an allocator's, not be unpredictable.
        self._random = random.Random()  # noqa: S311

    def mutate(self, rt: ResourceType, new: Obj, old: Obj | None, now: str) -> None:
        if rt.group == "" and rt.plural == "secrets":
            _fold_string_data(new)
        elif rt.group == "" and rt.plural == "services":
            self._service(new, old)
        elif rt.group == "" and rt.plural == "pods" and old is None:
            new["status"] = {"phase": "Pending", "qosClass": _qos(new)}
        elif rt.group == "apiextensions.k8s.io":
            new["status"] = crd_status(new, old, now)

    def release(self, rt: ResourceType, obj: Obj) -> None:
        if rt.group == "" and rt.plural == "services":
            spec = obj.get("spec") or {}
            with self._lock:
                self._ips.discard(str(spec.get("clusterIP", "")))
                for port in spec.get("ports") or []:
                    self._node_ports.discard(port.get("nodePort"))

    def _service(self, new: Obj, old: Obj | None) -> None:
        spec = new.setdefault("spec", {})
        old_spec = (old or {}).get("spec") or {}
        if spec.get("type") == "ExternalName":
            return
        wanted = spec.get("clusterIP") or ""
        previous = old_spec.get("clusterIP") or ""
        if previous and wanted and wanted != previous:
            raise e.invalid(
                "Service",
                "",
                new["metadata"]["name"],
                [e.invalid_value("spec.clusterIPs[0]", wanted, "may not change once set")],
            )
        if previous:
            spec["clusterIP"] = previous
        elif wanted and wanted != "None":
            self._claim_ip(new, wanted)
        elif not wanted:
            spec["clusterIP"] = self._allocate_ip()
        spec["clusterIPs"] = [spec["clusterIP"]]
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            old_ports = {p.get("port"): p.get("nodePort") for p in old_spec.get("ports") or []}
            for port in spec.get("ports") or []:
                if not port.get("nodePort"):
                    port["nodePort"] = old_ports.get(port.get("port")) or self._allocate_node_port()

    def _claim_ip(self, new: Obj, wanted: str) -> None:
        try:
            address = ipaddress.ip_address(wanted)
        except ValueError:
            address = None
        with self._lock:
            if address is None or address not in SERVICE_CIDR or wanted in self._ips:
                why = (
                    "provided IP is already allocated"
                    if address is not None and wanted in self._ips
                    else f"the provided IP ({wanted}) is not in the valid range. "
                    f"The range of valid IPs is {SERVICE_CIDR}"
                )
                raise e.invalid(
                    "Service",
                    "",
                    new["metadata"]["name"],
                    [
                        e.invalid_value(
                            "spec.clusterIPs", [wanted], f"failed to allocate IP {wanted}: {why}"
                        )
                    ],
                )
            self._ips.add(wanted)

    def _allocate_ip(self) -> str:
        with self._lock:
            size = SERVICE_CIDR.num_addresses
            while True:
                candidate = str(SERVICE_CIDR.network_address + self._random.randrange(11, size - 1))
                if candidate not in self._ips:
                    self._ips.add(candidate)
                    return candidate

    def _allocate_node_port(self) -> int:
        with self._lock:
            free = [p for p in _NODE_PORTS if p not in self._node_ports]
            if not free:
                raise ApiError(500, "InternalError", "range of valid node ports is exhausted")
            port = self._random.choice(free)
            self._node_ports.add(port)
            return port


def _fold_string_data(secret: Obj) -> None:
    string_data = secret.pop("stringData", None)
    if isinstance(string_data, dict):
        data = secret.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
    for key, value in (secret.get("data") or {}).items():
        try:
            base64.b64decode(str(value), validate=True)
        except ValueError as exc:
            raise e.bad_request(
                'Secret in version "v1" cannot be handled as a Secret: '
                f"illegal base64 data at input byte 0 (data[{key}])"
            ) from exc


def _qos(pod: Obj) -> str:
    containers = (pod.get("spec") or {}).get("containers") or []
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    if all(
        r.get("limits") and r.get("requests", r.get("limits")) == r.get("limits") for r in resources
    ):
        return "Guaranteed"
    return "Burstable"


def crd_status(crd: Obj, old: Obj | None, now: str) -> Obj:
    """Accepted names and the Established condition, as the apiextensions controllers set."""
    spec = crd.get("spec") or {}
    names = dict(spec.get("names") or {})
    previous = {c.get("type"): c for c in ((old or {}).get("status") or {}).get("conditions") or []}

    def condition(kind: str, reason: str, message: str) -> Obj:
        since = (previous.get(kind) or {}).get("lastTransitionTime") or now
        return {
            "type": kind,
            "status": "True",
            "reason": reason,
            "message": message,
            "lastTransitionTime": since,
        }

    storage = [v.get("name") for v in spec.get("versions") or [] if v.get("storage")]
    stored = list(((old or {}).get("status") or {}).get("storedVersions") or [])
    for version in storage:
        if version not in stored:
            stored.append(version)
    return {
        "acceptedNames": names,
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition(
                "Established", "InitialNamesAccepted", "the initial names have been accepted"
            ),
        ],
        "storedVersions": stored,
    }


def types_for_crd(crd: Obj) -> tuple[ResourceType, ...]:
    """The resource types a CRD serves, preferred version first."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    kind = str(names.get("kind", ""))
    storage = next((str(v.get("name")) for v in spec.get("versions") or [] if v.get("storage")), "")
    types = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        types.append(
            ResourceType(
                group=str(spec.get("group", "")),
                version=str(version.get("name")),
                plural=str(names.get("plural", "")),
                singular=str(names.get("singular") or kind.lower()),
                kind=kind,
                namespaced=spec.get("scope") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=tuple(s for s in ("status", "scale") if s in subresources),
                crd_schema=(version.get("schema") or {}).get("openAPIV3Schema"),
                printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
                has_generation=True,
                storage_version=storage,
            )
        )
    types.sort(key=lambda rt: version_priority(rt.version))
    return tuple(types)


def version_priority(version: str) -> tuple[int, int, int]:
    """Sort key putting v2 before v1 before v1beta2 before v1beta1 before v1alpha1."""
    match = re.match(r"^v(\d+)(?:(alpha|beta)(\d+))?$", version)
    if not match:
        return (3, 0, 0)
    major = int(match.group(1))
    stage = {"beta": 1, "alpha": 2}.get(match.group(2) or "", 0)
    minor = int(match.group(3) or 0)
    return (stage, -major, -minor)
