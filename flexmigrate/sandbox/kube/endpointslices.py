"""The EndpointSlice controller: one slice per selector Service, owned by the Service.

``kubectl describe service`` reads endpoints from slices (``discovery.k8s.io/v1``), as do
newer controllers; each slice lists the pods' addresses with ready/serving/terminating
conditions and the resolved target ports.
"""

from __future__ import annotations

from typing import Any

from flexmigrate.sandbox.kube.context import Context
from flexmigrate.sandbox.kube.meta import clone, controller_ref, is_deleting, name_of, pod_ready

Obj = dict[str, Any]
SERVICE_LABEL = "kubernetes.io/service-name"
_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
_CONTROLLER = "endpointslice-controller.k8s.io"
_MANAGER = "endpointslice-controller"


def _endpoint(pod: Obj) -> Obj:
    meta = pod["metadata"]
    ready = pod_ready(pod)
    return {
        "addresses": [pod["status"]["podIP"]],
        "conditions": {"ready": ready, "serving": ready, "terminating": False},
        "nodeName": (pod.get("spec") or {}).get("nodeName"),
        "targetRef": {
            "kind": "Pod",
            "namespace": meta.get("namespace"),
            "name": meta["name"],
            "uid": meta.get("uid"),
        },
    }


def sync_slice(ctx: Context, service: Obj, pods: list[Obj], ports: list[Obj]) -> None:
    """Make the Service's slice list ``pods`` (already selected and sorted) on ``ports``."""
    namespace = service["metadata"].get("namespace", "")
    existing = [
        s
        for s in ctx.objects("endpointslices", namespace)
        if (s["metadata"].get("labels") or {}).get(SERVICE_LABEL) == name_of(service)
        and (s["metadata"].get("labels") or {}).get(_MANAGED_BY) == _CONTROLLER
    ]
    endpoints = [_endpoint(p) for p in pods]
    if not existing:
        if is_deleting(service):
            return
        body = {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "generateName": f"{name_of(service)}-",
                "namespace": namespace,
                "labels": {SERVICE_LABEL: name_of(service), _MANAGED_BY: _CONTROLLER},
                "ownerReferences": [controller_ref(service, "v1", "Service")],
            },
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": ports,
        }
        ctx.create("endpointslices", body, _MANAGER)
        return
    current = existing[0]
    if current.get("endpoints") != endpoints or current.get("ports") != ports:
        updated = clone(current)
        updated["endpoints"] = endpoints
        updated["ports"] = ports
        ctx.update("endpointslices", updated, _MANAGER)
