"""The resource types the emulator serves: built-in kinds plus those CRDs add at run time.

Discovery, routing, validation and tables all read this one registry, so a CRD created
through the API shows up everywhere at once (kubectl's ``get targetgroupbindings`` works the
moment the CRD's status says Established), and disappears everywhere when it is deleted.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
_CREATE_ONLY = ("create",)


@dataclass(frozen=True)
class ResourceType:
    """One resource of one group/version, as discovery describes it."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    model: str | None = None  # the official client's model class, for built-in kinds
    crd_schema: Any = None  # openAPIV3Schema of a CRD version
    printer_columns: tuple[Any, ...] = ()
    has_generation: bool = False
    virtual: bool = False  # create-only reviews: answered, never stored
    storage_version: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        """Objects are stored once per group and plural, whatever version is asked for."""
        return (self.group, self.plural)

    @property
    def is_custom(self) -> bool:
        return self.model is None and not self.virtual

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


def _core(
    plural: str,
    kind: str,
    model: str,
    *,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    all_: bool = False,
    sub: tuple[str, ...] = (),
    singular: str | None = None,
    generation: bool = False,
    group: str = "",
    version: str = "v1",
) -> ResourceType:
    return ResourceType(
        group=group,
        version=version,
        plural=plural,
        singular=singular or kind.lower(),
        kind=kind,
        namespaced=namespaced,
        short_names=short,
        categories=("all",) if all_ else (),
        subresources=sub,
        model=model,
        has_generation=generation,
    )


_APPS = "apps"
_NET = "networking.k8s.io"
_RBAC = "rbac.authorization.k8s.io"
_HOOKS = "admissionregistration.k8s.io"
_STATUS = ("status",)

BUILTIN: tuple[ResourceType, ...] = (
    _core("namespaces", "Namespace", "V1Namespace", namespaced=False, short=("ns",),
          sub=("status", "finalize")),
    _core("services", "Service", "V1Service", short=("svc",), all_=True, sub=_STATUS),
    _core("configmaps", "ConfigMap", "V1ConfigMap", short=("cm",)),
    _core("secrets", "Secret", "V1Secret"),
    _core("serviceaccounts", "ServiceAccount", "V1ServiceAccount", short=("sa",)),
    _core("pods", "Pod", "V1Pod", short=("po",), all_=True, sub=("status", "log")),
    _core("endpoints", "Endpoints", "V1Endpoints", short=("ep",), singular="endpoints"),
    _core("events", "Event", "CoreV1Event", short=("ev",)),
    _core("nodes", "Node", "V1Node", namespaced=False, short=("no",), sub=_STATUS),
    _core("deployments", "Deployment", "V1Deployment", short=("deploy",), all_=True,
          sub=("status", "scale"), generation=True, group=_APPS),
    _core("replicasets", "ReplicaSet", "V1ReplicaSet", short=("rs",), all_=True,
          sub=("status", "scale"), generation=True, group=_APPS),
    _core("daemonsets", "DaemonSet", "V1DaemonSet", short=("ds",), all_=True,
          sub=_STATUS, generation=True, group=_APPS),
    _core("statefulsets", "StatefulSet", "V1StatefulSet", short=("sts",), all_=True,
          sub=("status", "scale"), generation=True, group=_APPS),
    _core("horizontalpodautoscalers", "HorizontalPodAutoscaler", "V2HorizontalPodAutoscaler",
          short=("hpa",), all_=True, sub=_STATUS, group="autoscaling", version="v2"),
    _core("poddisruptionbudgets", "PodDisruptionBudget", "V1PodDisruptionBudget",
          short=("pdb",), sub=_STATUS, generation=True, group="policy"),
    _core("ingresses", "Ingress", "V1Ingress", short=("ing",), sub=_STATUS,
          generation=True, group=_NET),
    _core("ingressclasses", "IngressClass", "V1IngressClass", namespaced=False,
          generation=True, group=_NET),
    _core("networkpolicies", "NetworkPolicy", "V1NetworkPolicy", short=("netpol",),
          generation=True, group=_NET),
    _core("roles", "Role", "V1Role", group=_RBAC),
    _core("rolebindings", "RoleBinding", "V1RoleBinding", group=_RBAC),
    _core("clusterroles", "ClusterRole", "V1ClusterRole", namespaced=False, group=_RBAC),
    _core("clusterrolebindings", "ClusterRoleBinding", "V1ClusterRoleBinding",
          namespaced=False, group=_RBAC),
    _core("customresourcedefinitions", "CustomResourceDefinition", "V1CustomResourceDefinition",
          namespaced=False, short=("crd", "crds"), sub=_STATUS, generation=True,
          group="apiextensions.k8s.io"),
    _core("mutatingwebhookconfigurations", "MutatingWebhookConfiguration",
          "V1MutatingWebhookConfiguration", namespaced=False, generation=True, group=_HOOKS),
    _core("validatingwebhookconfigurations", "ValidatingWebhookConfiguration",
          "V1ValidatingWebhookConfiguration", namespaced=False, generation=True, group=_HOOKS),
    _core("apiservices", "APIService", "V1APIService", namespaced=False, sub=_STATUS,
          group="apiregistration.k8s.io"),
    _core("leases", "Lease", "V1Lease", group="coordination.k8s.io"),
    _core("endpointslices", "EndpointSlice", "V1EndpointSlice", group="discovery.k8s.io"),
    ResourceType("authorization.k8s.io", "v1", "selfsubjectaccessreviews",
                 "selfsubjectaccessreview", "SelfSubjectAccessReview", False,
                 verbs=_CREATE_ONLY, model="V1SelfSubjectAccessReview", virtual=True),
    ResourceType("authentication.k8s.io", "v1", "selfsubjectreviews", "selfsubjectreview",
                 "SelfSubjectReview", False, verbs=_CREATE_ONLY, model="V1SelfSubjectReview",
                 virtual=True),
)  # fmt: skip


def preferred_group_order() -> list[str]:
    """Groups in the order a real server lists them (clients resolve short names in order)."""
    order: list[str] = []
    for rt in BUILTIN:
        if rt.group not in order:
            order.append(rt.group)
    return order


@dataclass
class Registry:
    """Thread-safe set of served types; CRD types are replaced wholesale on every change."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _custom: dict[str, tuple[ResourceType, ...]] = field(default_factory=dict)
    generation: int = 0

    def all(self) -> list[ResourceType]:
        with self._lock:
            custom = [rt for types in self._custom.values() for rt in types]
        return [*BUILTIN, *custom]

    def set_custom(self, crd_name: str, types: tuple[ResourceType, ...]) -> None:
        with self._lock:
            if self._custom.get(crd_name) != types:
                self._custom[crd_name] = types
                self.generation += 1

    def remove_custom(self, crd_name: str) -> None:
        with self._lock:
            if self._custom.pop(crd_name, None) is not None:
                self.generation += 1

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        for rt in self.all():
            if rt.group == group and rt.version == version and rt.plural == plural:
                return rt
        return None

    def storage_type(self, key: tuple[str, str]) -> ResourceType | None:
        """The type whose version objects of ``key`` are stored under."""
        candidates = [rt for rt in self.all() if rt.key == key]
        for rt in candidates:
            if not rt.storage_version or rt.storage_version == rt.version:
                return rt
        return candidates[0] if candidates else None

    def groups(self) -> Iterator[tuple[str, list[str]]]:
        """Each group with its versions, preferred version first."""
        seen: dict[str, list[str]] = {}
        for rt in self.all():
            versions = seen.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        yield from seen.items()
