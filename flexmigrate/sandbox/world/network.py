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

from flexmigrate.sandbox.world.spec import WorldSpec
from flexmigrate.sandbox.world.tags import Tags

VPC_CIDR = "10.0.0.0/16"
_AZ_LETTERS = "abcdef"
# Database ports by what a group's name says it guards; PostgreSQL otherwise.
_DB_PORTS = (("redis", 6379), ("mysql", 3306), ("maria", 3306), ("mongo", 27017))


def _public_name(private_name: str) -> str:
    if "private" in private_name:
        return private_name.replace("private", "public")
    return f"{private_name}-public"


def _cidr(block: int) -> str:
    return f"10.0.{16 * block}.0/20"


def subnet_layout(spec: WorldSpec) -> tuple[list[tuple[dict[str, str], str, str]], ...]:
    """(tags, CIDR, AZ letter) of the public and the private subnets, one of each per AZ.

    The runbook names the private subnets (the cluster's); each AZ gets a public one beside
    it, named after it. /20 blocks as a common Terraform layout has them: the first public
    subnet, then the private ones, then the other public ones.
    """
    count = len(spec.private_subnet_tags)
    private = [
        (dict(tags), _cidr(i + 1), _AZ_LETTERS[i])
        for i, tags in enumerate(spec.private_subnet_tags)
    ]
    public = []
    for i, tags in enumerate(spec.private_subnet_tags):
        name = tags.get("Name", f"{spec.project}-private-{_AZ_LETTERS[i]}")
        block = 0 if i == 0 else count + i
        public.append(({"Name": _public_name(name)}, _cidr(block), _AZ_LETTERS[i]))
    return public, private


def database_port(group_name: str) -> int:
    lowered = group_name.lower()
    return next((port for word, port in _DB_PORTS if word in lowered), 5432)


@dataclass(frozen=True)
class NetworkIds:
    """What the rest of the seed attaches to."""

    vpc_id: str
    internet_gateway_id: str
    nat_gateway_id: str
    public_subnet_ids: dict[str, str]
    private_subnet_ids: dict[str, str]
    security_group_ids: dict[str, str]


def seed_network(ec2: Any, spec: WorldSpec) -> NetworkIds:
    """VPC, subnets, gateways and routes, then the security groups and their rules."""
    tags = Tags(spec.project)
    region = spec.region
    vpc_extra = {k: v for k, v in spec.vpc_tags.items() if k != "Name"}
    vpc_id: str = ec2.create_vpc(
        CidrBlock=VPC_CIDR, TagSpecifications=tags.spec("vpc", spec.vpc_name, vpc_extra)
    )["Vpc"]["VpcId"]
    # The API takes one attribute per call.
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})

    public_layout, private_layout = subnet_layout(spec)
    public = _subnets(ec2, tags, vpc_id, region, public_layout, "kubernetes.io/role/elb")
    private = _subnets(ec2, tags, vpc_id, region, private_layout, "kubernetes.io/role/internal-elb")
    project = spec.project
    igw_id: str = ec2.create_internet_gateway(
        TagSpecifications=tags.spec("internet-gateway", f"{project}-igw")
    )["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)

    allocation_id: str = ec2.allocate_address(
        Domain="vpc", TagSpecifications=tags.spec("elastic-ip", f"{project}-nat")
    )["AllocationId"]
    nat_id: str = ec2.create_nat_gateway(
        SubnetId=public[f"{region}a"],
        AllocationId=allocation_id,
        TagSpecifications=tags.spec("natgateway", f"{project}-nat"),
    )["NatGateway"]["NatGatewayId"]

    _route_table(ec2, tags, vpc_id, f"{project}-public", public.values(), GatewayId=igw_id)
    _route_table(ec2, tags, vpc_id, f"{project}-private", private.values(), NatGatewayId=nat_id)

    return NetworkIds(
        vpc_id=vpc_id,
        internet_gateway_id=igw_id,
        nat_gateway_id=nat_id,
        public_subnet_ids=public,
        private_subnet_ids=private,
        security_group_ids=_security_groups(ec2, tags, vpc_id, spec),
    )


def _subnets(
    ec2: Any,
    tags: Tags,
    vpc_id: str,
    region: str,
    layout: list[tuple[dict[str, str], str, str]],
    role_tag: str,
) -> dict[str, str]:
    ids: dict[str, str] = {}
    for subnet_tags, cidr, suffix in layout:
        az = f"{region}{suffix}"
        extra = {k: v for k, v in subnet_tags.items() if k != "Name"}
        ids[az] = ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=cidr,
            AvailabilityZone=az,
            TagSpecifications=tags.spec(
                "subnet", subnet_tags.get("Name", f"subnet-{suffix}"), {role_tag: "1", **extra}
            ),
        )["Subnet"]["SubnetId"]
    return ids


def _route_table(
    ec2: Any, tags: Tags, vpc_id: str, name: str, subnet_ids: Any, **default_route: str
) -> None:
    table_id: str = ec2.create_route_table(
        VpcId=vpc_id, TagSpecifications=tags.spec("route-table", name)
    )["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", **default_route)
    for subnet_id in subnet_ids:
        ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet_id)


def _security_groups(ec2: Any, tags: Tags, vpc_id: str, spec: WorldSpec) -> dict[str, str]:
    """The ALB's group (named as the ALB), the instance's (named as the instance) and the
    database groups the runbook names, each admitting the one in front of it."""
    alb, backend = spec.alb_name, spec.instance_name
    described = {
        alb: ({"Name": alb}, f"Public HTTP/HTTPS to {alb}"),
        backend: ({"Name": backend}, f"{backend} instance (Docker Compose)"),
    }
    for group_tags in spec.database_groups:
        name = group_tags.get("Name") or "-".join(group_tags.values())
        described[name] = (group_tags, f"{name} (external database, admits {backend})")
    ids = {
        name: ec2.create_security_group(
            GroupName=name,
            Description=description,
            VpcId=vpc_id,
            TagSpecifications=tags.spec(
                "security-group", name, {k: v for k, v in group_tags.items() if k != "Name"}
            ),
        )["GroupId"]
        for name, (group_tags, description) in described.items()
    }
    listener_ports = [80, 443] if spec.listener_port == 443 else [spec.listener_port]
    ec2.authorize_security_group_ingress(
        GroupId=ids[alb],
        IpPermissions=[
            _from_cidr(port, "0.0.0.0/0", f"port {port} from anywhere") for port in listener_ports
        ],
    )
    ec2.authorize_security_group_ingress(
        GroupId=ids[backend],
        IpPermissions=[
            _from_group(spec.app_port, ids[alb], "App port from the ALB"),
            _from_cidr(22, VPC_CIDR, "SSH from inside the VPC"),
        ],
    )
    for name in list(described)[2:]:
        port = database_port(name)
        ec2.authorize_security_group_ingress(
            GroupId=ids[name],
            IpPermissions=[_from_group(port, ids[backend], f"port {port} from the backend")],
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
