"""IP target health follows the security groups, as an ALB's health checks would."""

from __future__ import annotations

from typing import Any

from front_helpers import ClientFactory, active_cluster, unique, wait_for

from flexmigrate.sandbox.faults import FaultBoard

PORT = 8000


def _alb(aws: ClientFactory, network: dict[str, Any]) -> dict[str, str]:
    ec2, elbv2 = aws("ec2"), aws("elbv2")
    group = ec2.create_security_group(
        GroupName=unique("flexdesk-alb"), Description="ALB", VpcId=network["vpc"]
    )["GroupId"]
    balancer = elbv2.create_load_balancer(
        Name=unique("flexdesk-alb"), Subnets=network["subnets"], SecurityGroups=[group]
    )["LoadBalancers"][0]["LoadBalancerArn"]
    return {"group": group, "arn": balancer}


def _target_group(aws: ClientFactory, network: dict[str, Any], kind: str = "ip") -> str:
    arn: str = aws("elbv2").create_target_group(
        Name=unique("flexdesk-eks"),
        Protocol="HTTP",
        Port=PORT,
        VpcId=network["vpc"],
        TargetType=kind,
        HealthCheckPath="/health",
    )["TargetGroups"][0]["TargetGroupArn"]
    return arn


def _health(aws: ClientFactory, group: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = aws("elbv2").describe_target_health(TargetGroupArn=group)[
        "TargetHealthDescriptions"
    ]
    return found


def _state(aws: ClientFactory, group: str, state: str) -> dict[str, Any] | None:
    found = _health(aws, group)
    return (
        found[0]["TargetHealth"] if found and found[0]["TargetHealth"]["State"] == state else None
    )


def test_pod_targets_turn_healthy_once_the_cluster_group_admits_the_alb(
    aws: ClientFactory, network: dict[str, Any], faults: FaultBoard
) -> None:
    ec2, elbv2 = aws("ec2"), aws("elbv2")
    cluster = active_cluster(aws, network, unique("health"))
    cluster_group = cluster["resourcesVpcConfig"]["clusterSecurityGroupId"]
    alb = _alb(aws, network)
    group = _target_group(aws, network)
    elbv2.create_listener(
        LoadBalancerArn=alb["arn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
    )
    pod = f"10.{network['block']}.0.25"
    elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": pod, "Port": PORT}])

    first = _health(aws, group)[0]
    assert first["Target"] == {"Id": pod, "Port": PORT}
    assert first["TargetHealth"]["State"] == "initial"
    assert first["TargetHealth"]["Reason"] == "Elb.RegistrationInProgress"
    assert first["HealthCheckPort"] == str(PORT)

    failing = wait_for(lambda: _state(aws, group, "unhealthy"))
    assert failing["Reason"] == "Target.Timeout"
    assert cluster_group in failing["Description"]
    assert alb["group"] in failing["Description"]
    assert f"TCP {PORT}" in failing["Description"]

    ec2.authorize_security_group_ingress(
        GroupId=cluster_group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": PORT,
                "ToPort": PORT,
                "UserIdGroupPairs": [{"GroupId": alb["group"]}],
            }
        ],
    )
    assert wait_for(lambda: _state(aws, group, "healthy")) is not None

    faults.inject(["targets-unhealthy"])
    forced = _state(aws, group, "unhealthy")
    assert forced is not None
    assert forced["Reason"] == "Target.ResponseCodeMismatch"
    faults.clear()
    assert wait_for(lambda: _state(aws, group, "healthy")) is not None

    elbv2.deregister_targets(TargetGroupArn=group, Targets=[{"Id": pod, "Port": PORT}])
    draining = _state(aws, group, "draining")
    assert draining is not None
    assert draining["Reason"] == "Target.DeregistrationInProgress"
    wait_for(lambda: _health(aws, group) == [])


def test_a_cidr_rule_covering_the_alb_subnets_admits_it(
    aws: ClientFactory, network: dict[str, Any]
) -> None:
    ec2, elbv2 = aws("ec2"), aws("elbv2")
    cluster = active_cluster(aws, network, unique("cidr"))
    alb = _alb(aws, network)
    group = _target_group(aws, network)
    other = _target_group(aws, network)
    elbv2.create_listener(
        LoadBalancerArn=alb["arn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": other, "Weight": 100},
                        {"TargetGroupArn": group, "Weight": 0},
                    ]
                },
            }
        ],
    )
    ec2.authorize_security_group_ingress(
        GroupId=cluster["resourcesVpcConfig"]["clusterSecurityGroupId"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 8000,
                "ToPort": 8100,
                "IpRanges": [{"CidrIp": f"10.{network['block']}.0.0/16"}],
            }
        ],
    )
    elbv2.register_targets(
        TargetGroupArn=group, Targets=[{"Id": f"10.{network['block']}.1.9", "Port": PORT}]
    )
    assert wait_for(lambda: _state(aws, group, "healthy"))


def test_a_group_no_load_balancer_forwards_to_is_unused(
    aws: ClientFactory, network: dict[str, Any]
) -> None:
    active_cluster(aws, network, unique("unused"))
    group = _target_group(aws, network)
    aws("elbv2").register_targets(
        TargetGroupArn=group, Targets=[{"Id": f"10.{network['block']}.0.30", "Port": PORT}]
    )
    unused = wait_for(lambda: _state(aws, group, "unused"))
    assert unused["Reason"] == "Target.NotInUse"


def test_instance_targets_keep_moto_s_answer(
    aws: ClientFactory, network: dict[str, Any], faults: FaultBoard
) -> None:
    ec2 = aws("ec2")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(
        ImageId=image,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        SubnetId=network["subnets"][0],
    )["Instances"][0]["InstanceId"]
    group = _target_group(aws, network, kind="instance")
    aws("elbv2").register_targets(TargetGroupArn=group, Targets=[{"Id": instance}])
    faults.inject(["targets-unhealthy"])
    assert wait_for(lambda: _state(aws, group, "healthy")) is not None
