"""Egress for every image: in a VPC without NAT whose subnets have the VPC endpoints nodes
need to join (so phase 1's node check passes), the controller's image (ECR Public) and the
app's (Docker Hub) still cannot be pulled — phases 2 and 3 refuse, naming the image."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import SANDBOX_RUNBOOK, Sandbox

pytestmark = pytest.mark.timeout(300)

CONTROLLER = "public.ecr.aws/eks/aws-load-balancer-controller:v3.2.2"  # lb-controller/sandbox
APP = "volttechafrica/flexdeskbackend:2026.11.1"  # tests/runbooks/sandbox.yaml app.image


def _preflight(sandbox: Sandbox, name: str) -> dict[str, dict[str, dict[str, Any]]]:
    report = sandbox.root / f"{name}.json"
    done = sandbox.cli("plan", "all", "--report", str(report), runbook=SANDBOX_RUNBOOK)
    assert done.returncode in (0, 3), done.stdout + done.stderr
    phases = json.loads(report.read_text())["phases"]
    return {p["id"]: {c["id"]: c for c in p["preflight"]} for p in phases}


def _endpoints_only(sandbox: Sandbox) -> None:
    """Take the NAT route away from the private subnets; add the endpoints nodes join with."""
    ec2: Any = sandbox.client("ec2")
    vpc = sandbox.world["vpc_id"]
    private = list(sandbox.world["private_subnet_ids"].values())
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])
    for table in tables["RouteTables"]:
        subnets = {a.get("SubnetId") for a in table.get("Associations", [])}
        if subnets & set(private):
            ec2.delete_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")
    for service in ("ecr.api", "ecr.dkr", "sts", "ec2", "elasticloadbalancing"):
        ec2.create_vpc_endpoint(
            VpcId=vpc,
            ServiceName=f"com.amazonaws.af-south-1.{service}",
            VpcEndpointType="Interface",
            SubnetIds=private,
        )
    ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName="com.amazonaws.af-south-1.s3", VpcEndpointType="Gateway"
    )


def test_public_registries_need_a_route_out(module_sandbox: Sandbox) -> None:
    with_nat = _preflight(module_sandbox, "with-nat")
    assert with_nat["phase-2"]["controller-egress"]["status"] == "pass"
    assert with_nat["phase-3"]["image-egress"]["status"] == "pass"

    _endpoints_only(module_sandbox)
    found = _preflight(module_sandbox, "endpoints-only")

    assert found["phase-1"]["node-egress"]["status"] == "pass"
    controller = found["phase-2"]["controller-egress"]
    assert controller["status"] == "fail"
    assert f"the controller's image {CONTROLLER} lives on public.ecr.aws" in controller["detail"]
    app = found["phase-3"]["image-egress"]
    assert app["status"] == "fail"
    assert f"image {APP} lives on docker.io" in app["detail"]
    assert "NAT gateway" in json.dumps(app)
