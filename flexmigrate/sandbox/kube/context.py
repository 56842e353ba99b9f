"""What every simulated controller reads and writes through during one reconcile pass."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flexmigrate.sandbox.faults import FaultBoard, Faults
from flexmigrate.sandbox.kube.cluster import Cluster
from flexmigrate.sandbox.kube.config import EmulatorConfig
from flexmigrate.sandbox.kube.errors import ApiError
from flexmigrate.sandbox.kube.events import EventRecorder
from flexmigrate.sandbox.kube.options import DeleteOptions, WriteOptions
from flexmigrate.sandbox.kube.resources import ResourceType

Obj = dict[str, Any]

_TYPES = {
    "namespaces": ("", "v1"),
    "pods": ("", "v1"),
    "services": ("", "v1"),
    "endpoints": ("", "v1"),
    "events": ("", "v1"),
    "endpointslices": ("discovery.k8s.io", "v1"),
    "serviceaccounts": ("", "v1"),
    "configmaps": ("", "v1"),
    "deployments": ("apps", "v1"),
    "replicasets": ("apps", "v1"),
    "horizontalpodautoscalers": ("autoscaling", "v2"),
    "poddisruptionbudgets": ("policy", "v1"),
}


@dataclass
class Context:
    cluster: Cluster
    config: EmulatorConfig
    recorder: EventRecorder
    ca_pem: bytes
    now: float = 0.0
    wake: list[float] = field(default_factory=list)
    clock: Callable[[], float] = time.time

    def rt(self, plural: str) -> ResourceType:
        group, version = _TYPES[plural]
        found = self.cluster.registry.lookup(group, version, plural)
        if found is None:
            raise KeyError(plural)
        return found

    def faults(self) -> Faults:
        board: FaultBoard | None = self.config.faults
        return board.get() if board is not None else Faults()

    def objects(self, plural: str, namespace: str | None = None) -> list[Obj]:
        rt = self.rt(plural)
        return self.cluster.store.objects(rt.key, namespace)

    def wake_at(self, when: float) -> None:
        self.wake.append(when)

    def create(self, plural: str, body: Obj, manager: str) -> Obj | None:
        rt = self.rt(plural)
        namespace = body["metadata"].get("namespace", "")
        try:
            return self.cluster.create(
                rt, namespace, body, WriteOptions(manager=manager, validation="Ignore")
            ).obj
        except ApiError:
            return None

    def update(self, plural: str, obj: Obj, manager: str, subresource: str = "") -> Obj | None:
        return self.write(self.rt(plural), obj, manager, subresource)

    def write(self, rt: ResourceType, obj: Obj, manager: str, subresource: str = "") -> Obj | None:
        """Update ``obj``; None when the write is refused (the next pass tries again)."""
        meta = obj["metadata"]
        opts = WriteOptions(manager=manager, validation="Ignore")
        try:
            return self.cluster.update(
                rt, meta.get("namespace", ""), meta["name"], obj, opts, subresource
            ).obj
        except ApiError:
            return None

    def set_status(self, plural: str, obj: Obj, status: Obj, manager: str) -> Obj:
        if obj.get("status") == status:
            return obj
        updated = self.update(plural, {**obj, "status": status}, manager, "status")
        return updated if updated is not None else obj

    def delete(self, rt: ResourceType, obj: Obj, propagation: str = "Background") -> None:
        meta = obj["metadata"]
        try:
            self.cluster.delete(
                rt, meta.get("namespace", ""), meta["name"], DeleteOptions(propagation=propagation)
            )
        except ApiError:
            return

    def event(
        self, involved: Obj, reason: str, message: str, component: str, warning: bool = False
    ) -> None:
        self.recorder.record(
            involved, reason, message, component=component, warning=warning, now=self.now
        )
