"""The replica-set controller: as many pods as ``spec.replicas``, and the counts in status.

Pods are created from the template with an owner reference to the ReplicaSet; surplus pods
go not-ready first, then newest first, as kube-controller-manager picks them.
"""

from __future__ import annotations

from typing import Any

from flexmigrate.sandbox.kube.context import Context
from flexmigrate.sandbox.kube.label_selectors import match_label_selector
from flexmigrate.sandbox.kube.meta import (
    clone,
    controller_ref,
    is_deleting,
    labels_of,
    name_of,
    owned_by,
    pod_ready,
    random_suffix,
)

Obj = dict[str, Any]
_MANAGER = "kube-controller-manager"


def reconcile_replicasets(ctx: Context) -> None:
    pods = ctx.objects("pods")
    for rs in ctx.objects("replicasets"):
        if is_deleting(rs):
            continue
        ns = rs["metadata"].get("namespace", "")
        mine = [
            p
            for p in owned_by([p for p in pods if p["metadata"].get("namespace") == ns], rs)
            if not is_deleting(p)
        ]
        wanted = int((rs.get("spec") or {}).get("replicas", 1))
        if len(mine) < wanted:
            for _ in range(wanted - len(mine)):
                pod = _create_pod(ctx, rs)
                if pod is not None:
                    mine.append(pod)
        elif len(mine) > wanted:
            # Like the replica-set controller: not-ready pods go first, then the newest.
            newest_first = sorted(
                mine, key=lambda p: p["metadata"].get("creationTimestamp", ""), reverse=True
            )
            doomed = sorted(newest_first, key=pod_ready)[: len(mine) - wanted]
            for pod in doomed:
                ctx.delete(ctx.rt("pods"), pod)
                ctx.event(
                    rs, "SuccessfulDelete", f"Deleted pod: {name_of(pod)}", "replicaset-controller"
                )
            mine = [p for p in mine if p not in doomed]
        selector = (rs.get("spec") or {}).get("selector")
        ready = sum(1 for p in mine if pod_ready(p))
        counts = {
            "replicas": len(mine),
            "fullyLabeledReplicas": sum(
                1 for p in mine if match_label_selector(selector, labels_of(p))
            ),
            "readyReplicas": ready,
            "availableReplicas": ready,
        }
        status: Obj = {"observedGeneration": rs["metadata"].get("generation", 1)}
        status.update({k: v for k, v in counts.items() if v or k == "replicas"})
        ctx.set_status("replicasets", rs, status, _MANAGER)


def _create_pod(ctx: Context, rs: Obj) -> Obj | None:
    template = clone((rs.get("spec") or {}).get("template") or {})
    meta = template.get("metadata") or {}
    name = f"{name_of(rs)}-{random_suffix()}"
    body: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": rs["metadata"].get("namespace"),
            "labels": meta.get("labels") or {},
            "ownerReferences": [controller_ref(rs, "apps/v1", "ReplicaSet")],
        },
        "spec": template.get("spec") or {},
    }
    if meta.get("annotations"):
        body["metadata"]["annotations"] = meta["annotations"]
    created = ctx.create("pods", body, _MANAGER)
    if created is not None:
        ctx.event(rs, "SuccessfulCreate", f"Created pod: {name}", "replicaset-controller")
    return created
