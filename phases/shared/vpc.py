"""The existing VPC as phase 1 needs it: references resolved to IDs, and the two questions
that decide whether nodes will ever join — can the subnets reach the internet or the AWS
endpoints, and will the load balancer controller find its subnets.

Resolution reads; the judgements (``egress``, ``elb_tag_problems``) are pure functions of what
was read, so they are tested without a cloud.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flexmigrate.clients.aws import is_not_found
from flexmigrate.errors import CloudError, StepFailed
from phases.shared.lookups import describe_ref

if TYPE_CHECKING:
    from phases.shared.sections import StepContext

ELB_TAG = "kubernetes.io/role/elb"
INTERNAL_ELB_TAG = "kubernetes.io/role/internal-elb"
# What a node in a subnet without a route to the internet needs to join and pull images.
NODE_ENDPOINTS = ("ecr.api", "ecr.dkr", "s3", "sts", "ec2")


@dataclass(frozen=True)
class Resolved:
    """One runbook reference and what it names (None when nothing, or several, match)."""

    ref: str
    found: dict[str, Any] | None
    problem: str = ""


def _query(ref: object) -> tuple[list[str], list[dict[str, Any]]]:
    """(IDs, filters) for a reference: an ID, ``{tag: {...}}`` or ``{name: ...}`` (tag Name)."""
    if isinstance(ref, str):
        return [ref], []
    tag = getattr(ref, "tag", None)
    if isinstance(tag, dict):
        return [], [{"Name": f"tag:{k}", "Values": [v]} for k, v in tag.items()]
    return [], [{"Name": "tag:Name", "Values": [str(getattr(ref, "name", ""))]}]


def _one(ref: object, items: list[dict[str, Any]], kind: str) -> Resolved:
    label = describe_ref(ref)
    if not items:
        return Resolved(label, None, f"no {kind} matches {label}")
    if len(items) > 1:
        return Resolved(label, None, f"{len(items)} {kind}s match {label}; make it name one")
    return Resolved(label, items[0])


def resolve_vpc(ctx: StepContext, ref: object) -> Resolved:
    ids, filters = _query(ref)
    try:
        found = ctx.aws("ec2").describe_vpcs(**({"VpcIds": ids} if ids else {"Filters": filters}))[
            "Vpcs"
        ]
    except CloudError as exc:
        if not is_not_found(exc):
            raise
        found = []
    return _one(ref, found, "VPC")


def resolve_subnets(ctx: StepContext, refs: Sequence[object]) -> list[Resolved]:
    resolved = []
    for ref in refs:
        ids, filters = _query(ref)
        try:
            found = ctx.aws("ec2").describe_subnets(
                **({"SubnetIds": ids} if ids else {"Filters": filters})
            )["Subnets"]
        except CloudError as exc:
            if not is_not_found(exc):
                raise
            found = []
        resolved.append(_one(ref, found, "subnet"))
    return resolved


def subnet_ids(ctx: StepContext) -> list[str]:
    """The runbook's subnets as IDs, for the calls that take them; a missing one is an error
    the operator must fix (preflight says so first)."""
    ids = []
    for item in resolve_subnets(ctx, ctx.runbook.cluster.subnets):
        if item.found is None:
            raise StepFailed(item.problem, hint="fix cluster.subnets in the runbook")
        ids.append(str(item.found["SubnetId"]))
    return ids


def tag_map(resource: dict[str, Any]) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in resource.get("Tags") or []}


def route_table_for(subnet_id: str, tables: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The subnet's route table: its explicit association, else the VPC's main table."""
    main = None
    for table in tables:
        for assoc in table.get("Associations", []):
            if assoc.get("SubnetId") == subnet_id:
                return table
            if assoc.get("Main"):
                main = table
    return main


def egress(
    subnet_id: str, tables: Sequence[dict[str, Any]], endpoint_services: Sequence[str]
) -> tuple[bool, str]:
    """Whether nodes in the subnet can reach ECR, S3, STS and EC2: a working default route
    (NAT gateway, internet gateway, transit gateway or appliance), or VPC endpoints for each."""
    table = route_table_for(subnet_id, tables)
    for route in (table or {}).get("Routes", []):
        if route.get("DestinationCidrBlock") != "0.0.0.0/0":
            continue
        if route.get("State") == "blackhole":
            return False, f"its default route is a blackhole ({_target(route)} is gone)"
        target = _target(route)
        if target:
            return True, f"default route via {target}"
    # com.amazonaws.<region>.ecr.api → ecr.api
    short = {".".join(service.split(".")[3:]) for service in endpoint_services}
    missing = [name for name in NODE_ENDPOINTS if name not in short]
    if not missing:
        return True, "VPC endpoints for " + ", ".join(NODE_ENDPOINTS)
    return False, (
        "no default route to a NAT gateway and no VPC endpoints for " + ", ".join(missing)
    )


def _target(route: dict[str, Any]) -> str:
    for key, label in (
        ("NatGatewayId", "NAT gateway"),
        ("GatewayId", "internet gateway"),
        ("TransitGatewayId", "transit gateway"),
        ("NetworkInterfaceId", "network interface"),
        ("InstanceId", "NAT instance"),
    ):
        value = route.get(key)
        if value and value != "local":
            return f"{label} {value}"
    return ""


def elb_tag_problems(
    cluster_subnets: Sequence[dict[str, Any]], vpc_subnets: Sequence[dict[str, Any]]
) -> list[str]:
    """What the load balancer controller will not find: role tags on the cluster's subnets, and
    public subnets tagged for internet-facing load balancers in two AZs."""
    problems = []
    for subnet in cluster_subnets:
        tags = tag_map(subnet)
        if INTERNAL_ELB_TAG not in tags and ELB_TAG not in tags:
            problems.append(f"{subnet['SubnetId']} has neither {INTERNAL_ELB_TAG} nor {ELB_TAG}")
    public_azs = {s["AvailabilityZone"] for s in vpc_subnets if ELB_TAG in tag_map(s)}
    if len(public_azs) < 2:
        problems.append(f"the VPC has {ELB_TAG} subnets in {len(public_azs)} AZ(s), not 2")
    return problems
