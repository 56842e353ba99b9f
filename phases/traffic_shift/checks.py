"""Preflight of phase 4: read-only, every check runs, and none fails because of what phase 4
itself already did (weights it moved, the EKS group it attached), so a resume passes them.

In a plan of several phases on a fresh estate, phase 3 has not created the EKS target group
yet: the checks that need it say so (skipped) instead of failing.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flexmigrate.durations import format_duration
from flexmigrate.engine.protocol import Check, Outcome, failed, passed, skipped, warned
from flexmigrate.errors import CloudError
from phases.shared.lookups import target_group_by_name
from phases.traffic_shift.gates import gate_alarm_names, judge_targets, read_alarms
from phases.traffic_shift.lockstep import unnamed_forwards_to_ec2
from phases.traffic_shift.record import recorded_split, recorded_traffic
from phases.traffic_shift.topology import (
    NotFound,
    Topology,
    metric_dimension,
    read_actions,
    resolve,
    tags_of,
    target_health,
)
from phases.traffic_shift.weights import forward_index, others, split_of, stickiness, weights_of

if TYPE_CHECKING:
    from phases.shared.sections import StepContext

_PHASE_3 = "phase-3"


@dataclass
class _Seen:
    """What the checks of one preflight read, read once."""

    topo: Topology | None = None
    problem: NotFound | None = None
    actions: list[dict[str, Any]] = field(default_factory=list)


_SEEN: weakref.WeakKeyDictionary[StepContext, _Seen] = weakref.WeakKeyDictionary()


def _seen(ctx: StepContext) -> _Seen:
    found = _SEEN.get(ctx)
    if found is None:
        found = _Seen()
        try:
            found.topo = resolve(ctx)
            found.actions = read_actions(ctx, found.topo)
        except NotFound as exc:
            found.problem = exc
        _SEEN[ctx] = found
    return found


def _eks_missing(ctx: StepContext, topo: Topology) -> Outcome:
    if ctx.phase_status(_PHASE_3) == "completed":
        return failed(
            f"target group {topo.eks_tg_name} does not exist although phase-3 is complete",
            "re-run phase 3 (`flexmigrate rollback app-deploy`, then `flexmigrate run "
            "app-deploy`), or fix traffic.eks_target_group",
        )
    return skipped(f"{topo.eks_tg_name} will be created by phase-3 (app-deploy)")


def _listener(ctx: StepContext) -> Outcome:
    seen = _seen(ctx)
    if seen.topo is None:
        assert seen.problem is not None
        return failed(str(seen.problem), seen.problem.hint)
    topo = seen.topo
    index = forward_index(seen.actions)
    if index is None:
        kinds = ", ".join(str(a.get("Type")) for a in seen.actions) or "none"
        return failed(
            f"{topo.where} does not forward (its actions: {kinds})",
            "point traffic.listener / traffic.rule at the action that serves the backend",
        )
    weights = weights_of(seen.actions)
    if topo.ec2_tg_arn not in weights and topo.eks_tg_arn not in weights:
        return failed(
            f"{topo.where} forwards to neither {topo.ec2_tg_name} nor {topo.eks_tg_name}",
            "fix traffic.listener, traffic.rule or traffic.ec2_target_group",
        )
    strangers = others(seen.actions, topo.ec2_tg_arn, topo.eks_tg_arn)
    if strangers:
        return failed(
            f"{topo.where} also forwards to {', '.join(strangers)}; flexmigrate only shares "
            "traffic between the EC2 and EKS target groups",
            "take the other target group out of the forward first",
        )
    split = split_of(seen.actions, topo.ec2_tg_arn, topo.eks_tg_arn)
    return passed(f"{topo.where} forwards {split}")


def _ec2_paths(ctx: StepContext) -> Outcome:
    seen = _seen(ctx)
    if seen.topo is None:
        return skipped("see the listener check")
    topo = seen.topo
    unnamed, strays = unnamed_forwards_to_ec2(ctx, topo)
    if strays:
        return failed(
            f"traffic.also_shift names what does not forward to {topo.ec2_tg_name}: "
            f"{'; '.join(strays)}",
            "name only rules (or listeners) of this load balancer that forward to the EC2 "
            "target group",
        )
    if unnamed:
        listed = "; ".join(f"{place.where} ({place.arn})" for place in unnamed)
        return failed(
            f"besides {topo.where}, {len(unnamed)} path(s) forward to {topo.ec2_tg_name} and "
            f"would keep sending it traffic after the shift: {listed}",
            "name them in traffic.also_shift to shift them in lockstep with "
            f"{topo.where}, or point them elsewhere first",
        )
    if topo.lockstep:
        return passed(f"in lockstep with {topo.where}: {'; '.join(p.where for p in topo.lockstep)}")
    return passed(f"{topo.where} is the only path to {topo.ec2_tg_name}")


def _target_groups(ctx: StepContext) -> Outcome:
    seen = _seen(ctx)
    if seen.topo is None:
        return skipped("see the listener check")
    topo = seen.topo
    if topo.eks_tg_arn is None:
        return _eks_missing(ctx, topo)
    group = target_group_by_name(ctx, topo.eks_tg_name) or {}
    if group.get("VpcId") and topo.vpc_id and group["VpcId"] != topo.vpc_id:
        return failed(
            f"{topo.eks_tg_name} is in {group['VpcId']}, the load balancer in {topo.vpc_id}",
            "the EKS target group must be in the load balancer's VPC",
        )
    kind = group.get("TargetType", "?")
    detail = f"{topo.ec2_tg_name} and {topo.eks_tg_name} (target type {kind}) exist"
    if kind != "ip":
        return warned(detail, "pods are registered as ip targets; check traffic.eks_target_group")
    return passed(detail)


def _way_back(ctx: StepContext, seen: _Seen) -> str:
    """What to do when EKS is sick while it already has traffic (the check still fails)."""
    topo = seen.topo
    if topo is None or topo.eks_tg_arn is None:
        return ""
    share = split_of(seen.actions, topo.ec2_tg_arn, topo.eks_tg_arn).eks
    if share == 0:
        return ""
    return (
        f"; EKS has {share} % of the traffic now: `flexmigrate shift-traffic --percent 0` "
        "(or `flexmigrate rollback traffic-shift`) puts it back on EC2 without this check"
    )


def _restoring(ctx: StepContext) -> bool:
    """A breach was recorded but its restore did not finish (the run was killed)."""
    phase = ctx.session.state.find_phase(ctx.phase.id)
    return any(step.outputs.get("breach") for step in (phase.steps if phase else ()))


def _healthy(ctx: StepContext) -> Outcome:
    seen = _seen(ctx)
    if seen.topo is None:
        return skipped("see the listener check")
    if seen.topo.eks_tg_arn is None:
        return _eks_missing(ctx, seen.topo)
    minimum = ctx.runbook.traffic.gates.min_healthy_targets
    reading = judge_targets(target_health(ctx, seen.topo.eks_tg_arn), minimum)
    if reading.result.value == "pass":
        return passed(reading.detail)
    if _restoring(ctx):
        return warned(
            reading.detail, "resuming first finishes putting traffic back after the breach"
        )
    return failed(
        reading.detail,
        "check the pods, the TargetGroupBinding and the security-group rule that lets the "
        "load balancer reach the pods; an ALB sends traffic to unhealthy targets when none "
        "is healthy" + _way_back(ctx, seen),
    )


def _alarms(ctx: StepContext) -> Outcome:
    seen = _seen(ctx)
    if seen.topo is None:
        return skipped("see the listener check")
    topo = seen.topo
    gates = ctx.runbook.traffic.gates
    if topo.eks_tg_arn is None and ctx.phase_status(_PHASE_3) != "completed":
        return skipped("phase-3 creates the EKS target group's alarms")
    names = gate_alarm_names(ctx, topo) if gates.alarms else list(gates.extra_alarms)
    found, missing = read_alarms(ctx, names)
    if missing:
        return failed(
            f"alarm(s) named in the runbook do not exist: {', '.join(missing)}",
            "fix app.alarms.existing or traffic.gates.extra_alarms",
        )
    firing = [a for a in found if a.get("StateValue") == "ALARM"]
    if firing:
        listed = "; ".join(f"{a['AlarmName']}: {a.get('StateReason', '')}" for a in firing)
        if _restoring(ctx):
            return warned(
                f"in ALARM: {listed}",
                "resuming first finishes putting traffic back after the breach",
            )
        return failed(
            f"already in ALARM: {listed}",
            "shift only once the alarm is OK again (find out why it fired first)"
            + _way_back(ctx, seen),
        )
    ec2_firing = _ec2_alarms_firing(ctx, topo)
    if ec2_firing:
        return warned(
            f"{len(found)} gate alarm(s) OK, but the EC2 side is in ALARM: {', '.join(ec2_firing)}",
            "the 5xx gate compares EKS with EC2; a sick EC2 side makes that comparison lenient",
        )
    if not found and gates.alarms:
        return warned(
            f"no CloudWatch alarm watches {topo.eks_tg_name}: the alarm gate has nothing to watch",
            "phase 3 creates them; or name alarms in traffic.gates.extra_alarms",
        )
    states = ", ".join(f"{a['AlarmName']} {a.get('StateValue')}" for a in found)
    return passed(states or "no alarms named (traffic.gates.alarms is off)")


def _ec2_alarms_firing(ctx: StepContext, topo: Topology) -> list[str]:
    wanted = metric_dimension(topo.ec2_tg_arn, "targetgroup")
    firing = []
    try:
        pages = ctx.aws("cloudwatch").paginate("describe_alarms", StateValue="ALARM")
        for page in pages:
            for alarm in page.get("MetricAlarms") or []:
                dims = {d.get("Value") for d in alarm.get("Dimensions") or []}
                if wanted in dims:
                    firing.append(str(alarm["AlarmName"]))
    except CloudError:
        return []
    return firing


_OWNERS: tuple[tuple[Callable[[str, str], bool], str], ...] = (
    (lambda k, v: k.startswith("aws:cloudformation:"), "CloudFormation"),
    (
        lambda k, v: k.startswith(("elbv2.k8s.aws/", "ingress.k8s.aws/", "service.k8s.aws/")),
        "the AWS Load Balancer Controller",
    ),
    (lambda k, v: "terraform" in k.lower() or "terraform" in v.lower(), "Terraform"),
)
_RECONCILE = {
    "Terraform": "reconcile Terraform: before the shift, list default_action in the "
    "aws_lb_listener's lifecycle ignore_changes (action for an aws_lb_listener_rule) and apply "
    "nothing else to it while the shift runs; after it, write the final forward into the "
    "configuration and remove the ignore",
    "CloudFormation": "update the stack's listener to the weighted forward (or pause stack "
    "updates) during the shift; a stack update would put the old action back",
    "the AWS Load Balancer Controller": "the controller reconciles this listener from an "
    "Ingress and will revert the weights; weight through the Ingress' actions annotation or "
    "point flexmigrate at a listener the controller does not manage",
}


def _owner(ctx: StepContext) -> Outcome:
    seen = _seen(ctx)
    if seen.topo is None:
        return skipped("see the listener check")
    topo = seen.topo
    arns = [topo.lb_arn, topo.listener_arn] + ([topo.rule_arn] if topo.rule_arn else [])
    tags = tags_of(ctx, arns)
    owners: dict[str, str] = {}
    for arn in arns:
        for key, value in tags.get(arn, {}).items():
            for test, owner in _OWNERS:
                if owner not in owners and test(key, value):
                    owners[owner] = f"{key}={value}"
    if not owners:
        return passed(f"no CloudFormation, Terraform or controller marks on {topo.where}")
    named = ", ".join(f"{owner} (tag {tag})" for owner, tag in owners.items())
    return warned(
        f"{topo.where} is managed by {named}: it may put the forward back while flexmigrate "
        "shifts, or after",
        " ".join(_RECONCILE[owner] + "." for owner in owners),
    )


def _stickiness(ctx: StepContext) -> Outcome:
    seen = _seen(ctx)
    if seen.topo is None:
        return skipped("see the listener check")
    duration = stickiness(seen.actions)
    if duration is None:
        return passed("target group stickiness is off: every request follows the weights")
    return warned(
        f"target group stickiness is on for {format_duration(duration)}: a client stays on the "
        f"side it reached first for up to {format_duration(duration)}, so each shift — and a "
        "rollback — reaches existing clients only as their stickiness expires",
        "shorten TargetGroupStickinessConfig.DurationSeconds before the cutover if that is "
        "too slow a way back",
    )


def _recorded(ctx: StepContext) -> Outcome:
    seen = _seen(ctx)
    if seen.topo is None:
        return skipped("see the listener check")
    now = split_of(seen.actions, seen.topo.ec2_tg_arn, seen.topo.eks_tg_arn)
    recorded = recorded_split(ctx)
    if recorded is None:
        return passed(f"no weights recorded yet; {seen.topo.where} has {now}")
    if recorded == now:
        return passed(f"{now}, as flexmigrate last set")
    when = (recorded_traffic(ctx.session.state) or {}).get("updated_at", "?")
    return warned(
        f"{seen.topo.where} has {now}, but flexmigrate last set {recorded} ({when}): it was "
        "changed outside flexmigrate",
        "find out who changed it; the schedule continues from the weight AWS reports",
    )


def checks(*, way_back: bool = False) -> Sequence[Check]:
    """The phase's checks; ``way_back`` (a manual shift to 0 %) leaves out those about the
    EKS side's health, which must never stop traffic from going back to EC2."""
    found = [
        Check("traffic-listener", "the listener (or rule) forwards to the EC2 side", _listener),
        Check("traffic-target-groups", "both target groups exist", _target_groups),
        Check("traffic-ec2-paths", "every path to the EC2 target group moves", _ec2_paths),
    ]
    if not way_back:
        found += [
            Check("traffic-eks-health", "EKS target group has its healthy targets", _healthy),
            Check("traffic-alarms", "no gate alarm is in ALARM", _alarms),
        ]
    found += [
        Check("traffic-owner", "no one else manages the listener", _owner),
        Check("traffic-stickiness", "target group stickiness", _stickiness),
        Check("traffic-recorded", "weights are those flexmigrate last set", _recorded),
    ]
    return found
