"""The seeded VPC: subnets in two AZs, egress, and the security-group chain.

The shape matters to the migration's preflight checks: EKS needs subnets in two AZs, the
load balancer controller finds subnets by their ``kubernetes.io/role/*`` tags, pods take
IPs from the private subnets and need egress (hence the NAT route), and phase 3 opens the
database and Redis to the nodes the same way the instance is admitted today — by
security-group reference, not by CIDR.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flexmigrate.sandbox.world.tags import tag_spec

VPC_NAME = "flexdesk-vpc"
VPC_CIDR = "10.0.0.0/16"

# (name, CIDR, AZ suffix); the CIDRs follow the existing Terraform layout, which is why
# public-b sits after both private subnets.
_PUBLIC_SUBNETS = (
    ("flexdesk-public-a", "10.0.0.0/20", "a"),
    ("flexdesk-public-b", "10.0.48.0/20", "b"),
)
_PRIVATE_SUBNETS = (
    ("flexdesk-private-a", "10.0.16.0/20", "a"),
    ("flexdesk-private-b", "10.0.32.0/20", "b"),
)

SG_ALB = "flexdesk-alb"
SG_BACKEND = "flexdesk-backend"
SG_DB = "flexdesk-db"
SG_REDIS = "flexdesk-redis"

_SG_DESCRIPTIONS = {
    SG_ALB: "Public HTTP/HTTPS to the flexdesk ALB",
    SG_BACKEND: "flexdesk backend instance (Docker Compose)",
    SG_DB: "flexdesk PostgreSQL (external)",
    SG_REDIS: "flexdesk Redis (external)",
}


@dataclass(frozen=True)
class NetworkIds:
    """What the rest of the seed attaches to."""

    vpc_id: str
    internet_gateway_id: str
    nat_gateway_id: str
    public_subnet_ids: dict[str, str]
    private_subnet_ids: dict[str, str]
    security_group_ids: dict[str, str]


def seed_network(ec2: Any, region: str) -> NetworkIds:
    """VPC, subnets, gateways and routes, then the security groups and their rules."""
    vpc_id: str = ec2.create_vpc(CidrBlock=VPC_CIDR, TagSpecifications=tag_spec("vpc", VPC_NAME))[
        "Vpc"
    ]["VpcId"]
    # The API takes one attribute per call.
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})

    public = _subnets(ec2, vpc_id, region, _PUBLIC_SUBNETS, "kubernetes.io/role/elb")
    private = _subnets(ec2, vpc_id, region, _PRIVATE_SUBNETS, "kubernetes.io/role/internal-elb")

    igw_id: str = ec2.create_internet_gateway(
        TagSpecifications=tag_spec("internet-gateway", "flexdesk-igw")
    )["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)

    allocation_id: str = ec2.allocate_address(
        Domain="vpc", TagSpecifications=tag_spec("elastic-ip", "flexdesk-nat")
    )["AllocationId"]
    nat_id: str = ec2.create_nat_gateway(
        SubnetId=public[f"{region}a"],
        AllocationId=allocation_id,
        TagSpecifications=tag_spec("natgateway", "flexdesk-nat"),
    )["NatGateway"]["NatGatewayId"]

    _route_table(ec2, vpc_id, "flexdesk-public", public.values(), GatewayId=igw_id)
    _route_table(ec2, vpc_id, "flexdesk-private", private.values(), NatGatewayId=nat_id)

    return NetworkIds(
        vpc_id=vpc_id,
        internet_gateway_id=igw_id,
        nat_gateway_id=nat_id,
        public_subnet_ids=public,
        private_subnet_ids=private,
        security_group_ids=_security_groups(ec2, vpc_id),
    )


def _subnets(
    ec2: Any,
    vpc_id: str,
    region: str,
    layout: tuple[tuple[str, str, str], ...],
    role_tag: str,
) -> dict[str, str]:
    ids: dict[str, str] = {}
    for name, cidr, suffix in layout:
        az = f"{region}{suffix}"
        ids[az] = ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=cidr,
            AvailabilityZone=az,
            TagSpecifications=tag_spec("subnet", name, {role_tag: "1"}),
        )["Subnet"]["SubnetId"]
    return ids


def _route_table(ec2: Any, vpc_id: str, name: str, subnet_ids: Any, **default_route: str) -> None:
    table_id: str = ec2.create_route_table(
        VpcId=vpc_id, TagSpecifications=tag_spec("route-table", name)
    )["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", **default_route)
    for subnet_id in subnet_ids:
        ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet_id)


def _security_groups(ec2: Any, vpc_id: str) -> dict[str, str]:
    ids = {
        name: ec2.create_security_group(
            GroupName=name,
            Description=description,
            VpcId=vpc_id,
            TagSpecifications=tag_spec("security-group", name),
        )["GroupId"]
        for name, description in _SG_DESCRIPTIONS.items()
    }
    ec2.authorize_security_group_ingress(
        GroupId=ids[SG_ALB],
        IpPermissions=[
            _from_cidr(80, "0.0.0.0/0", "HTTP from anywhere (redirected to HTTPS)"),
            _from_cidr(443, "0.0.0.0/0", "HTTPS from anywhere"),
        ],
    )
    ec2.authorize_security_group_ingress(
        GroupId=ids[SG_BACKEND],
        IpPermissions=[
            _from_group(8000, ids[SG_ALB], "App port from the ALB"),
            _from_cidr(22, VPC_CIDR, "SSH from inside the VPC"),
        ],
    )
    ec2.authorize_security_group_ingress(
        GroupId=ids[SG_DB],
        IpPermissions=[_from_group(5432, ids[SG_BACKEND], "PostgreSQL from the backend")],
    )
    ec2.authorize_security_group_ingress(
        GroupId=ids[SG_REDIS],
        IpPermissions=[_from_group(6379, ids[SG_BACKEND], "Redis from the backend")],
    )
    return ids


def _from_cidr(port: int, cidr: str, description: str) -> dict[str, Any]:
    return {
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": port,
        "IpRanges": [{"CidrIp": cidr, "Description": description}],
    }


def _from_group(port: int, group_id: str, description: str) -> dict[str, Any]:
    return {
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": port,
        "UserIdGroupPairs": [{"GroupId": group_id, "Description": description}],
    }
