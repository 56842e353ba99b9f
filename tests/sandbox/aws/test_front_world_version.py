"""The front's world version, and the traffic simulator that reads the world only when it moved.

A sandbox's traffic simulator used to read every load balancer, listener, rule, target group,
target health and alarm once a second for as long as the sandbox ran, at rest or not. It now
reads them again only when the front's world version moved, the faults changed, or a target
was last seen ``initial`` or ``draining``. These tests hold both ends: the version moves for
everything that may change the world, and the simulator still follows what a user changes
(and what changes with time alone) at its next tick, while reading nothing at rest.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from front_helpers import (
    ClientFactory,
    active_cluster,
    make_client,
    status_is,
    two_zone_vpc,
    unique,
    wait_for,
)

from flexmigrate.sandbox.aws import AwsFront
from flexmigrate.sandbox.faults import FaultBoard
from flexmigrate.sandbox.traffic import TrafficSimulator

PORT = 8000
# A region no other front test uses: the simulator reads every load balancer of its region.
QUIET_REGION = "eu-west-3"


def test_reads_leave_the_version_and_every_other_call_moves_it(
    aws: ClientFactory, front: AwsFront
) -> None:
    elbv2, ec2 = aws("elbv2"), aws("ec2", attempts=1)
    before = front.world_version()
    elbv2.describe_load_balancers()
    elbv2.describe_target_groups()
    aws("eks").list_clusters()
    assert front.world_version() == before

    with pytest.raises(ec2.exceptions.ClientError):  # refused, yet counted: it may have done
        ec2.delete_security_group(GroupId="sg-0000000000000dead")
    assert front.world_version() == before + 1
    ec2.create_vpc(CidrBlock="10.250.0.0/16")
    assert front.world_version() == before + 2


def test_an_eks_deletion_finishing_moves_the_version(
    aws: ClientFactory, network: dict[str, Any], front: AwsFront
) -> None:
    eks = aws("eks")
    name = unique("version")
    active_cluster(aws, network, name)
    eks.delete_cluster(name=name)
    after_call = front.world_version()

    def gone() -> bool:
        try:
            status_is(eks.describe_cluster(name=name)["cluster"], "DELETING")
        except eks.exceptions.ResourceNotFoundException:
            return True
        return False

    wait_for(gone)
    # The cluster left moto (and its security group with it) with no call from anyone.
    assert wait_for(lambda: front.world_version() > after_call)


@pytest.fixture
def quiet(front: AwsFront) -> Iterator[dict[str, Any]]:
    """A load balancer forwarding to one ip target, alone in its region, built through the
    front: the target's network interface lets the load balancer's security group in."""

    ec2 = make_client("ec2", front.url, region=QUIET_REGION)
    elbv2 = make_client("elbv2", front.url, region=QUIET_REGION)
    vpc, subnets = two_zone_vpc(ec2, 90, QUIET_REGION)
    alb_group = ec2.create_security_group(GroupName="alb", Description="ALB", VpcId=vpc)
    pod_group = ec2.create_security_group(GroupName="pods", Description="pods", VpcId=vpc)
    ec2.authorize_security_group_ingress(
        GroupId=pod_group["GroupId"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": PORT,
                "ToPort": PORT,
                "UserIdGroupPairs": [{"GroupId": alb_group["GroupId"]}],
            }
        ],
    )
    pod_ip = "10.90.0.25"
    ec2.create_network_interface(
        SubnetId=subnets[0], PrivateIpAddress=pod_ip, Groups=[pod_group["GroupId"]]
    )
    alb = elbv2.create_load_balancer(
        Name="quiet-alb", Subnets=subnets, SecurityGroups=[alb_group["GroupId"]]
    )["LoadBalancers"][0]["LoadBalancerArn"]
    group = elbv2.create_target_group(
        Name="quiet-eks", Protocol="HTTP", Port=PORT, VpcId=vpc, TargetType="ip"
    )["TargetGroups"][0]["TargetGroupArn"]
    listener = elbv2.create_listener(
        LoadBalancerArn=alb,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
    )["Listeners"][0]["ListenerArn"]
    yield {"elbv2": elbv2, "group": group, "listener": listener, "pod": pod_ip}
    elbv2.delete_load_balancer(LoadBalancerArn=alb)


def test_the_simulator_follows_changes_and_time_and_reads_nothing_at_rest(
    front: AwsFront, quiet: dict[str, Any]
) -> None:
    session = boto3.Session(
        aws_access_key_id="TESTFRONTKEY00000001", aws_secret_access_key="front-secret"
    )
    reads: list[str] = []
    session.events.register("before-call", lambda model, **_: reads.append(model.name))
    simulator = TrafficSimulator(
        session,
        front.config.moto_url,
        QUIET_REGION,
        FaultBoard(),
        requests_per_second=10,
        health_url=front.inside_url,
        world_version=front.world_version,
    )

    def group() -> dict[str, Any]:
        simulator.tick()
        described: dict[str, Any] = simulator.snapshot()["target_groups"]["quiet-eks"]
        return described

    quiet["elbv2"].register_targets(
        TargetGroupArn=quiet["group"], Targets=[{"Id": quiet["pod"], "Port": PORT}]
    )
    first = group()
    assert (first["registered_targets"], first["healthy_targets"]) == (1, 0)  # initial
    assert first["traffic_percent"] == 100.0
    # Turning healthy is time alone, no call: the simulator still sees it.
    assert wait_for(lambda: group()["healthy_targets"] == 1, interval=0.2)

    reads.clear()
    for _ in range(5):
        simulator.tick()
        time.sleep(0.05)
    assert [name for name in reads if name.startswith("Describe")] == []

    quiet["elbv2"].modify_listener(
        ListenerArn=quiet["listener"],
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}],
    )
    assert group()["traffic_percent"] == 0.0  # the next tick, not a later one
