"""The EKS target group (ip targets on the app port, in the load balancer's VPC) and its
CloudWatch alarms, which phase 4's gates read.

ELBv2 and CloudWatch take no client tokens: names are the guard. The target group is looked
up by its runbook name before it is created; one of that name that flexmigrate did not
create is refused, never adopted. Alarms are written with PutMetricAlarm, which creates or
updates by name. Rollback deletes only what carries this runbook's tags and waits until it
is gone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flexmigrate.clients.aws import is_not_found
from flexmigrate.engine.protocol import Action, Change, Step
from flexmigrate.errors import CloudError, StepFailed
from flexmigrate.ownership import aws_tag_list, owned, tag_dict
from phases.app_deploy.draining import deregistration_delay
from phases.app_deploy.kube import poll
from phases.app_deploy.release import is_redeploy
from phases.app_deploy.render import render
from phases.shared import lookups
from phases.shared.alarms import alarms_by_name
from phases.shared.sections import StepContext

# Copied from the EC2 side's target group, so both sides treat a client alike while traffic
# is split (stickiness decides whether a client keeps landing on one side).
_SHARED_ATTRIBUTES = (
    "stickiness.enabled",
    "stickiness.type",
    "stickiness.lb_cookie.duration_seconds",
    "load_balancing.algorithm.type",
)


def _settings(ctx: StepContext) -> dict[str, Any]:
    spec = ctx.runbook.app.target_group
    interval = max(5, int(spec.health_check_interval))
    return {
        "Protocol": "HTTP",
        "ProtocolVersion": "HTTP1",
        "Port": spec.port or ctx.runbook.app.port,
        "TargetType": "ip",
        "HealthCheckProtocol": "HTTP",
        "HealthCheckPort": "traffic-port",
        "HealthCheckPath": spec.health_check_path,
        "HealthCheckIntervalSeconds": interval,
        "HealthCheckTimeoutSeconds": min(5, interval - 1),
        "HealthyThresholdCount": 2,
        "UnhealthyThresholdCount": 2,
        "Matcher": {"HttpCode": "200"},
    }


class TargetGroupStep(Step):
    id = "target-group"
    title = "EKS target group (ip targets, tagged)"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        spec = ctx.runbook.app.target_group
        found = lookups.target_group_by_name(ctx, spec.name)
        delay, why = deregistration_delay(render(ctx), ctx.runbook.app)
        port = spec.port or ctx.runbook.app.port
        desired = (
            f"ip targets on port {port}, health check {spec.health_check_path}, "
            f"deregistration delay {delay}s ({why})"
        )
        if found is None:
            return [Change(Action.CREATE, f"target group {spec.name}", "absent", desired)]
        mine = owned(lookups.elbv2_tags(ctx, found["TargetGroupArn"]), ctx.runbook.name)
        return [
            Change(
                Action.NOOP if mine else Action.UPDATE,
                f"target group {spec.name}",
                "present" + ("" if mine else " — NOT flexmigrate's: preflight refuses it"),
                desired,
            )
        ]

    def diff(self, ctx: StepContext) -> Sequence[Change]:
        """The recorded target group against the runbook: its port and name cannot change in
        place (ModifyTargetGroup has no Port, a group is never renamed), and a new group means
        new targets, a new binding and the listener's weights moved to it — refused."""
        spec = ctx.runbook.app.target_group
        arn = str(ctx.outputs.get("target_group_arn") or "")
        if not arn:
            return ()
        try:
            found = ctx.aws("elbv2").describe_target_groups(TargetGroupArns=[arn])["TargetGroups"]
        except CloudError as exc:
            if not is_not_found(exc):
                raise
            return ()
        if not found:
            return ()
        group = found[0]
        name, port = str(group["TargetGroupName"]), int(group.get("Port") or 0)
        instead = (
            "to serve from another target group, roll back traffic-shift and app-deploy "
            "(`flexmigrate rollback traffic-shift`, then `flexmigrate rollback app-deploy`) "
            "and run them again"
        )
        changes = []
        if name != spec.name:
            changes.append(
                Change(
                    Action.REFUSE,
                    f"target group {name}",
                    f"name {name}",
                    f"name {spec.name}",
                    note="a target group cannot be renamed; a new name would be a second group",
                    instead=f"put app.target_group.name back to {name}; {instead}",
                )
            )
        if port != spec.port:
            changes.append(
                Change(
                    Action.REFUSE,
                    f"target group {name} port",
                    str(port),
                    str(spec.port),
                    note="a target group's port cannot be changed in place (ModifyTargetGroup "
                    "has no Port) and the listener's weights point at this group",
                    instead=f"put app.target_group.port back to {port}; {instead}",
                )
            )
        return changes

    def apply(self, ctx: StepContext) -> None:
        spec = ctx.runbook.app.target_group
        elbv2 = ctx.aws("elbv2")
        found = lookups.target_group_by_name(ctx, spec.name)
        if found is not None and not owned(
            lookups.elbv2_tags(ctx, found["TargetGroupArn"]), ctx.runbook.name
        ):
            raise StepFailed(
                f"target group {spec.name} exists and was not created by flexmigrate",
                hint="rename app.target_group.name in the runbook, or delete that target group",
            )
        if found is None:
            balancer = lookups.load_balancer(ctx)
            found = elbv2.create_target_group(
                Name=spec.name,
                VpcId=balancer["VpcId"],
                Tags=aws_tag_list(ctx.tags(Name=spec.name)),
                **_settings(ctx),
            )["TargetGroups"][0]
        arn = str(found["TargetGroupArn"])
        ctx.record(target_group_arn=arn, target_group=spec.name)
        attributes = [
            {
                "Key": "deregistration_delay.timeout_seconds",
                "Value": str(deregistration_delay(render(ctx), ctx.runbook.app)[0]),
            },
            *_ec2_side_attributes(ctx),
        ]
        elbv2.modify_target_group_attributes(TargetGroupArn=arn, Attributes=attributes)
        shared = [a["Key"] for a in attributes[1:]]
        if shared:
            ctx.note(f"copied from the EC2 target group: {', '.join(shared)}")

    def verify(self, ctx: StepContext) -> Sequence[str]:
        spec = ctx.runbook.app.target_group
        found = lookups.target_group_by_name(ctx, spec.name)
        if found is None:
            return [f"target group {spec.name} is missing"]
        problems = []
        if found.get("TargetType") != "ip":
            problems.append(f"target group {spec.name} has target type {found.get('TargetType')}")
        if found.get("HealthCheckPath") != spec.health_check_path:
            problems.append(
                f"target group {spec.name} checks {found.get('HealthCheckPath')}, "
                f"the runbook says {spec.health_check_path}"
            )
        return problems

    def rollback(self, ctx: StepContext) -> None:
        if is_redeploy(ctx):
            return
        spec = ctx.runbook.app.target_group
        found = lookups.target_group_by_name(ctx, spec.name)
        if found is None:
            return
        arn = str(found["TargetGroupArn"])
        if not owned(lookups.elbv2_tags(ctx, arn), ctx.runbook.name):
            ctx.ui.info(f"keeping target group {spec.name}: flexmigrate did not create it")
            return
        ctx.aws("elbv2").delete_target_group(TargetGroupArn=arn)
        ctx.wait(
            f"target group {spec.name} deleted",
            lambda: (lookups.target_group_by_name(ctx, spec.name) is None, "deleting"),
            timeout=120,
            interval=poll(ctx),
        )


def _ec2_side_attributes(ctx: StepContext) -> list[dict[str, str]]:
    try:
        ec2_group = lookups.target_group(ctx, ctx.runbook.traffic.ec2_target_group)
    except StepFailed:
        return []
    found = ctx.aws("elbv2").describe_target_group_attributes(
        TargetGroupArn=ec2_group["TargetGroupArn"]
    )["Attributes"]
    return [
        {"Key": str(a["Key"]), "Value": str(a["Value"])}
        for a in found
        if a.get("Key") in _SHARED_ATTRIBUTES
    ]


def alarm_names(ctx: StepContext) -> list[str]:
    existing = ctx.runbook.app.alarms.existing
    if existing:
        return list(existing)
    name = ctx.runbook.app.target_group.name
    return [f"{name}-5xx", f"{name}-p99"]


def _alarm_bodies(ctx: StepContext, target_group_arn: str) -> list[dict[str, Any]]:
    spec = ctx.runbook.app.alarms
    balancer = lookups.load_balancer(ctx)
    dimensions = [
        {
            "Name": "LoadBalancer",
            "Value": lookups.metric_dimension(balancer["LoadBalancerArn"], "loadbalancer"),
        },
        {"Name": "TargetGroup", "Value": lookups.metric_dimension(target_group_arn, "targetgroup")},
    ]
    five_xx, p99 = alarm_names(ctx)
    period = max(10, int(spec.period))
    # ALB metrics exist only while requests flow and 5xx counts only when non-zero: missing
    # data is the normal, healthy case (phase 4's gates never count it as a pass).
    common: dict[str, Any] = {
        "Namespace": "AWS/ApplicationELB",
        "Dimensions": dimensions,
        "Period": period,
        "EvaluationPeriods": spec.evaluation_periods,
        "DatapointsToAlarm": spec.evaluation_periods,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "ActionsEnabled": True,
    }
    return [
        {
            "AlarmName": five_xx,
            "AlarmDescription": f"EKS side of {ctx.runbook.name}: more than "
            f"{spec.http_5xx_threshold} target 5xx per {period}s (flexmigrate)",
            "MetricName": "HTTPCode_Target_5XX_Count",
            "Statistic": "Sum",
            "Threshold": float(spec.http_5xx_threshold),
            "Unit": "Count",
            "Tags": aws_tag_list(ctx.tags(Name=five_xx)),
            **common,
        },
        {
            "AlarmName": p99,
            "AlarmDescription": f"EKS side of {ctx.runbook.name}: p99 target response time "
            f"above {spec.p99_latency:g}s (flexmigrate)",
            "MetricName": "TargetResponseTime",
            "ExtendedStatistic": "p99",
            "Threshold": float(spec.p99_latency),
            "Unit": "Seconds",
            "Tags": aws_tag_list(ctx.tags(Name=p99)),
            **common,
        },
    ]


def _alarms(ctx: StepContext, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    return alarms_by_name(ctx, names)


def _alarm_tags(ctx: StepContext, arn: str) -> dict[str, str]:
    try:
        return tag_dict(ctx.aws("cloudwatch").list_tags_for_resource(ResourceARN=arn)["Tags"])
    except CloudError as exc:
        if is_not_found(exc):
            return {}
        raise


class AlarmsStep(Step):
    id = "alarms"
    title = "CloudWatch alarms of the EKS target group (5xx, p99 latency)"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        names = alarm_names(ctx)
        present = _alarms(ctx, names)
        if ctx.runbook.app.alarms.existing:
            return [
                Change(
                    Action.NOOP,
                    f"alarm {n}",
                    "present" if n in present else "MISSING",
                    "used by phase 4's gates (the runbook's own)",
                )
                for n in names
            ]
        return [
            Change(
                Action.UPDATE if n in present else Action.CREATE,
                f"alarm {n}",
                "present" if n in present else "absent",
                "on the EKS target group, tagged",
            )
            for n in names
        ]

    def apply(self, ctx: StepContext) -> None:
        names = alarm_names(ctx)
        if ctx.runbook.app.alarms.existing:
            missing = [n for n in names if n not in _alarms(ctx, names)]
            if missing:
                raise StepFailed(f"alarm {', '.join(missing)} (app.alarms.existing) not found")
            ctx.record(alarm_names=names, alarms_created=False)
            return
        arn = ctx.phase_outputs().get("target_group_arn")
        if not arn:
            found = lookups.target_group_by_name(ctx, ctx.runbook.app.target_group.name)
            if found is None:
                raise StepFailed("the EKS target group is missing; run the phase again")
            arn = found["TargetGroupArn"]
        present = _alarms(ctx, names)
        for body in _alarm_bodies(ctx, str(arn)):
            existing = present.get(body["AlarmName"])
            if existing is not None and not owned(
                _alarm_tags(ctx, existing["AlarmArn"]), ctx.runbook.name
            ):
                raise StepFailed(
                    f"alarm {body['AlarmName']} exists and was not created by flexmigrate",
                    hint="name it in app.alarms.existing to use it, or delete it",
                )
            ctx.aws("cloudwatch").put_metric_alarm(**body)
        ctx.record(alarm_names=names, alarms_created=True)

    def verify(self, ctx: StepContext) -> Sequence[str]:
        names = alarm_names(ctx)
        present = _alarms(ctx, names)
        return [f"alarm {n} is missing" for n in names if n not in present]

    def rollback(self, ctx: StepContext) -> None:
        if is_redeploy(ctx) or ctx.runbook.app.alarms.existing:
            return
        names = alarm_names(ctx)
        doomed = [
            n
            for n, alarm in _alarms(ctx, names).items()
            if owned(_alarm_tags(ctx, alarm["AlarmArn"]), ctx.runbook.name)
        ]
        if not doomed:
            return
        ctx.aws("cloudwatch").delete_alarms(AlarmNames=doomed)
        ctx.wait(
            "alarms deleted",
            lambda: (not set(doomed) & set(_alarms(ctx, doomed)), "deleting"),
            timeout=60,
            interval=poll(ctx),
        )
