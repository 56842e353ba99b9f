"""The seeded world of the shipped Flexdesk runbook: its current production as the runbook names it.

Read through the same AWS APIs (and boto3) an operator's tools use; one seeding serves the
whole module because nothing here changes it.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from world_helpers import REGION, Accounts, dimension

from flexmigrate.sandbox.world import World, WorldExistsError, seed_world

BASE_TAGS = {"Project": "flexdesk", "Environment": "production", "ManagedBy": "terraform"}


@pytest.fixture(scope="module")
def seeded(
    session: boto3.Session, moto_url: str, accounts: Accounts
) -> Iterator[tuple[World, float]]:
    accounts.fresh()

    # Warm moto's lazily imported services so the timing below is the seeding's own: every
    # service the seeding calls (a cold one costs a second or more on a busy machine).
    def client(service: str) -> Any:
        return session.client(service, endpoint_url=moto_url, region_name=REGION)

    client("sts").get_caller_identity()
    client("ec2").describe_vpcs()
    client("elbv2").describe_load_balancers()
    client("acm").list_certificates()
    client("cloudwatch").describe_alarms()
    client("route53").list_hosted_zones()
    client("iam").list_roles()
    client("secretsmanager").list_secrets()
    began = time.perf_counter()
    world = seed_world(session, moto_url, REGION)
    yield world, time.perf_counter() - began


@pytest.fixture(scope="module")
def aws(session: boto3.Session, moto_url: str) -> Any:
    class Clients:
        def __getattr__(self, service: str) -> Any:
            return session.client(service, endpoint_url=moto_url, region_name=REGION)

    return Clients()


def tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def test_seeding_is_fast(seeded: tuple[World, float]) -> None:
    # Target is well under 1.5 s; the bound leaves room for a busy two-core machine.
    assert seeded[1] < 3.0


def test_vpc_has_dns_and_terraform_tags(seeded: tuple[World, float], aws: Any) -> None:
    world = seeded[0]
    vpc = aws.ec2.describe_vpcs(VpcIds=[world.vpc_id])["Vpcs"][0]
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    assert tags(vpc["Tags"]) == {**BASE_TAGS, "Name": "flexdesk-vpc"}
    for attribute, key in (
        ("enableDnsSupport", "EnableDnsSupport"),
        ("enableDnsHostnames", "EnableDnsHostnames"),
    ):
        answer = aws.ec2.describe_vpc_attribute(VpcId=world.vpc_id, Attribute=attribute)
        assert answer[key]["Value"] is True


def test_four_subnets_in_two_azs_with_load_balancer_role_tags(
    seeded: tuple[World, float], aws: Any
) -> None:
    world = seeded[0]
    subnets = aws.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [world.vpc_id]}])
    by_name = {tags(s["Tags"])["Name"]: s for s in subnets["Subnets"]}
    expected = {
        "flexdesk-public-a": ("10.0.0.0/20", "af-south-1a", "kubernetes.io/role/elb"),
        "flexdesk-public-b": ("10.0.48.0/20", "af-south-1b", "kubernetes.io/role/elb"),
        "flexdesk-private-a": ("10.0.16.0/20", "af-south-1a", "kubernetes.io/role/internal-elb"),
        "flexdesk-private-b": ("10.0.32.0/20", "af-south-1b", "kubernetes.io/role/internal-elb"),
    }
    assert set(by_name) == set(expected)
    for name, (cidr, az, role) in expected.items():
        subnet = by_name[name]
        assert (subnet["CidrBlock"], subnet["AvailabilityZone"]) == (cidr, az)
        assert tags(subnet["Tags"])[role] == "1"
        assert BASE_TAGS.items() <= tags(subnet["Tags"]).items()
    assert world.private_subnet_ids == {
        "af-south-1a": by_name["flexdesk-private-a"]["SubnetId"],
        "af-south-1b": by_name["flexdesk-private-b"]["SubnetId"],
    }


def test_private_subnets_reach_out_through_the_nat_gateway(
    seeded: tuple[World, float], aws: Any
) -> None:
    world = seeded[0]
    nat = aws.ec2.describe_nat_gateways(NatGatewayIds=[world.nat_gateway_id])["NatGateways"][0]
    assert nat["SubnetId"] == world.public_subnet_ids["af-south-1a"]
    assert nat["State"] == "available"
    assert nat["NatGatewayAddresses"][0]["AllocationId"].startswith("eipalloc-")

    def default_route(subnet_id: str) -> dict[str, Any]:
        tables = aws.ec2.describe_route_tables(
            Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}]
        )["RouteTables"]
        assert len(tables) == 1
        return next(r for r in tables[0]["Routes"] if r["DestinationCidrBlock"] == "0.0.0.0/0")

    for subnet_id in world.private_subnet_ids.values():
        assert default_route(subnet_id)["NatGatewayId"] == world.nat_gateway_id
    for subnet_id in world.public_subnet_ids.values():
        assert default_route(subnet_id)["GatewayId"] == world.internet_gateway_id


def test_security_groups_chain_alb_to_backend_to_database_and_redis(
    seeded: tuple[World, float], aws: Any
) -> None:
    world = seeded[0]
    ids = world.security_group_ids
    groups = aws.ec2.describe_security_groups(GroupIds=list(ids.values()))["SecurityGroups"]
    rules: dict[str, set[tuple[int, str]]] = {}
    for group in groups:
        found = set()
        for permission in group["IpPermissions"]:
            for source in permission.get("IpRanges", []):
                assert source.get("Description")
                found.add((permission["FromPort"], source["CidrIp"]))
            for source in permission.get("UserIdGroupPairs", []):
                assert source.get("Description")
                found.add((permission["FromPort"], source["GroupId"]))
        rules[group["GroupName"]] = found
        assert BASE_TAGS.items() <= tags(group.get("Tags")).items()
    assert rules["flexdesk-alb"] == {(80, "0.0.0.0/0"), (443, "0.0.0.0/0")}
    assert rules["flexdesk-backend"] == {(8000, ids["flexdesk-alb"]), (22, "10.0.0.0/16")}
    assert rules["flexdesk-db"] == {(5432, ids["flexdesk-backend"])}
    assert rules["flexdesk-redis"] == {(6379, ids["flexdesk-backend"])}


def test_backend_instance_runs_docker_compose_and_refuses_termination(
    seeded: tuple[World, float], aws: Any
) -> None:
    world = seeded[0]
    reservation = aws.ec2.describe_instances(InstanceIds=[world.instance_id])["Reservations"][0]
    instance = reservation["Instances"][0]
    assert instance["State"]["Name"] == "running"
    assert instance["InstanceType"] == "t3.micro"
    assert instance["SubnetId"] == world.private_subnet_ids["af-south-1a"]
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [
        world.security_group_ids["flexdesk-backend"]
    ]
    assert tags(instance["Tags"])["Name"] == "flexdesk-backend"
    user_data = aws.ec2.describe_instance_attribute(
        InstanceId=world.instance_id, Attribute="userData"
    )["UserData"]["Value"]
    script = base64.b64decode(user_data).decode()
    assert script.startswith("#!/bin/bash")
    assert "docker compose -f /opt/flexdesk/docker-compose.yml up -d" in script
    with pytest.raises(ClientError) as refused:
        aws.ec2.terminate_instances(InstanceIds=[world.instance_id])
    assert refused.value.response["Error"]["Code"] == "OperationNotPermitted"


def test_alb_redirects_http_and_forwards_https_to_the_instance(
    seeded: tuple[World, float], aws: Any
) -> None:
    world = seeded[0]
    elbv2 = aws.elbv2
    lb = elbv2.describe_load_balancers(Names=["flexdesk-alb"])["LoadBalancers"][0]
    assert lb["LoadBalancerArn"] == world.alb_arn
    assert lb["Scheme"] == "internet-facing"
    assert {z["SubnetId"] for z in lb["AvailabilityZones"]} == set(world.public_subnet_ids.values())
    assert lb["SecurityGroups"] == [world.security_group_ids["flexdesk-alb"]]

    listeners = {
        listener["Port"]: listener
        for listener in elbv2.describe_listeners(LoadBalancerArn=world.alb_arn)["Listeners"]
    }
    assert set(listeners) == {80, 443}
    redirect = listeners[80]["DefaultActions"][0]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    assert redirect["RedirectConfig"]["Port"] == "443"
    assert redirect["RedirectConfig"]["StatusCode"] == "HTTP_301"
    https = listeners[443]
    assert https["Protocol"] == "HTTPS"
    assert https["Certificates"][0]["CertificateArn"] == world.certificate_arn
    assert https["DefaultActions"] == [
        {"Type": "forward", "TargetGroupArn": world.ec2_target_group_arn}
    ]

    certificate = aws.acm.describe_certificate(CertificateArn=world.certificate_arn)
    assert certificate["Certificate"]["DomainName"] == "flexdesk.example.com"
    assert certificate["Certificate"]["Status"] == "ISSUED"

    group = elbv2.describe_target_groups(Names=["flexdesk-ec2"])["TargetGroups"][0]
    assert (group["Protocol"], group["Port"], group["TargetType"]) == ("HTTP", 8000, "instance")
    assert group["HealthCheckPath"] == "/api/v2/health"  # the runbook's
    assert group["Matcher"] == {"HttpCode": "200"}
    assert group["HealthCheckIntervalSeconds"] == 30
    assert (group["HealthyThresholdCount"], group["UnhealthyThresholdCount"]) == (5, 2)
    attributes = elbv2.describe_target_group_attributes(TargetGroupArn=group["TargetGroupArn"])
    values = {a["Key"]: a["Value"] for a in attributes["Attributes"]}
    assert values["deregistration_delay.timeout_seconds"] == "300"
    health = elbv2.describe_target_health(TargetGroupArn=world.ec2_target_group_arn)
    assert [
        (d["Target"]["Id"], d["TargetHealth"]["State"]) for d in health["TargetHealthDescriptions"]
    ] == [(world.instance_id, "healthy")]


def test_ec2_alarms_watch_the_target_group(seeded: tuple[World, float], aws: Any) -> None:
    world = seeded[0]
    alarms = {
        a["AlarmName"]: a
        for a in aws.cloudwatch.describe_alarms(AlarmNames=list(world.alarm_names))["MetricAlarms"]
    }
    assert set(alarms) == {"flexdesk-ec2-5xx", "flexdesk-ec2-latency"}
    expected_dims = {
        "LoadBalancer": dimension(world.alb_arn, "loadbalancer"),
        "TargetGroup": dimension(world.ec2_target_group_arn, "targetgroup"),
    }
    five = alarms["flexdesk-ec2-5xx"]
    assert (five["MetricName"], five["Statistic"], five["Period"]) == (
        "HTTPCode_Target_5XX_Count",
        "Sum",
        60,
    )
    assert (five["Threshold"], five["ComparisonOperator"]) == (10.0, "GreaterThanThreshold")
    assert (five["EvaluationPeriods"], five["TreatMissingData"]) == (1, "notBreaching")
    latency = alarms["flexdesk-ec2-latency"]
    assert (latency["MetricName"], latency["ExtendedStatistic"]) == ("TargetResponseTime", "p99")
    assert (latency["Threshold"], latency["EvaluationPeriods"]) == (1.5, 3)
    for alarm in alarms.values():
        assert alarm["Namespace"] == "AWS/ApplicationELB"
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == expected_dims
        assert alarm["StateValue"] in ("OK", "INSUFFICIENT_DATA")


def test_dns_aliases_the_domain_to_the_alb(seeded: tuple[World, float], aws: Any) -> None:
    world = seeded[0]
    zones = aws.route53.list_hosted_zones_by_name(DNSName="example.com")["HostedZones"]
    assert zones[0]["Name"] == "example.com."
    assert zones[0]["Id"].endswith(world.hosted_zone_id)
    records = aws.route53.list_resource_record_sets(HostedZoneId=world.hosted_zone_id)
    alias = next(
        r
        for r in records["ResourceRecordSets"]
        if r["Name"] == "flexdesk.example.com." and r["Type"] == "A"
    )
    assert alias["AliasTarget"]["DNSName"].rstrip(".") == world.alb_dns_name
    assert alias["AliasTarget"]["HostedZoneId"] == world.alb_canonical_hosted_zone_id


def test_admin_roles_trust_the_account(seeded: tuple[World, float], aws: Any) -> None:
    world = seeded[0]
    assert set(world.admin_role_arns) == {"flexdesk-operators", "flexdesk-ci"}
    for name, arn in world.admin_role_arns.items():
        role = aws.iam.get_role(RoleName=name)["Role"]
        assert role["Arn"] == arn
        statement = role["AssumeRolePolicyDocument"]["Statement"][0]
        assert statement["Principal"]["AWS"] == f"arn:aws:iam::{world.account_id}:root"
        listed = aws.iam.list_role_tags(RoleName=name)["Tags"]
        assert BASE_TAGS.items() <= tags(listed).items()


def test_world_round_trips_through_json(seeded: tuple[World, float], accounts: Accounts) -> None:
    world = seeded[0]
    text = json.dumps(world.as_dict())
    assert World.from_dict(json.loads(text)) == world
    assert world.region == "af-south-1"
    assert world.account_id == accounts.current


def test_a_second_seeding_is_refused_before_it_creates_anything(
    seeded: tuple[World, float], session: boto3.Session, moto_url: str, aws: Any
) -> None:
    with pytest.raises(WorldExistsError, match="flexdesk-vpc"):
        seed_world(session, moto_url, REGION)
    assert (
        len(
            aws.ec2.describe_vpcs(Filters=[{"Name": "tag:Project", "Values": ["flexdesk"]}])["Vpcs"]
        )
        == 1
    )
