"""Reads for decommission: the instance, its target group registration, the weights the
listener applies now, and the requests the EC2 target group served in a window."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flexmigrate.clients.aws import is_not_found
from flexmigrate.errors import CloudError
from phases.shared import lookups
from phases.shared.sections import StepContext


def parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def instance_by_id(ctx: StepContext, instance_id: str) -> dict[str, Any] | None:
    try:
        reservations = ctx.aws("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    except CloudError as exc:
        if is_not_found(exc):
            return None
        raise
    found = [i for r in reservations for i in r["Instances"]]
    return dict(found[0]) if found else None


def state_of(instance: dict[str, Any] | None) -> str:
    return str(instance["State"]["Name"]) if instance else "absent"


def stop_protected(ctx: StepContext, instance_id: str) -> bool:
    """Whether the instance has stop protection (StopInstances is refused while it has)."""
    answer = ctx.aws("ec2").describe_instance_attribute(
        InstanceId=instance_id, Attribute="disableApiStop"
    )
    return bool((answer.get("DisableApiStop") or {}).get("Value"))


def the_instance(ctx: StepContext) -> dict[str, Any]:
    """The runbook's instance: by the ID recorded when the phase first resolved it, so a
    resumed or rolled-back run acts on the same instance even once it is stopped."""
    recorded = ctx.phase_outputs().get("instance_id")
    if isinstance(recorded, str):
        found = instance_by_id(ctx, recorded)
        if found is not None:
            return found
    return lookups.instance(ctx, ctx.runbook.decommission.instance)


def ec2_target_group(ctx: StepContext) -> dict[str, Any]:
    return lookups.target_group(ctx, ctx.runbook.traffic.ec2_target_group)


def registration(ctx: StepContext, group_arn: str, instance_id: str) -> dict[str, Any] | None:
    """The instance's entry in the target group's health, or None when not registered."""
    health = ctx.aws("elbv2").describe_target_health(TargetGroupArn=group_arn)
    for entry in health["TargetHealthDescriptions"]:
        if entry["Target"]["Id"] == instance_id:
            return dict(entry)
    return None


def live_weights(ctx: StepContext) -> dict[str, int]:
    """Target group ARN → weight of the forward action where the cutover happens."""
    point = lookups.forward_point(ctx)
    weights: dict[str, int] = {}
    for action in point.actions:
        if action.get("Type") != "forward":
            continue
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
        if groups:
            for group in groups:
                weights[str(group["TargetGroupArn"])] = int(group.get("Weight", 1))
        elif action.get("TargetGroupArn"):
            weights[str(action["TargetGroupArn"])] = 1
    return weights


def eks_share(ctx: StepContext) -> tuple[int, int]:
    """(EC2 %, EKS %) of the live forward action."""
    weights = live_weights(ctx)
    ec2 = ec2_target_group(ctx)["TargetGroupArn"]
    eks = lookups.target_group_by_name(ctx, ctx.runbook.traffic.eks_target_group)
    eks_arn = eks["TargetGroupArn"] if eks else ""
    total = sum(weights.values()) or 1
    return round(100 * weights.get(ec2, 0) / total), round(100 * weights.get(eks_arn, 0) / total)


def ec2_requests(ctx: StepContext, since: dt.datetime, until: dt.datetime) -> float:
    """Requests the EC2 target group served in the metric periods that began after ``since``
    and before ``until`` (a period that began before ``since`` mixes in earlier traffic). An
    ALB publishes no datapoint for a period without requests, so no data is zero here."""
    group = ec2_target_group(ctx)
    balancer = lookups.load_balancer(ctx)
    dims = [
        {
            "Name": "LoadBalancer",
            "Value": lookups.metric_dimension(balancer["LoadBalancerArn"], "loadbalancer"),
        },
        {
            "Name": "TargetGroup",
            "Value": lookups.metric_dimension(group["TargetGroupArn"], "targetgroup"),
        },
    ]
    period = max(1, int(ctx.runbook.traffic.gates.metric_period))
    epoch = since.timestamp()
    since = dt.datetime.fromtimestamp((epoch // period + 1) * period, dt.UTC)
    result = ctx.aws("cloudwatch").get_metric_data(
        MetricDataQueries=[
            {
                "Id": "requests",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/ApplicationELB",
                        "MetricName": "RequestCount",
                        "Dimensions": dims,
                    },
                    "Period": period,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=since,
        EndTime=max(until, since + dt.timedelta(seconds=period)),
    )
    return float(sum(result["MetricDataResults"][0].get("Values", [])))
