"""Attaching the EKS target group to the existing forward at weight 0.

An ALB health-checks only the target groups a listener forwards to; a group nobody forwards
to reports its targets ``unused``. Joining the HTTPS listener's forward action (or the
runbook's rule) at weight 0 starts the health checks without sending a request to EKS: the
EC2 side keeps 100 %. Everything else in the action is kept as it was (other target groups
and their weights, stickiness) and read back after the write. Phase 4 then moves the
weights. Rollback takes the EKS group out again; any weight it had goes back to the others.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from flexmigrate.engine.protocol import Action, Change, Step
from flexmigrate.errors import StepFailed
from phases.app_deploy.release import is_redeploy
from phases.shared import lookups
from phases.shared.sections import StepContext


def forward_groups(actions: Sequence[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]] | None:
    """(index of the forward action, its weighted target groups) in either form AWS accepts;
    None when there is no forward action."""
    for index, action in enumerate(actions):
        if action.get("Type") != "forward":
            continue
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups")
        if groups:
            return index, [
                {"TargetGroupArn": g["TargetGroupArn"], "Weight": int(g.get("Weight", 1))}
                for g in groups
            ]
        if action.get("TargetGroupArn"):
            # A plain forward is one target group at weight 1, as AWS itself reports it.
            return index, [{"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}]
    return None


def with_groups(
    actions: Sequence[dict[str, Any]], index: int, groups: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The actions with the forward at ``index`` set to ``groups``; everything else (order,
    stickiness, other actions) as it was. A single group is written in the plain form."""
    changed = [copy.deepcopy(a) for a in actions]
    action = changed[index]
    config = dict(action.get("ForwardConfig") or {})
    if len(groups) == 1 and not config.get("TargetGroupStickinessConfig", {}).get("Enabled"):
        action.pop("ForwardConfig", None)
        action["TargetGroupArn"] = groups[0]["TargetGroupArn"]
        return changed
    action.pop("TargetGroupArn", None)
    config["TargetGroups"] = groups
    action["ForwardConfig"] = config
    return changed


def _write(ctx: StepContext, point: lookups.ForwardPoint, actions: list[dict[str, Any]]) -> None:
    elbv2 = ctx.aws("elbv2")
    if point.kind == "rule":
        elbv2.modify_rule(RuleArn=point.arn, Actions=actions)
    else:
        elbv2.modify_listener(ListenerArn=point.arn, DefaultActions=actions)


def _eks_arn(ctx: StepContext) -> str | None:
    arn = ctx.phase_outputs().get("target_group_arn")
    if arn:
        return str(arn)
    found = lookups.target_group_by_name(ctx, ctx.runbook.app.target_group.name)
    return str(found["TargetGroupArn"]) if found else None


class ListenerStep(Step):
    id = "listener"
    title = "EKS target group joins the listener's forward at weight 0 (EC2 keeps 100 %)"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        point = lookups.forward_point(ctx)
        found = forward_groups(point.actions)
        name = ctx.runbook.app.target_group.name
        if found is None:
            return [Change(Action.UPDATE, point.describe(), "no forward action", "refused")]
        current = ", ".join(
            f"{g['TargetGroupArn'].rsplit('/', 2)[-2]}={g['Weight']}" for g in found[1]
        )
        arn = _eks_arn(ctx)
        present = arn is not None and any(g["TargetGroupArn"] == arn for g in found[1])
        return [
            Change(
                Action.NOOP if present else Action.UPDATE,
                f"forward of {point.describe()}",
                current,
                current if present else f"{current}, {name}=0",
                note="health checks start; no request goes to EKS until phase 4",
            )
        ]

    def apply(self, ctx: StepContext) -> None:
        arn = _eks_arn(ctx)
        if arn is None:
            raise StepFailed("the EKS target group is missing; run the phase again")
        point = lookups.forward_point(ctx)
        found = forward_groups(point.actions)
        if found is None:
            raise StepFailed(
                f"{point.describe()} has no forward action to join",
                hint="traffic.listener (or traffic.rule) must name where traffic is forwarded",
            )
        index, groups = found
        if not any(g["TargetGroupArn"] == arn for g in groups):
            # What rollback restores exactly, if nobody changed the rest in the meantime.
            ctx.record(forward_point=point.arn, forward_kind=point.kind, original=point.actions)
            ctx.failpoint("before-listener-write")
            _write(
                ctx,
                point,
                with_groups(
                    point.actions,
                    index,
                    [
                        *groups,
                        {
                            "TargetGroupArn": arn,
                            "Weight": 0,
                        },
                    ],
                ),
            )
        after = forward_groups(lookups.forward_point(ctx).actions)
        weights = {g["TargetGroupArn"]: g["Weight"] for g in (after or (0, []))[1]}
        if weights.get(arn) is None:
            raise StepFailed(
                f"{point.describe()} does not report the EKS target group after the change",
                hint="someone may be changing the listener at the same time; `flexmigrate resume`",
            )
        others = {k: v for k, v in weights.items() if k != arn}
        total = sum(weights.values())
        eks_percent = round(100 * weights[arn] / total) if total else 0
        # The weights this phase leaves, for ``status`` and the traffic shift's record of them.
        ctx.record(
            traffic={
                "ec2_percent": 100 - eks_percent,
                "eks_percent": eks_percent,
                "weights": weights,
                "forward": point.arn,
            },
            weights_read_back=weights,
        )
        if weights[arn]:
            ctx.warn(f"the EKS target group already has weight {weights[arn]} (left as it is)")
        ctx.note(f"weights read back: EKS {weights[arn]}, others {others}")

    def verify(self, ctx: StepContext) -> Sequence[str]:
        arn = _eks_arn(ctx)
        found = forward_groups(lookups.forward_point(ctx).actions)
        if arn is None or found is None or not any(g["TargetGroupArn"] == arn for g in found[1]):
            return ["the EKS target group is not in the listener's forward"]
        return []

    def rollback(self, ctx: StepContext) -> None:
        if is_redeploy(ctx):
            return
        arn = _eks_arn(ctx)
        if arn is None:
            return
        point = lookups.forward_point(ctx)
        found = forward_groups(point.actions)
        if found is None:
            return
        index, groups = found
        if not any(g["TargetGroupArn"] == arn for g in groups):
            return
        eks = next(g for g in groups if g["TargetGroupArn"] == arn)
        rest = [g for g in groups if g["TargetGroupArn"] != arn]
        if not rest:
            raise StepFailed(
                f"{point.describe()} forwards only to the EKS target group; taking it out "
                "would leave the listener without a target",
                hint="put the EC2 target group back first (`flexmigrate rollback traffic-shift`)",
            )
        if eks["Weight"]:
            ctx.warn(f"the EKS target group had weight {eks['Weight']}; it goes to the others")
        if all(g["Weight"] == 0 for g in rest):
            rest = [{**g, "Weight": 1} for g in rest]
        original = ctx.outputs.get("original")
        before = forward_groups(original) if isinstance(original, list) else None
        if isinstance(original, list) and before is not None and before[1] == rest:
            _write(ctx, point, original)  # exactly as it was before this phase
        else:
            _write(ctx, point, with_groups(point.actions, index, rest))
        after = forward_groups(lookups.forward_point(ctx).actions)
        if after is not None and any(g["TargetGroupArn"] == arn for g in after[1]):
            raise StepFailed(f"{point.describe()} still forwards to the EKS target group")
        ctx.forget("traffic")
