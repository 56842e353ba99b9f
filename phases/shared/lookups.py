"""AWS look-ups shared by the phases: the runbook's resource references resolved at run time, the
cluster and its security group, the load balancer, its listener and the target groups.

Everything here only reads. A reference is an ID/ARN (a plain string) or a ``{name: …}`` /
``{tag: {…}}`` selector, so one runbook works in any account; a selector that matches
nothing, or more than one resource, is an error that names the selector.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flexmigrate.clients.aws import is_not_found
from flexmigrate.errors import CloudError, StepFailed
from phases.shared.sections import StepContext


def describe_ref(ref: object) -> str:
    """A reference as the operator wrote it, for messages."""
    if isinstance(ref, str):
        return ref
    tag = getattr(ref, "tag", None)
    if isinstance(tag, dict):
        return "tag " + ",".join(f"{k}={v}" for k, v in tag.items())
    return f"name={getattr(ref, 'name', ref)}"


def _tag_filters(ref: object) -> list[dict[str, Any]]:
    tag = getattr(ref, "tag", None) or {}
    return [{"Name": f"tag:{k}", "Values": [v]} for k, v in tag.items()]


def _only(found: Sequence[dict[str, Any]], what: str, ref: object) -> dict[str, Any]:
    if not found:
        raise StepFailed(
            f"no {what} matches {describe_ref(ref)}",
            hint=f"fix the {what} reference in the runbook",
        )
    if len(found) > 1:
        raise StepFailed(
            f"{len(found)} {what}s match {describe_ref(ref)}; the reference must name one",
            hint="use an ID/ARN or a more specific tag selector in the runbook",
        )
    return found[0]


# -- EC2 ------------------------------------------------------------------------------------
def security_group(ctx: StepContext, ref: object) -> dict[str, Any]:
    ec2 = ctx.aws("ec2")
    if isinstance(ref, str):
        try:
            groups = ec2.describe_security_groups(GroupIds=[ref])["SecurityGroups"]
        except CloudError as exc:
            if is_not_found(exc):
                groups = []
            else:
                raise
    elif getattr(ref, "tag", None):
        groups = ec2.describe_security_groups(Filters=_tag_filters(ref))["SecurityGroups"]
    else:
        name = str(getattr(ref, "name", ""))
        groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])[
            "SecurityGroups"
        ]
    return _only(groups, "security group", ref)


def group_by_id(ctx: StepContext, group_id: str) -> dict[str, Any] | None:
    try:
        groups = ctx.aws("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    except CloudError as exc:
        if is_not_found(exc):
            return None
        raise
    return dict(groups[0]) if groups else None


def instance(ctx: StepContext, ref: object) -> dict[str, Any]:
    ec2 = ctx.aws("ec2")
    live = {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}
    if isinstance(ref, str):
        kwargs: dict[str, Any] = {"InstanceIds": [ref]}
    elif getattr(ref, "tag", None):
        kwargs = {"Filters": [*_tag_filters(ref), live]}
    else:
        kwargs = {"Filters": [{"Name": "tag:Name", "Values": [getattr(ref, "name", "")]}, live]}
    found: list[dict[str, Any]] = []
    try:
        for page in ec2.paginate("describe_instances", **kwargs):
            for reservation in page["Reservations"]:
                found += reservation["Instances"]
    except CloudError as exc:
        if not is_not_found(exc):
            raise
    return _only(found, "EC2 instance", ref)


def subnet_cidrs(ctx: StepContext, subnet_ids: Sequence[str]) -> list[str]:
    if not subnet_ids:
        return []
    subnets = ctx.aws("ec2").describe_subnets(SubnetIds=list(subnet_ids))["Subnets"]
    return [str(s["CidrBlock"]) for s in subnets]


# -- EKS ------------------------------------------------------------------------------------
def cluster(ctx: StepContext) -> dict[str, Any] | None:
    """The runbook's EKS cluster, or None while it does not exist (phase 1 not run yet)."""
    try:
        found = ctx.aws("eks").describe_cluster(name=ctx.runbook.cluster.name)["cluster"]
    except CloudError as exc:
        if is_not_found(exc):
            return None
        raise
    return dict(found)


def cluster_security_group(ctx: StepContext) -> str | None:
    """The security group EKS gives the control plane, managed nodes and so their pods."""
    found = cluster(ctx)
    if found is None:
        return None
    group = found.get("resourcesVpcConfig", {}).get("clusterSecurityGroupId")
    return str(group) if group else None


def cluster_active(ctx: StepContext) -> bool:
    found = cluster(ctx)
    return found is not None and found.get("status") == "ACTIVE"


# -- ELBv2 ----------------------------------------------------------------------------------
def load_balancer(ctx: StepContext) -> dict[str, Any]:
    ref = ctx.runbook.traffic.load_balancer
    elbv2 = ctx.aws("elbv2")
    try:
        if isinstance(ref, str):
            found = elbv2.describe_load_balancers(LoadBalancerArns=[ref])["LoadBalancers"]
        elif getattr(ref, "tag", None):
            wanted = dict(getattr(ref, "tag", {}))
            found = []
            for page in elbv2.paginate("describe_load_balancers"):
                for balancer in page["LoadBalancers"]:
                    if _has_tags(ctx, balancer["LoadBalancerArn"], wanted):
                        found.append(balancer)
        else:
            names = [str(getattr(ref, "name", ""))]
            found = elbv2.describe_load_balancers(Names=names)["LoadBalancers"]
    except CloudError as exc:
        if not is_not_found(exc):
            raise
        found = []
    return _only(found, "load balancer", ref)


def _has_tags(ctx: StepContext, arn: str, wanted: dict[str, str]) -> bool:
    described = ctx.aws("elbv2").describe_tags(ResourceArns=[arn])["TagDescriptions"]
    tags = {t["Key"]: t["Value"] for d in described for t in d.get("Tags", [])}
    return all(tags.get(k) == v for k, v in wanted.items())


def elbv2_tags(ctx: StepContext, arn: str) -> dict[str, str]:
    described = ctx.aws("elbv2").describe_tags(ResourceArns=[arn])["TagDescriptions"]
    return {t["Key"]: t["Value"] for d in described for t in d.get("Tags", [])}


@dataclass(frozen=True)
class ForwardPoint:
    """Where the EKS target group joins the traffic: a listener's default action, or a
    rule's (when the runbook names one). ``actions`` are the current actions there."""

    kind: str  # "listener" | "rule"
    arn: str
    actions: list[dict[str, Any]]
    label: str = ""

    def describe(self) -> str:
        return self.label or f"{self.kind} {self.arn}"


def listener(ctx: StepContext, balancer: dict[str, Any] | None = None) -> dict[str, Any]:
    ref = ctx.runbook.traffic.listener
    elbv2 = ctx.aws("elbv2")
    if isinstance(ref, str):
        try:
            return dict(elbv2.describe_listeners(ListenerArns=[ref])["Listeners"][0])
        except CloudError as exc:
            if is_not_found(exc):
                raise StepFailed(f"listener {ref} does not exist") from exc
            raise
    balancer = balancer or load_balancer(ctx)
    listeners = elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    for found in listeners:
        if int(found["Port"]) == ref.port:
            return dict(found)
    raise StepFailed(
        f"load balancer {balancer['LoadBalancerName']} has no listener on port {ref.port}",
        hint="fix traffic.listener in the runbook",
    )


def forward_point(ctx: StepContext, balancer: dict[str, Any] | None = None) -> ForwardPoint:
    rule_arn = ctx.runbook.traffic.rule
    if rule_arn:
        try:
            rule = ctx.aws("elbv2").describe_rules(RuleArns=[rule_arn])["Rules"][0]
        except CloudError as exc:
            if is_not_found(exc):
                raise StepFailed(f"listener rule {rule_arn} does not exist") from exc
            raise
        label = f"rule {rule.get('Priority', '?')} ({rule_arn.rsplit('/', 1)[-1]})"
        return ForwardPoint("rule", rule_arn, list(rule.get("Actions", [])), label)
    found = listener(ctx, balancer)
    name = str(found["LoadBalancerArn"]).split("/")[-2]
    label = f"listener {found.get('Protocol', '')}:{found['Port']} of {name}"
    return ForwardPoint("listener", str(found["ListenerArn"]), list(found["DefaultActions"]), label)


def target_group_by_name(ctx: StepContext, name: str) -> dict[str, Any] | None:
    try:
        groups = ctx.aws("elbv2").describe_target_groups(Names=[name])["TargetGroups"]
    except CloudError as exc:
        if is_not_found(exc):
            return None
        raise
    return dict(groups[0]) if groups else None


def target_group(ctx: StepContext, ref: object) -> dict[str, Any]:
    elbv2 = ctx.aws("elbv2")
    try:
        if isinstance(ref, str):
            found = elbv2.describe_target_groups(TargetGroupArns=[ref])["TargetGroups"]
        elif getattr(ref, "tag", None):
            wanted = dict(getattr(ref, "tag", {}))
            found = []
            for page in elbv2.paginate("describe_target_groups"):
                for group in page["TargetGroups"]:
                    if _has_tags(ctx, group["TargetGroupArn"], wanted):
                        found.append(group)
        else:
            found = elbv2.describe_target_groups(Names=[str(getattr(ref, "name", ""))])[
                "TargetGroups"
            ]
    except CloudError as exc:
        if not is_not_found(exc):
            raise
        found = []
    return _only(found, "target group", ref)


def metric_dimension(arn: str, marker: str) -> str:
    """``app/my-alb/<id>`` from a load balancer ARN, ``targetgroup/<name>/<id>`` from a
    target group's: the values CloudWatch's AWS/ApplicationELB dimensions take."""
    tail = arn.split(":", 5)[-1]
    if marker == "loadbalancer":
        return tail.split("loadbalancer/", 1)[-1]
    return tail
