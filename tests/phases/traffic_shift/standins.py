"""Stand-ins for phases 1–3, so phase 4 is tested against the end state it expects without
building a cluster first, and the real command line with them in place.

With ``tests/registry_cli.py`` it is ``flexmigrate`` with this registry: the stand-in phases 1–2
do nothing,
and the stand-in phase 3 leaves what the real one leaves for phase 4 — the EKS target group
``flexdesk-eks`` (ip, port 8000, health check /api/v2/health, the world's VPC), two alarms on
it, two healthy IP targets in the private subnets (network interfaces in a security group
that admits the ALB's group on 8000, which is how the sandbox's AWS front derives IP target
health), and the group attached to the HTTPS:443 listener's forward at weight 0 — then the
real phase 4.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flexmigrate.engine.context import StepContext
from flexmigrate.engine.protocol import Change, Phase, Registry, Step
from flexmigrate.errors import CloudError
from flexmigrate.ownership import aws_tag_list
from phases.traffic_shift import PHASE as TRAFFIC_SHIFT

POD_GROUP = "flexdesk-eks-pods"
ALARMS = ("flexdesk-eks-5xx", "flexdesk-eks-p99")


def _one(items: list[dict[str, Any]], what: str) -> dict[str, Any]:
    if len(items) != 1:
        raise AssertionError(f"expected one {what}, found {len(items)}")
    return items[0]


class StandInAppDeploy(Step):
    """What phase 3 leaves behind for phase 4, created idempotently."""

    id = "stand-in-app-deploy"
    title = "EKS target group, pod targets, alarms, weight-0 attachment (stand-in)"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        return []

    def apply(self, ctx: StepContext) -> None:
        ec2 = ctx.aws("ec2")
        elbv2 = ctx.aws("elbv2")
        vpc = _one(
            ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["flexdesk-vpc"]}])["Vpcs"],
            "VPC",
        )["VpcId"]
        subnets = ec2.describe_subnets(
            Filters=[{"Name": "tag:Name", "Values": ["flexdesk-private-a", "flexdesk-private-b"]}]
        )["Subnets"]
        lb = elbv2.describe_load_balancers(Names=["flexdesk-alb"])["LoadBalancers"][0]
        group = self._pod_group(ctx, vpc, lb["SecurityGroups"][0])
        ips = [self._pod_ip(ctx, subnet["SubnetId"], group, i) for i, subnet in enumerate(subnets)]
        tg = self._target_group(ctx, vpc)
        elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": ip, "Port": 8000} for ip in ips])
        self._alarms(ctx, lb["LoadBalancerArn"], tg)
        self._attach(ctx, lb["LoadBalancerArn"], tg)
        ctx.record(eks_target_group_arn=tg)

        def healthy() -> tuple[bool, str]:
            states = [
                d["TargetHealth"]["State"]
                for d in elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
            ]
            return states.count("healthy") >= 2, ", ".join(states)

        ctx.wait("stand-in targets healthy", healthy, timeout=30, interval=0.1)

    def _pod_group(self, ctx: StepContext, vpc: str, alb_group: str) -> str:
        ec2 = ctx.aws("ec2")
        found = ec2.describe_security_groups(
            Filters=[
                {"Name": "group-name", "Values": [POD_GROUP]},
                {"Name": "vpc-id", "Values": [vpc]},
            ]
        )["SecurityGroups"]
        if found:
            return str(found[0]["GroupId"])
        group = str(
            ec2.create_security_group(
                GroupName=POD_GROUP,
                Description="stand-in pods of the flexdesk backend",
                VpcId=vpc,
                TagSpecifications=[
                    {"ResourceType": "security-group", "Tags": aws_tag_list(ctx.tags())}
                ],
            )["GroupId"]
        )
        ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 8000,
                    "ToPort": 8000,
                    "UserIdGroupPairs": [{"GroupId": alb_group}],
                }
            ],
        )
        return group

    def _pod_ip(self, ctx: StepContext, subnet: str, group: str, index: int) -> str:
        ec2 = ctx.aws("ec2")
        name = f"flexdesk-eks-pod-{index}"
        found = ec2.describe_network_interfaces(Filters=[{"Name": "tag:Name", "Values": [name]}])[
            "NetworkInterfaces"
        ]
        if found:
            return str(found[0]["PrivateIpAddress"])
        tags = aws_tag_list(ctx.tags(Name=name))
        created = ec2.create_network_interface(
            SubnetId=subnet,
            Groups=[group],
            TagSpecifications=[{"ResourceType": "network-interface", "Tags": tags}],
        )["NetworkInterface"]
        return str(created["PrivateIpAddress"])

    def _target_group(self, ctx: StepContext, vpc: str) -> str:
        elbv2 = ctx.aws("elbv2")
        try:
            return str(
                elbv2.describe_target_groups(Names=["flexdesk-eks"])["TargetGroups"][0][
                    "TargetGroupArn"
                ]
            )
        except CloudError:
            pass
        return str(
            elbv2.create_target_group(
                Name="flexdesk-eks",
                Protocol="HTTP",
                Port=8000,
                VpcId=vpc,
                TargetType="ip",
                HealthCheckPath="/api/v2/health",
                Tags=aws_tag_list(ctx.tags()),
            )["TargetGroups"][0]["TargetGroupArn"]
        )

    def _alarms(self, ctx: StepContext, lb: str, tg: str) -> None:
        dimensions = [
            {"Name": "LoadBalancer", "Value": lb.partition(":loadbalancer/")[2]},
            {"Name": "TargetGroup", "Value": "targetgroup/" + tg.partition(":targetgroup/")[2]},
        ]
        common: dict[str, Any] = {
            "Namespace": "AWS/ApplicationELB",
            "Dimensions": dimensions,
            "Period": 10,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "Tags": aws_tag_list(ctx.tags()),
        }
        cloudwatch = ctx.aws("cloudwatch")
        cloudwatch.put_metric_alarm(
            AlarmName=ALARMS[0],
            MetricName="HTTPCode_Target_5XX_Count",
            Statistic="Sum",
            Threshold=10.0,
            **common,
        )
        cloudwatch.put_metric_alarm(
            AlarmName=ALARMS[1],
            MetricName="TargetResponseTime",
            ExtendedStatistic="p99",
            Threshold=1.5,
            **common,
        )

    def _attach(self, ctx: StepContext, lb: str, tg: str) -> None:
        elbv2 = ctx.aws("elbv2")
        listener = next(
            item
            for item in elbv2.describe_listeners(LoadBalancerArn=lb)["Listeners"]
            if item["Port"] == 443
        )
        actions = [dict(a) for a in listener["DefaultActions"]]
        forward = next(a for a in actions if a["Type"] == "forward")
        groups = forward.get("ForwardConfig", {}).get("TargetGroups") or [
            {"TargetGroupArn": forward["TargetGroupArn"], "Weight": 1}
        ]
        if any(g["TargetGroupArn"] == tg for g in groups):
            return
        config = dict(forward.get("ForwardConfig") or {})
        config["TargetGroups"] = [*groups, {"TargetGroupArn": tg, "Weight": 0}]
        forward["ForwardConfig"] = config
        forward.pop("TargetGroupArn", None)
        elbv2.modify_listener(ListenerArn=listener["ListenerArn"], DefaultActions=actions)

    def verify(self, ctx: StepContext) -> Sequence[str]:
        return []

    def rollback(self, ctx: StepContext) -> None:
        """The stand-in's resources stay: tests that roll back stop at phase 4."""


def _nothing(rb: object) -> Sequence[Any]:
    return []


def _owns(name: str) -> Any:
    """The section the real phase owns, loaded when the runbook is (``status`` stays light)."""

    def sections() -> list[Any]:
        from phases.shared import sections as models

        return [getattr(models, name)]

    return sections


def _app_steps(rb: object) -> Sequence[Step]:
    return [StandInAppDeploy()]


def registry() -> Registry:
    return Registry(
        [
            # The stand-ins own the sections the real phases own: the runbook is the same.
            Phase(
                "phase-1",
                "cluster-foundation",
                "stand-in",
                checks=_nothing,
                steps=_nothing,
                sections=_owns("CLUSTER"),
            ),
            Phase(
                "phase-2",
                "lb-controller",
                "stand-in",
                checks=_nothing,
                steps=_nothing,
                sections=_owns("LB_CONTROLLER"),
            ),
            Phase(
                "phase-3",
                "app-deploy",
                "stand-in",
                checks=_nothing,
                steps=_app_steps,
                sections=_owns("APP"),
            ),
            TRAFFIC_SHIFT,
            Phase(
                "phase-5",
                "decommission",
                "stand-in (never run here)",
                checks=_nothing,
                steps=_nothing,
                sections=_owns("DECOMMISSION"),
            ),
        ]
    )
