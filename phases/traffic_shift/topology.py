"""Where phase 4 shifts traffic: the load balancer, listener (or rule) and both target groups,
resolved from the runbook's references at run time, and the reads and writes of the forward.

Everything here reads ELBv2 afresh: the weights are what AWS reports, never what a previous
run believed (a rollout that trusts a weight the ALB has not applied is how canaries lie).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flexmigrate.clients.aws import is_not_found
from flexmigrate.errors import CloudError, StepFailed
from flexmigrate.ownership import tag_dict
from phases.shared.lookups import target_group_by_name
from phases.traffic_shift.lockstep import Place, resolve_places

if TYPE_CHECKING:
    from phases.shared.sections import StepContext, TrafficSection

_TAG_BATCH = 20  # DescribeTags takes at most 20 ARNs


class NotFound(StepFailed):
    """A resource the traffic shift needs does not exist (preflight reports it)."""


@dataclass(frozen=True)
class Topology:
    lb_arn: str
    lb_name: str
    listener_arn: str
    listener_port: int
    listener_protocol: str
    rule_arn: str | None
    rule_priority: str | None
    ec2_tg_arn: str
    ec2_tg_name: str
    eks_tg_arn: str | None
    eks_tg_name: str
    vpc_id: str
    lockstep: tuple[Place, ...] = ()  # traffic.also_shift: weighted with the action above

    @property
    def where(self) -> str:
        """How an operator names the weighted action: ``listener HTTPS:443 of my-alb``."""
        listener = f"listener {self.listener_protocol}:{self.listener_port} of {self.lb_name}"
        if self.rule_arn:
            return f"rule {self.rule_priority} of {listener}"
        return listener

    @property
    def everywhere(self) -> str:
        """The weighted action and every place shifted in lockstep with it."""
        return "; ".join([self.where, *(place.where for place in self.lockstep)])

    @property
    def eks(self) -> str:
        return self.require_eks()

    def require_eks(self) -> str:
        """The EKS target group's ARN; phase 4 cannot weight a group that does not exist."""
        if self.eks_tg_arn is None:
            raise NotFound(
                f"target group {self.eks_tg_name} does not exist",
                hint="phase 3 (app-deploy) creates it: `flexmigrate run app-deploy`",
            )
        return self.eks_tg_arn

    def as_outputs(self) -> dict[str, Any]:
        return {
            "load_balancer_arn": self.lb_arn,
            "listener_arn": self.listener_arn,
            "rule_arn": self.rule_arn,
            "ec2_target_group_arn": self.ec2_tg_arn,
            "eks_target_group_arn": self.eks_tg_arn,
            **({"lockstep_arns": [p.arn for p in self.lockstep]} if self.lockstep else {}),
        }


def resolve(ctx: StepContext) -> Topology:
    """The runbook's references resolved in AWS; raises ``NotFound`` naming what is missing."""
    traffic = ctx.runbook.traffic
    elbv2 = ctx.aws("elbv2")
    lb = _load_balancer(ctx, traffic)
    listener = _listener(ctx, traffic, lb)
    rule_arn: str | None = None
    priority: str | None = None
    if traffic.rule:
        rules = _call_or_missing(
            lambda: elbv2.describe_rules(RuleArns=[traffic.rule])["Rules"],
            f"listener rule {traffic.rule}",
        )
        rule_arn, priority = str(rules[0]["RuleArn"]), str(rules[0].get("Priority"))
    ec2 = _target_group(ctx, traffic.ec2_target_group, "the EC2 target group")
    eks = target_group_by_name(ctx, traffic.eks_target_group)
    lockstep = resolve_places(
        ctx, traffic.also_shift, str(lb["LoadBalancerArn"]), str(lb["LoadBalancerName"])
    )
    return Topology(
        lb_arn=str(lb["LoadBalancerArn"]),
        lb_name=str(lb["LoadBalancerName"]),
        listener_arn=str(listener["ListenerArn"]),
        listener_port=int(listener["Port"]),
        listener_protocol=str(listener.get("Protocol", "")),
        rule_arn=rule_arn,
        rule_priority=priority,
        ec2_tg_arn=str(ec2["TargetGroupArn"]),
        ec2_tg_name=str(ec2["TargetGroupName"]),
        eks_tg_arn=str(eks["TargetGroupArn"]) if eks else None,
        eks_tg_name=traffic.eks_target_group,
        vpc_id=str(lb.get("VpcId", "")),
        lockstep=tuple(lockstep),
    )


def read_actions(ctx: StepContext, topo: Topology) -> list[dict[str, Any]]:
    """The weighted action list as AWS reports it now (listener default actions or rule)."""
    elbv2 = ctx.aws("elbv2")
    if topo.rule_arn:
        rules = elbv2.describe_rules(RuleArns=[topo.rule_arn])["Rules"]
        return [dict(a) for a in rules[0].get("Actions") or []]
    listeners = elbv2.describe_listeners(ListenerArns=[topo.listener_arn])["Listeners"]
    return [dict(a) for a in listeners[0].get("DefaultActions") or []]


def write_actions(ctx: StepContext, topo: Topology, actions: Sequence[dict[str, Any]]) -> None:
    """Write only the actions: ModifyListener/ModifyRule leave every other setting as it is."""
    elbv2 = ctx.aws("elbv2")
    if topo.rule_arn:
        elbv2.modify_rule(RuleArn=topo.rule_arn, Actions=list(actions))
    else:
        elbv2.modify_listener(ListenerArn=topo.listener_arn, DefaultActions=list(actions))


def target_health(ctx: StepContext, tg_arn: str) -> list[tuple[str, str, str]]:
    """(target, state, reason or description) for every target of a group."""
    answer = ctx.aws("elbv2").describe_target_health(TargetGroupArn=tg_arn)
    found = []
    for item in answer.get("TargetHealthDescriptions") or []:
        health = item.get("TargetHealth") or {}
        target = item.get("Target") or {}
        name = str(target.get("Id", "?"))
        if target.get("Port"):
            name += f":{target['Port']}"
        why = str(health.get("Description") or health.get("Reason") or "")
        found.append((name, str(health.get("State", "unknown")), why))
    return found


def tags_of(ctx: StepContext, arns: Sequence[str]) -> dict[str, dict[str, str]]:
    elbv2 = ctx.aws("elbv2")
    tags: dict[str, dict[str, str]] = {}
    for start in range(0, len(arns), _TAG_BATCH):
        batch = list(arns[start : start + _TAG_BATCH])
        for item in elbv2.describe_tags(ResourceArns=batch).get("TagDescriptions") or []:
            tags[str(item["ResourceArn"])] = tag_dict(item.get("Tags") or [])
    return tags


def metric_dimension(arn: str, marker: str) -> str:
    """The part of an ELB ARN CloudWatch uses: ``app/name/id`` or ``targetgroup/name/id``."""
    _, _, rest = arn.partition(f":{marker}/")
    return rest if marker == "loadbalancer" else f"{marker}/{rest}"


# -- resolution -----------------------------------------------------------------------------


def _load_balancer(ctx: StepContext, traffic: TrafficSection) -> dict[str, Any]:
    ref = traffic.load_balancer
    elbv2 = ctx.aws("elbv2")
    if isinstance(ref, str):
        key = "LoadBalancerArns" if ref.startswith("arn:") else "Names"
        found = _call_or_missing(
            lambda: elbv2.describe_load_balancers(**{key: [ref]})["LoadBalancers"],
            f"load balancer {ref}",
        )
        return dict(found[0])
    name = getattr(ref, "name", None)
    if name:
        found = _call_or_missing(
            lambda: elbv2.describe_load_balancers(Names=[name])["LoadBalancers"],
            f"load balancer {name}",
        )
        return dict(found[0])
    wanted = dict(getattr(ref, "tag", {}))
    balancers = [
        lb for page in elbv2.paginate("describe_load_balancers") for lb in page["LoadBalancers"]
    ]
    tags = tags_of(ctx, [str(lb["LoadBalancerArn"]) for lb in balancers])
    matching = [
        lb
        for lb in balancers
        if all(tags.get(lb["LoadBalancerArn"], {}).get(k) == v for k, v in wanted.items())
    ]
    described = ", ".join(f"{k}={v}" for k, v in wanted.items())
    if len(matching) != 1:
        raise NotFound(
            f"{len(matching)} load balancers are tagged {described} (expected exactly one)",
            hint="fix traffic.load_balancer in the runbook (an ARN, {name: …} or {tag: {…}})",
        )
    return dict(matching[0])


def _listener(ctx: StepContext, traffic: TrafficSection, lb: dict[str, Any]) -> dict[str, Any]:
    elbv2 = ctx.aws("elbv2")
    ref = traffic.listener
    if isinstance(ref, str):
        found = _call_or_missing(
            lambda: elbv2.describe_listeners(ListenerArns=[ref])["Listeners"], f"listener {ref}"
        )
        return dict(found[0])
    listeners = [
        listener
        for page in elbv2.paginate("describe_listeners", LoadBalancerArn=lb["LoadBalancerArn"])
        for listener in page["Listeners"]
    ]
    for listener in listeners:
        if int(listener["Port"]) == ref.port:
            return dict(listener)
    ports = ", ".join(str(item["Port"]) for item in listeners) or "none"
    raise NotFound(
        f"load balancer {lb['LoadBalancerName']} has no listener on port {ref.port} "
        f"(ports: {ports})",
        hint="fix traffic.listener in the runbook",
    )


def _target_group(ctx: StepContext, ref: object, what: str) -> dict[str, Any]:
    elbv2 = ctx.aws("elbv2")
    if isinstance(ref, str) and ref.startswith("arn:"):
        found = _call_or_missing(
            lambda: elbv2.describe_target_groups(TargetGroupArns=[ref])["TargetGroups"],
            f"{what} {ref}",
        )
        return dict(found[0])
    name = ref if isinstance(ref, str) else getattr(ref, "name", None)
    if name:
        group = target_group_by_name(ctx, str(name))
        if group is None:
            raise NotFound(f"{what} {name} does not exist", hint="fix the runbook's reference")
        return group
    wanted = dict(getattr(ref, "tag", {}))
    groups = list(_all_target_groups(ctx))
    tags = tags_of(ctx, [str(g["TargetGroupArn"]) for g in groups])
    matching = [
        g
        for g in groups
        if all(tags.get(g["TargetGroupArn"], {}).get(k) == v for k, v in wanted.items())
    ]
    if len(matching) != 1:
        described = ", ".join(f"{k}={v}" for k, v in wanted.items())
        raise NotFound(
            f"{len(matching)} target groups are tagged {described} for {what} "
            "(expected exactly one)",
            hint="fix the runbook's reference",
        )
    return dict(matching[0])


def _all_target_groups(ctx: StepContext) -> Iterator[dict[str, Any]]:
    for page in ctx.aws("elbv2").paginate("describe_target_groups"):
        yield from page["TargetGroups"]


def _call_or_missing(call: Any, what: str) -> list[dict[str, Any]]:
    try:
        found: list[dict[str, Any]] = call()
    except CloudError as exc:
        if is_not_found(exc):
            raise NotFound(f"{what} does not exist", hint="fix the runbook's reference") from exc
        raise
    if not found:
        raise NotFound(f"{what} does not exist", hint="fix the runbook's reference")
    return found
