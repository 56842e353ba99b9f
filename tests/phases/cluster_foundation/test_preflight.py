"""Phase 1's preflight refuses what would fail later — subnets in one AZ, a Kubernetes version
EKS no longer offers (the seed's 1.28), private subnets without egress, a cluster name taken by
a cluster flexmigrate does not own — with exit 3 and not one mutating call; the owner of
such a cluster can adopt it only by saying so."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Sandbox

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def world(sandbox_factory: Callable[..., Any]) -> Iterator[Sandbox]:
    with sandbox_factory() as sandbox:
        yield sandbox


def _refused(world: Sandbox, ledger: Any, runbook: Path) -> dict[str, tuple[str, str]]:
    """Run phase 1 with ``runbook``; expect exit 3 and no mutation; the checks that did not
    pass, as {id: (status, detail)}."""
    mark = ledger.mark()
    result = world.cli("--output", "json", "run", "cluster-foundation", runbook=runbook)
    assert result.returncode == 3, result.stdout + result.stderr
    assert ledger.mutations_since(mark) == []
    report = json.loads(result.stdout)
    assert "nothing was changed" in report["message"]
    return {
        c["id"]: (c["status"], c["detail"])
        for c in report["phases"][0]["preflight"]
        if c["status"] not in ("pass", "warn")
    }


def test_subnets_in_one_availability_zone(
    world: Sandbox, aws_ledger: Callable[[Sandbox], Any], runbook_variant: Callable[..., Path]
) -> None:
    one_az = [{"tag": {"Name": "flexdesk-private-a"}}, {"tag": {"Name": "flexdesk-public-a"}}]
    runbook = runbook_variant({"cluster": {"subnets": one_az}}, name="one-az")
    failed = _refused(world, aws_ledger(world), runbook)
    assert list(failed) == ["network"]
    assert "1 availability zone(s) (af-south-1a); EKS needs two" in failed["network"][1]


def test_a_version_eks_no_longer_offers(
    world: Sandbox, aws_ledger: Callable[[Sandbox], Any], runbook_variant: Callable[..., Path]
) -> None:
    runbook = runbook_variant({"cluster": {"version": "1.28"}}, name="old-version")
    failed = _refused(world, aws_ledger(world), runbook)
    assert failed["kubernetes-version"][0] == "fail"
    assert failed["kubernetes-version"][1].startswith("EKS does not offer Kubernetes 1.28 now")
    assert "1.35" in failed["kubernetes-version"][1]


def test_private_subnets_with_no_egress(
    world: Sandbox, aws_ledger: Callable[[Sandbox], Any], runbook_variant: Callable[..., Path]
) -> None:
    ec2: Any = world.client("ec2")
    vpc_id = world.world["vpc_id"]
    for name, cidr, zone in (("bare-a", "10.0.64.0/20", "a"), ("bare-b", "10.0.80.0/20", "b")):
        ec2.create_subnet(  # no route table of its own: the VPC's main one, local routes only
            VpcId=vpc_id,
            CidrBlock=cidr,
            AvailabilityZone=f"af-south-1{zone}",
            TagSpecifications=[
                {
                    "ResourceType": "subnet",
                    "Tags": [
                        {"Key": "Name", "Value": name},
                        {"Key": "kubernetes.io/role/internal-elb", "Value": "1"},
                    ],
                }
            ],
        )
    bare = [{"tag": {"Name": "bare-a"}}, {"tag": {"Name": "bare-b"}}]
    runbook = runbook_variant({"cluster": {"subnets": bare}}, name="no-egress")
    failed = _refused(world, aws_ledger(world), runbook)
    assert list(failed) == ["node-egress"]
    assert "no default route to a NAT gateway" in failed["node-egress"][1]


def test_a_cluster_name_taken_by_a_cluster_flexmigrate_does_not_own(
    world: Sandbox, aws_ledger: Callable[[Sandbox], Any], runbook_variant: Callable[..., Path]
) -> None:
    eks: Any = world.client("eks")
    eks.create_cluster(
        name="someone-elses",
        version="1.35",
        roleArn="arn:aws:iam::123456789012:role/someone-elses-cluster",
        resourcesVpcConfig={"subnetIds": list(world.world["private_subnet_ids"].values())},  # type: ignore[attr-defined]
    )
    taken = runbook_variant({"cluster": {"name": "someone-elses"}}, name="taken")
    failed = _refused(world, aws_ledger(world), taken)
    assert list(failed) == ["cluster-name"]
    assert "exists and was not created by flexmigrate" in failed["cluster-name"][1]

    adopting = runbook_variant(
        {"cluster": {"name": "someone-elses", "adopt_existing": True}}, name="adopting"
    )
    ledger = aws_ledger(world)
    mark = ledger.mark()
    planned = world.cli("--output", "json", "plan", "cluster-foundation", runbook=adopting)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    report = json.loads(planned.stdout)
    checks = {c["id"]: c["status"] for c in report["phases"][0]["preflight"]}
    assert checks["cluster-name"] == "warn"
    cluster_step = next(s for s in report["phases"][0]["steps"] if s["id"] == "cluster")
    assert cluster_step["changes"][0]["action"] == "adopt"
    assert ledger.mutations_since(mark) == []
