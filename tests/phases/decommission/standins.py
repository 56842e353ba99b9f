"""Stand-ins for phases 1–4, so decommission can be tested on its own: phases 1–3 change
nothing; phase 4 puts the listener's traffic on an EKS (ip) target group, as the real
traffic-shift leaves it at 100 %."""

from __future__ import annotations

from collections.abc import Sequence

from flexmigrate.engine.protocol import Action, Change, Phase, Registry, Step
from phases.decommission import PHASE as DECOMMISSION
from phases.shared import lookups
from phases.shared.sections import APP, CLUSTER, LB_CONTROLLER, TRAFFIC, StepContext


class Cutover(Step):
    id = "cutover"
    title = "all traffic on the EKS target group"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        return [Change(Action.UPDATE, "listener", "EC2", "EKS")]

    def apply(self, ctx: StepContext) -> None:
        elbv2 = ctx.aws("elbv2")
        eks = lookups.target_group_by_name(ctx, ctx.runbook.traffic.eks_target_group)
        if eks is None:
            vpc = lookups.load_balancer(ctx)["VpcId"]
            eks = elbv2.create_target_group(
                Name=ctx.runbook.traffic.eks_target_group,
                Protocol="HTTP",
                Port=8000,
                VpcId=vpc,
                TargetType="ip",
            )["TargetGroups"][0]
        ec2 = lookups.target_group(ctx, ctx.runbook.traffic.ec2_target_group)
        point = lookups.forward_point(ctx)
        elbv2.modify_listener(
            ListenerArn=point.arn,
            DefaultActions=[
                {
                    "Type": "forward",
                    "ForwardConfig": {
                        "TargetGroups": [
                            {"TargetGroupArn": ec2["TargetGroupArn"], "Weight": 0},
                            {"TargetGroupArn": eks["TargetGroupArn"], "Weight": 100},
                        ]
                    },
                }
            ],
        )
        ctx.record_phase(traffic={"ec2_percent": 0, "eks_percent": 100})

    def verify(self, ctx: StepContext) -> Sequence[str]:
        return []

    def rollback(self, ctx: StepContext) -> None:
        return None


def _empty(number: int, slug: str, section: tuple[str, type[object], bool]) -> Phase:
    """A stand-in that changes nothing and owns the section the real phase owns."""
    return Phase(
        f"phase-{number}",
        slug,
        f"stand-in for {slug}",
        lambda rb: [],
        lambda rb: [],
        sections=lambda: [section],
    )


def registry() -> Registry:
    cutover = Phase(
        "phase-4",
        "traffic-shift",
        "stand-in cutover",
        lambda rb: [],
        lambda rb: [Cutover()],
        sections=lambda: [TRAFFIC],
    )
    return Registry(
        [
            _empty(1, "cluster-foundation", CLUSTER),
            _empty(2, "lb-controller", LB_CONTROLLER),
            _empty(3, "app-deploy", APP),
            cutover,
            DECOMMISSION,
        ]
    )
