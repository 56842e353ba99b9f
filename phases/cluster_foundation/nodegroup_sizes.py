"""Node group sizes of a completed phase, changed in place with ``UpdateNodegroupConfig``.

``diff`` compares the runbook's min/desired/max with DescribeNodegroup's ``scalingConfig`` of
the cluster this phase recorded (never a renamed one). ``desiredSize`` is not compared for a
group the Cluster Autoscaler manages (it carries ``k8s.io/cluster-autoscaler/enabled``): the
autoscaler owns that field, as documented in the README's list of AWS fields flexmigrate
leaves to other controllers. A smaller desired size drains nodes, so that change asks first.

``update`` calls UpdateNodegroupConfig with a client request token saved before the call,
records the sizes it replaced, and waits for the update (DescribeUpdate) to be Successful and
the group ACTIVE again; ``undo_update`` does the same with the recorded sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flexmigrate.engine.protocol import Action, Change
from flexmigrate.errors import StepFailed
from phases.shared.sections import StepContext

AUTOSCALER_TAG = "k8s.io/cluster-autoscaler/enabled"
_KEYS = (("minSize", "min_size"), ("desiredSize", "desired_size"), ("maxSize", "max_size"))


def recorded_cluster(ctx: StepContext) -> str:
    arn = str(ctx.phase_outputs().get("cluster_arn") or "")
    return arn.rsplit("/", 1)[-1] if "/" in arn else ctx.runbook.cluster.name


def update_status(eks: Any, cluster: str, update_id: str, what: str, **target: str) -> str:
    """The status of an EKS update (DescribeUpdate, with ``nodegroupName`` or ``addonName``);
    a Failed or Cancelled one stops the step with EKS's errors."""
    found = eks.describe_update(name=cluster, updateId=update_id, **target)["update"]
    status = str(found["status"])
    if status in ("Failed", "Cancelled"):
        errors = "; ".join(
            f"{e.get('errorCode')}: {e.get('errorMessage')}" for e in found.get("errors") or []
        )
        raise StepFailed(f"update {update_id} of {what} {status}: {errors}")
    return status


def _describe(ctx: StepContext, name: str) -> dict[str, Any]:
    group: dict[str, Any] = ctx.aws("eks").describe_nodegroup(
        clusterName=recorded_cluster(ctx), nodegroupName=name
    )["nodegroup"]
    return group


def _sizes(scaling: dict[str, Any]) -> str:
    return f"{scaling.get('minSize')}/{scaling.get('desiredSize')}/{scaling.get('maxSize')}"


def wanted(ctx: StepContext) -> dict[str, dict[str, int]]:
    """Per group the scalingConfig the runbook asks for, where it differs from EKS's."""
    changes: dict[str, dict[str, int]] = {}
    for spec in ctx.runbook.cluster.node_groups:
        group = _describe(ctx, spec.name)
        live = dict(group.get("scalingConfig") or {})
        desired = {key: int(getattr(spec, field)) for key, field in _KEYS}
        if AUTOSCALER_TAG in (group.get("tags") or {}):
            desired["desiredSize"] = int(live.get("desiredSize", spec.desired_size))
            desired["desiredSize"] = min(max(desired["desiredSize"], spec.min_size), spec.max_size)
        if {k: live.get(k) for k in desired} != desired:
            changes[spec.name] = desired
    return changes


def diff(ctx: StepContext) -> Sequence[Change]:
    result = []
    for name, desired in wanted(ctx).items():
        live = dict(_describe(ctx, name).get("scalingConfig") or {})
        shrinks = desired["desiredSize"] < int(live.get("desiredSize", 0))
        result.append(
            Change(
                Action.UPDATE,
                f"node group {name} min/desired/max",
                _sizes(live),
                _sizes(desired),
                disruptive=shrinks,
                note="UpdateNodegroupConfig, in place"
                + ("; fewer nodes: pods on the removed nodes are evicted" if shrinks else ""),
            )
        )
    return result


def update(ctx: StepContext) -> None:
    targets = wanted(ctx)
    if "previous_scaling" not in ctx.outputs:
        previous = {name: dict(_describe(ctx, name).get("scalingConfig") or {}) for name in targets}
        ctx.record(previous_scaling=previous)
    _apply(ctx, targets, "update")


def undo_update(ctx: StepContext) -> None:
    previous = dict(ctx.outputs.get("previous_scaling") or {})
    targets = {
        name: {k: int(v) for k, v in scaling.items() if k in dict(_KEYS)}
        for name, scaling in previous.items()
        if dict(_describe(ctx, name).get("scalingConfig") or {}) != scaling
    }
    _apply(ctx, targets, "undo")


def _apply(ctx: StepContext, targets: dict[str, dict[str, int]], kind: str) -> None:
    eks = ctx.aws("eks")
    cluster = recorded_cluster(ctx)
    waits = ctx.runbook.cluster.waits
    for name, scaling in targets.items():
        update_id = ctx.outputs.get(f"{kind}:{name}")
        if not update_id:
            answer = eks.update_nodegroup_config(
                clusterName=cluster,
                nodegroupName=name,
                scalingConfig=scaling,
                clientRequestToken=ctx.token(f"{kind}-scaling-{name}"),
            )["update"]
            update_id = str(answer["id"])
            ctx.record(**{f"{kind}:{name}": update_id})
        ctx.ui.info(f"node group {name}: scaling {_sizes(scaling)} (update {update_id})")

        def probe(name: str = name, update_id: str = str(update_id)) -> tuple[bool, str]:
            status = update_status(
                eks, cluster, update_id, f"node group {name}", nodegroupName=name
            )
            group = _describe(ctx, name)
            return status == "Successful" and group.get("status") == "ACTIVE", (
                f"update {status}, node group {group.get('status')}"
            )

        ctx.wait(f"node group {name} update", probe, timeout=waits.node_groups, interval=waits.poll)
    ctx.forget(
        *[
            k
            for k in ctx.outputs
            if k.startswith(f"{kind}:") or (k.startswith("token:") and f"{kind}-scaling-" in k)
        ]
    )
