"""The horizontal-pod-autoscaler controller, as far as a cluster without metrics goes.

A fresh EKS cluster has no metrics server, so an HPA cannot compute utilisation (its
ScalingActive condition says so, and ``kubectl get hpa`` shows ``<unknown>``); it still keeps
its target's replicas within ``[minReplicas, maxReplicas]`` through the scale subresource,
which is what a Deployment without ``spec.replicas`` relies on.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from flexmigrate.sandbox.kube.context import Context
from flexmigrate.sandbox.kube.meta import clone, is_deleting, timestamp

Obj = dict[str, Any]
_MANAGER = "kube-controller-manager"


def reconcile_hpas(ctx: Context) -> None:
    for hpa in ctx.objects("horizontalpodautoscalers"):
        spec = hpa.get("spec") or {}
        target = spec.get("scaleTargetRef") or {}
        ns = hpa["metadata"].get("namespace", "")
        deploy = None
        if target.get("kind") == "Deployment":
            deploy = ctx.cluster.store.get(ctx.rt("deployments").key, ns, str(target.get("name")))
        status = clone(hpa.get("status") or {})
        if deploy is None or is_deleting(hpa):
            continue
        low, high = int(spec.get("minReplicas", 1)), int(spec.get("maxReplicas", 1))
        current = int((deploy.get("spec") or {}).get("replicas", 1))
        desired = min(max(current, low), high)
        if desired != current:
            scaled = clone(deploy)
            scaled["spec"]["replicas"] = desired
            ctx.update("deployments", scaled, "horizontal-pod-autoscaler", "scale")
            status["lastScaleTime"] = timestamp(ctx.now)
            reason = "below Spec.MinReplicas" if current < low else "above Spec.MaxReplicas"
            ctx.event(
                hpa,
                "SuccessfulRescale",
                f"New size: {desired}; reason: Current number of replicas {reason}",
                "horizontal-pod-autoscaler",
            )
        status["currentReplicas"] = int((deploy.get("status") or {}).get("replicas", 0))
        status["desiredReplicas"] = desired
        previous = {c.get("type"): c for c in status.get("conditions") or []}
        condition = partial(_hpa_condition, previous, timestamp(ctx.now))

        status["conditions"] = [
            condition(
                "AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size"
            ),
            condition(
                "ScalingActive",
                "False",
                "FailedGetResourceMetric",
                "the HPA was unable to compute the replica count: failed to get cpu "
                "utilization: unable to get metrics for resource cpu: no metrics returned "
                "from resource metrics API",
            ),
        ]
        ctx.set_status("horizontalpodautoscalers", hpa, status, _MANAGER)


def _hpa_condition(
    previous: dict[str, Obj], now: str, kind: str, state: str, reason: str, message: str
) -> Obj:
    old = previous.get(kind) or {}
    since = old.get("lastTransitionTime") if old.get("status") == state else now
    return {
        "type": kind,
        "status": state,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since,
    }
