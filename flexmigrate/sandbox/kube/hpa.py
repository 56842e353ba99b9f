"""The horizontal-pod-autoscaler controller.

A fresh EKS cluster has no metrics server, so an HPA cannot compute utilisation (its
ScalingActive condition says so, and ``kubectl get hpa`` shows ``<unknown>``); it still keeps
its target's replicas within ``[minReplicas, maxReplicas]`` through the scale subresource,
which is what a Deployment without ``spec.replicas`` relies on. Once the Metrics API is
available (metrics-server runs; see ``metrics_api``) it scales on the resource metrics as
``hpa_scaling`` computes.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from flexmigrate.sandbox.kube.context import Context
from flexmigrate.sandbox.kube.hpa_scaling import Proposal, limit, propose
from flexmigrate.sandbox.kube.meta import clone, is_deleting, timestamp
from flexmigrate.sandbox.kube.metrics_api import available, usage_by_pod

Obj = dict[str, Any]
_MANAGER = "kube-controller-manager"
_MORE = "more than the maximum replica count"
_LESS = "less than the minimum replica count"


def reconcile_hpas(ctx: Context, history: dict[str, list[tuple[float, int]]]) -> None:
    metered = available(ctx.cluster.store)
    usage = usage_by_pod(ctx) if metered else {}
    pods = ctx.objects("pods") if metered else []
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
        proposal = propose(hpa, deploy, pods, usage) if metered else None
        wanted = current
        if proposal is not None:
            uid = str(hpa["metadata"].get("uid"))
            wanted = limit(hpa, current, proposal.replicas, history.setdefault(uid, []), ctx.now)
        desired = min(max(wanted, low), high)
        if desired != current:
            scaled = clone(deploy)
            scaled["spec"]["replicas"] = desired
            ctx.update("deployments", scaled, "horizontal-pod-autoscaler", "scale")
            status["lastScaleTime"] = timestamp(ctx.now)
            if proposal is not None and low <= wanted <= high:
                reason = proposal.reason
            else:
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

        status["conditions"] = _conditions(condition, proposal, wanted, low, high)
        if proposal is not None:
            status["currentMetrics"] = proposal.metrics
        else:
            status.pop("currentMetrics", None)
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


def _conditions(
    condition: partial[Obj], proposal: Proposal | None, wanted: int, low: int, high: int
) -> list[Obj]:
    able = condition(
        "AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size"
    )
    if proposal is None:
        return [
            able,
            condition(
                "ScalingActive",
                "False",
                "FailedGetResourceMetric",
                "the HPA was unable to compute the replica count: failed to get cpu "
                "utilization: unable to get metrics for resource cpu: no metrics returned "
                "from resource metrics API",
            ),
        ]
    if wanted > high:
        limited = (
            "True",
            "TooManyReplicas",
            "the desired replica count is more than the maximum replica count",
        )
    elif wanted < low:
        limited = (
            "True",
            "TooFewReplicas",
            "the desired replica count is less than the minimum replica count",
        )
    else:
        limited = (
            "False",
            "DesiredWithinRange",
            "the desired count is within the acceptable range",
        )
    return [
        able,
        condition(
            "ScalingActive",
            "True",
            "ValidMetricFound",
            "the HPA was able to successfully calculate a replica count from "
            + proposal.reason.rsplit(" ", 2)[0],
        ),
        condition("ScalingLimited", *limited),
    ]
