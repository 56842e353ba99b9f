"""The deployment, replica-set and horizontal-pod-autoscaler controllers.

A Deployment owns one ReplicaSet per pod template (named ``<deploy>-<template hash>``); a
rolling update scales the new one up and the old ones down within maxSurge/maxUnavailable,
and the Deployment's status and conditions (Available, Progressing, including
ProgressDeadlineExceeded) are computed the way kube-controller-manager computes them.
"""

from __future__ import annotations

from typing import Any

from flexmigrate.sandbox.kube.context import Context
from flexmigrate.sandbox.kube.meta import clone, controller_ref, is_deleting, name_of, owned_by
from flexmigrate.sandbox.kube.rollout import (
    HASH_LABEL,
    REVISION,
    rolling_limits,
    rs_revision,
    template_hash,
)
from flexmigrate.sandbox.kube.rollout_status import deployment_status

Obj = dict[str, Any]
_DEPLOYMENT_CONTROLLER = "deployment-controller"
_MANAGER = "kube-controller-manager"


def reconcile_deployments(ctx: Context, progress: dict[str, float]) -> None:
    all_rs = ctx.objects("replicasets")
    for deploy in ctx.objects("deployments"):
        if is_deleting(deploy):
            continue
        ns = deploy["metadata"].get("namespace", "")
        owned = owned_by([rs for rs in all_rs if rs["metadata"].get("namespace") == ns], deploy)
        _sync_deployment(ctx, deploy, owned, progress)


def _sync_deployment(
    ctx: Context, deploy: Obj, owned: list[Obj], progress: dict[str, float]
) -> None:
    spec = deploy.get("spec") or {}
    desired = int(spec.get("replicas", 1))
    template = clone(spec.get("template") or {})
    pod_hash = template_hash(template)
    rs_name = f"{name_of(deploy)}-{pod_hash}"
    new_rs = next((rs for rs in owned if name_of(rs) == rs_name), None)
    old = [rs for rs in owned if rs is not new_rs]
    revision = max([rs_revision(rs) for rs in owned] or [0])
    created = False
    if new_rs is None and not spec.get("paused"):
        surge, _ = rolling_limits(deploy)
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            initial = (
                desired
                if all(int((rs.get("status") or {}).get("replicas", 0)) == 0 for rs in old)
                and not any(int(rs["spec"].get("replicas", 0)) for rs in old)
                else 0
            )
        else:
            total = sum(int(rs["spec"].get("replicas", 0)) for rs in old)
            initial = max(0, min(desired, desired + surge - total))
        new_rs = _create_rs(ctx, deploy, template, pod_hash, rs_name, revision + 1, initial)
        created = new_rs is not None
    elif new_rs is not None and old and rs_revision(new_rs) < revision:
        bumped = clone(new_rs)
        bumped["metadata"].setdefault("annotations", {})[REVISION] = str(revision + 1)
        new_rs = ctx.update("replicasets", bumped, _MANAGER) or new_rs
    if new_rs is not None and not spec.get("paused"):
        new_rs, old = _roll(ctx, deploy, new_rs, old, desired)
    _cleanup(ctx, deploy, old)
    deployment_status(ctx, deploy, new_rs, old, created, progress)


def _create_rs(
    ctx: Context, deploy: Obj, template: Obj, pod_hash: str, name: str, revision: int, replicas: int
) -> Obj | None:
    labels = dict(template.get("metadata", {}).get("labels") or {})
    labels[HASH_LABEL] = pod_hash
    template.setdefault("metadata", {})["labels"] = labels
    selector = clone((deploy.get("spec") or {}).get("selector") or {})
    selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
    desired = int(deploy["spec"].get("replicas", 1))
    surge, _ = rolling_limits(deploy)
    body = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": deploy["metadata"].get("namespace"),
            "labels": labels,
            "annotations": {
                REVISION: str(revision),
                "deployment.kubernetes.io/desired-replicas": str(desired),
                "deployment.kubernetes.io/max-replicas": str(desired + surge),
            },
            "ownerReferences": [controller_ref(deploy, "apps/v1", "Deployment")],
        },
        "spec": {"replicas": replicas, "selector": selector, "template": template},
    }
    created = ctx.create("replicasets", body, _MANAGER)
    if created is not None:
        ctx.event(
            deploy,
            "ScalingReplicaSet",
            f"Scaled up replica set {name} from 0 to {replicas}",
            _DEPLOYMENT_CONTROLLER,
        )
    return created


def _scale(ctx: Context, deploy: Obj, rs: Obj, count: int) -> Obj:
    before = int(rs["spec"].get("replicas", 0))
    if before == count:
        return rs
    body = clone(rs)
    body["spec"]["replicas"] = count
    desired = int(deploy["spec"].get("replicas", 1))
    surge, _ = rolling_limits(deploy)
    annotations = body["metadata"].setdefault("annotations", {})
    annotations["deployment.kubernetes.io/desired-replicas"] = str(desired)
    annotations["deployment.kubernetes.io/max-replicas"] = str(desired + surge)
    updated = ctx.update("replicasets", body, _MANAGER)
    if updated is None:
        return rs
    direction = "up" if count > before else "down"
    ctx.event(
        deploy,
        "ScalingReplicaSet",
        f"Scaled {direction} replica set {name_of(rs)} from {before} to {count}",
        _DEPLOYMENT_CONTROLLER,
    )
    return updated


def _available(rs: Obj) -> int:
    return int((rs.get("status") or {}).get("availableReplicas", 0))


def _roll(
    ctx: Context, deploy: Obj, new_rs: Obj, old: list[Obj], desired: int
) -> tuple[Obj, list[Obj]]:
    strategy = (deploy["spec"].get("strategy") or {}).get("type", "RollingUpdate")
    if strategy == "Recreate":
        old = [_scale(ctx, deploy, rs, 0) for rs in old]
        if all(int((rs.get("status") or {}).get("replicas", 0)) == 0 for rs in old):
            new_rs = _scale(ctx, deploy, new_rs, desired)
        return new_rs, old
    surge, unavailable = rolling_limits(deploy)
    current = int(new_rs["spec"].get("replicas", 0))
    if current > desired:
        new_rs = _scale(ctx, deploy, new_rs, desired)
    elif current < desired:
        total = current + sum(int(rs["spec"].get("replicas", 0)) for rs in old)
        room = desired + surge - total
        if room > 0:
            new_rs = _scale(ctx, deploy, new_rs, min(desired, current + room))
    all_pods = sum(int((rs.get("status") or {}).get("replicas", 0)) for rs in [new_rs, *old])
    new_unavailable = int(new_rs["spec"].get("replicas", 0)) - _available(new_rs)
    budget = all_pods - (desired - unavailable) - new_unavailable
    result = []
    for rs in sorted(old, key=rs_revision):
        count = int(rs["spec"].get("replicas", 0))
        unhealthy = max(0, count - _available(rs))
        cut = min(count, unhealthy + max(0, budget))
        if cut > 0:
            budget -= max(0, cut - unhealthy)
            rs = _scale(ctx, deploy, rs, count - cut)
        result.append(rs)
    return new_rs, result


def _cleanup(ctx: Context, deploy: Obj, old: list[Obj]) -> None:
    limit = int(deploy["spec"].get("revisionHistoryLimit", 10))
    idle = sorted(
        (
            rs
            for rs in old
            if int(rs["spec"].get("replicas", 0)) == 0
            and int((rs.get("status") or {}).get("replicas", 0)) == 0
        ),
        key=rs_revision,
    )
    for rs in idle[: max(0, len(idle) - limit)]:
        ctx.delete(ctx.rt("replicasets"), rs)
