"""What the nodes' subnets can reach, and whether that is enough to pull each image and call
each AWS API a phase's components need.

A subnet whose default route leads somewhere (NAT gateway, internet gateway, transit gateway,
an appliance) reaches every registry and endpoint. Without one, only interface and gateway
VPC endpoints are reachable, and those serve private ECR in the cluster's own region (with
``ecr.api``, ``ecr.dkr`` and the ``s3`` gateway for its layers) and the AWS APIs that have
endpoints. Amazon ECR Public (public.ecr.aws), Docker Hub, quay.io, ghcr.io and
registry.k8s.io have no VPC endpoint: an image there needs a route out (or a copy in private
ECR, or an ECR pull-through cache rule).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flexmigrate.engine.protocol import Outcome, failed, passed, skipped
from phases.shared.vpc import resolve_subnets, route_table_for

if TYPE_CHECKING:
    from phases.shared.sections import StepContext

# Private ECR in a region: 123456789012.dkr.ecr.af-south-1.amazonaws.com
_PRIVATE_ECR = re.compile(r"^\d{12}\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
# What a pull from private ECR needs when there is no route out.
ECR_ENDPOINTS = ("ecr.api", "ecr.dkr", "s3")


def registry_of(image: str) -> str:
    """The registry host of an image reference (Docker Hub when the reference names none)."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def endpoints_for_image(image: str, region: str) -> tuple[str, ...] | None:
    """The VPC endpoints that let a node pull ``image`` without a route out, or None when no
    endpoint can serve its registry."""
    found = _PRIVATE_ECR.match(registry_of(image))
    if found and found.group(1) == region:
        return ECR_ENDPOINTS
    return None


@dataclass(frozen=True)
class SubnetEgress:
    subnet_id: str
    route_out: str  # "" when the subnet's default route leads nowhere
    endpoints: frozenset[str]  # VPC endpoint services of the VPC, short names (ecr.api, s3)


def subnet_egress(ctx: StepContext) -> list[SubnetEgress] | None:
    """Egress facts of the runbook's cluster subnets, read from EC2 (None when they do not
    resolve: the network check of phase 1 reports that)."""
    resolved = resolve_subnets(ctx, ctx.runbook.cluster.subnets)
    subnets = [item.found for item in resolved if item.found is not None]
    if not subnets or len(subnets) != len(resolved):
        return None
    vpc_filter = [{"Name": "vpc-id", "Values": [str(subnets[0]["VpcId"])]}]
    ec2 = ctx.aws("ec2")
    tables = [
        t
        for p in ec2.paginate("describe_route_tables", Filters=vpc_filter)
        for t in p["RouteTables"]
    ]
    services = frozenset(
        ".".join(str(e["ServiceName"]).split(".")[3:])
        for page in ec2.paginate("describe_vpc_endpoints", Filters=vpc_filter)
        for e in page["VpcEndpoints"]
        if str(e.get("State", "available")).lower() == "available"
    )
    return [
        SubnetEgress(
            str(s["SubnetId"]), _route_out(route_table_for(str(s["SubnetId"]), tables)), services
        )
        for s in subnets
    ]


def _route_out(table: dict[str, Any] | None) -> str:
    for route in (table or {}).get("Routes", []):
        if route.get("DestinationCidrBlock") != "0.0.0.0/0" or route.get("State") == "blackhole":
            continue
        for key in (
            "NatGatewayId",
            "GatewayId",
            "TransitGatewayId",
            "NetworkInterfaceId",
            "InstanceId",
        ):
            value = route.get(key)
            if value and value != "local":
                return str(value)
    return ""


def judge_egress(
    facts: Sequence[SubnetEgress],
    images: Mapping[str, str],
    endpoints: Mapping[str, str],
    region: str,
) -> Outcome:
    """Can nodes in every subnet pull each image (``{image: whose}``) and call each AWS API
    (``{endpoint short name: who calls it}``)?"""
    problems: list[str] = []
    ways: list[str] = []
    for subnet in facts:
        before = len(problems)
        if subnet.route_out:
            ways.append(f"{subnet.subnet_id} via {subnet.route_out}")
            continue
        for image, whose in images.items():
            needed = endpoints_for_image(image, region)
            if needed is None:
                problems.append(
                    f"{subnet.subnet_id} has no route out, and {whose} image {image} lives on "
                    f"{registry_of(image)}, which no VPC endpoint serves"
                )
            elif missing := [e for e in needed if e not in subnet.endpoints]:
                problems.append(
                    f"{subnet.subnet_id} cannot pull {whose} image {image}: no VPC endpoint "
                    f"for {', '.join(missing)}"
                )
        missing_apis = [f"{e} ({who})" for e, who in endpoints.items() if e not in subnet.endpoints]
        if missing_apis:
            problems.append(
                f"{subnet.subnet_id} has no route out and no VPC endpoint for "
                + ", ".join(missing_apis)
            )
        if len(problems) == before:
            ways.append(f"{subnet.subnet_id} via VPC endpoints")
    if problems:
        return failed(
            "; ".join(problems),
            "give the subnets a NAT gateway route (0.0.0.0/0), or copy the images to private "
            f"ECR in {region} (or an ECR pull-through cache) and add the VPC endpoints named",
        )
    pulled = ", ".join(images) or "no image"
    return passed(
        f"{pulled} and the {', '.join(endpoints) or 'no'} API(s) reachable: " + "; ".join(ways)
    )


def check_egress(
    ctx: StepContext, images: Mapping[str, str], endpoints: Mapping[str, str]
) -> Outcome:
    facts = subnet_egress(ctx)
    if facts is None:
        return skipped("the cluster subnets do not resolve (phase 1's network check says why)")
    return judge_egress(facts, images, endpoints, ctx.runbook.aws.region)
