"""Every other path to the EC2 target group: listener rules (and the default actions of other
listeners) of the load balancer that forward to it besides the weighted action.

Left alone, such a rule keeps sending its requests to the instance after the shift reaches
100 %, and decommission would stop the instance under it. So preflight lists every one; the
runbook names those to move (``traffic.also_shift``), and each weight the shift writes on the
weighted action is written on them too and read back on all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from phases.traffic_shift.weights import matches, split_of, weights_of, with_split

if TYPE_CHECKING:
    from phases.shared.sections import StepContext
    from phases.traffic_shift.topology import Topology


@dataclass(frozen=True)
class Place:
    """One rule, or one listener's default action, that forwards (a rule ARN or listener ARN)."""

    arn: str
    where: str

    @property
    def is_rule(self) -> bool:
        return ":listener-rule/" in self.arn

    def read(self, ctx: StepContext) -> list[dict[str, Any]]:
        elbv2 = ctx.aws("elbv2")
        if self.is_rule:
            rules = elbv2.describe_rules(RuleArns=[self.arn])["Rules"]
            return [dict(a) for a in rules[0].get("Actions") or []]
        listeners = elbv2.describe_listeners(ListenerArns=[self.arn])["Listeners"]
        return [dict(a) for a in listeners[0].get("DefaultActions") or []]

    def write(self, ctx: StepContext, actions: Sequence[dict[str, Any]]) -> None:
        elbv2 = ctx.aws("elbv2")
        if self.is_rule:
            elbv2.modify_rule(RuleArn=self.arn, Actions=list(actions))
        else:
            elbv2.modify_listener(ListenerArn=self.arn, DefaultActions=list(actions))


def listener_name(listener: dict[str, Any], lb_name: str) -> str:
    return f"listener {listener.get('Protocol', '')}:{listener['Port']} of {lb_name}"


def every_forward(
    ctx: StepContext, lb_arn: str, lb_name: str
) -> list[tuple[Place, dict[str, Any]]]:
    """Every listener's default action and every rule of the load balancer, with the weights
    of its forward (empty when it does not forward)."""
    elbv2 = ctx.aws("elbv2")
    found: list[tuple[Place, dict[str, Any]]] = []
    for page in elbv2.paginate("describe_listeners", LoadBalancerArn=lb_arn):
        for listener in page["Listeners"]:
            name = listener_name(listener, lb_name)
            place = Place(str(listener["ListenerArn"]), name)
            found.append((place, weights_of(listener.get("DefaultActions") or [])))
            for rules in elbv2.paginate("describe_rules", ListenerArn=listener["ListenerArn"]):
                for rule in rules["Rules"]:
                    if rule.get("IsDefault"):
                        continue  # the listener's default action, counted above
                    where = f"rule {rule.get('Priority')} of {name}"
                    found.append(
                        (Place(str(rule["RuleArn"]), where), weights_of(rule.get("Actions") or []))
                    )
    return found


def resolve_places(ctx: StepContext, arns: Sequence[str], lb_arn: str, lb_name: str) -> list[Place]:
    """The runbook's ``also_shift`` ARNs as places, named as an operator reads them."""
    if not arns:
        return []
    known = {place.arn: place for place, _ in every_forward(ctx, lb_arn, lb_name)}
    return [known.get(arn, Place(arn, arn)) for arn in arns]


def unnamed_forwards_to_ec2(ctx: StepContext, topo: Topology) -> tuple[list[Place], list[str]]:
    """(places forwarding to EC2 the runbook does not name, named ARNs that do not)."""
    weighted = topo.rule_arn or topo.listener_arn
    named = {place.arn for place in topo.lockstep}
    unnamed: list[Place] = []
    to_ec2: set[str] = set()
    for place, weights in every_forward(ctx, topo.lb_arn, topo.lb_name):
        if topo.ec2_tg_arn not in weights:
            continue
        to_ec2.add(place.arn)
        if place.arn != weighted and place.arn not in named:
            unnamed.append(place)
    strays = [place.where for place in topo.lockstep if place.arn not in to_ec2]
    return unnamed, strays


def write_lockstep(ctx: StepContext, topo: Topology, percent: int) -> None:
    """Write ``100 − percent / percent`` on every named place that does not report it."""
    for place in topo.lockstep:
        actions = place.read(ctx)
        if not matches(actions, topo.ec2_tg_arn, topo.eks, percent):
            place.write(ctx, with_split(actions, topo.ec2_tg_arn, topo.eks, percent))


def lockstep_lagging(ctx: StepContext, topo: Topology, percent: int) -> list[str]:
    """The named places that do not report ``percent`` yet, with what they report."""
    lagging = []
    for place in topo.lockstep:
        actions = place.read(ctx)
        if not matches(actions, topo.ec2_tg_arn, topo.eks, percent):
            lagging.append(f"{place.where} {split_of(actions, topo.ec2_tg_arn, topo.eks_tg_arn)}")
    return lagging
