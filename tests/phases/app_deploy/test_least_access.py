"""After phase 3, the new side reaches no further than the instance did: the VPC CNI enforces
the app's NetworkPolicy, whose ipBlock is the VPC's CIDR as AWS reports it, and the EKS
target group drains no longer than its pods live. Phases 1–3 run for real on one sandbox."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Sandbox, start_sandbox, stop_sandbox

pytestmark = pytest.mark.timeout(600)

SECONDARY = "10.1.0.0/16"  # a block added to the VPC after the manifests were written


@pytest.fixture(scope="module")
def deployed(
    tmp_path_factory: pytest.TempPathFactory, runbook_variant: Callable[..., Path]
) -> Iterator[Sandbox]:
    sandbox = start_sandbox(tmp_path_factory.mktemp("sandbox"))
    try:
        sandbox.client("ec2").associate_vpc_cidr_block(  # type: ignore[attr-defined]
            VpcId=sandbox.world["vpc_id"], CidrBlock=SECONDARY
        )
        runbook = runbook_variant({"app": {"target_group": {"deregistration_delay": None}}})
        for phase in ("cluster-foundation", "lb-controller", "app-deploy"):
            done = sandbox.cli("--yes", "run", phase, runbook=runbook)
            assert done.returncode == 0, done.stdout + done.stderr
        yield sandbox
    finally:
        stop_sandbox(sandbox)


def test_vpc_cni_enforces_network_policy(deployed: Sandbox) -> None:
    addon = deployed.client("eks").describe_addon(  # type: ignore[attr-defined]
        clusterName="flexdesk-cluster", addonName="vpc-cni"
    )["addon"]
    assert json.loads(addon["configurationValues"])["enableNetworkPolicy"] == "true"


def test_network_policy_admits_the_vpc_cidrs_read_from_aws(deployed: Sandbox) -> None:
    vpc = deployed.client("ec2").describe_vpcs(VpcIds=[deployed.world["vpc_id"]])["Vpcs"][0]  # type: ignore[attr-defined]
    blocks = [a["CidrBlock"] for a in vpc["CidrBlockAssociationSet"]]
    assert SECONDARY in blocks
    done = deployed.kubectl(
        "get", "networkpolicy", "flexdesk-netpol", "-n", "flexdesk", "-o", "json"
    )
    assert done.returncode == 0, done.stderr
    policy: dict[str, Any] = json.loads(done.stdout)
    cidrs = [
        peer["ipBlock"]["cidr"]
        for rule in policy["spec"]["ingress"]
        for peer in rule["from"]
        if "ipBlock" in peer
    ]
    assert sorted(cidrs) == sorted(blocks)


def test_target_group_drains_no_longer_than_the_pods_live(deployed: Sandbox) -> None:
    elbv2: Any = deployed.client("elbv2")
    group = elbv2.describe_target_groups(Names=["flexdesk-eks"])["TargetGroups"][0]
    attributes = elbv2.describe_target_group_attributes(TargetGroupArn=group["TargetGroupArn"])
    values = {a["Key"]: a["Value"] for a in attributes["Attributes"]}
    done = deployed.kubectl("get", "deployment", "flexdesk-backend", "-n", "flexdesk", "-o", "json")
    assert done.returncode == 0, done.stderr
    pod = json.loads(done.stdout)["spec"]["template"]["spec"]
    grace = int(pod["terminationGracePeriodSeconds"])
    (container,) = [c for c in pod["containers"] if c["name"] == "flexdesk-backend"]
    sleep = int(container["lifecycle"]["preStop"]["sleep"]["seconds"])
    assert int(values["deregistration_delay.timeout_seconds"]) == grace - sleep
    assert int(values["deregistration_delay.timeout_seconds"]) <= grace


def test_database_and_redis_admit_the_app_node_group_not_the_cluster(deployed: Sandbox) -> None:
    ec2: Any = deployed.client("ec2")
    eks: Any = deployed.client("eks")
    cluster = eks.describe_cluster(name="flexdesk-cluster")["cluster"]
    cluster_group = cluster["resourcesVpcConfig"]["clusterSecurityGroupId"]
    # t3.medium has no security groups for pods: the node group got a group of its own
    # through a launch template, which lists it beside the cluster group.
    nodegroup = eks.describe_nodegroup(clusterName="flexdesk-cluster", nodegroupName="application")
    template_ref = nodegroup["nodegroup"]["launchTemplate"]
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=template_ref["id"])
    data = versions["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    (app_group,) = [g for g in data["SecurityGroupIds"] if g != cluster_group]
    assert cluster_group in data["SecurityGroupIds"]
    instance_group = deployed.world["security_group_ids"]["flexdesk-backend"]

    for name in ("flexdesk-db", "flexdesk-redis"):
        group_id = deployed.world["security_group_ids"][name]
        found = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
        admitted = {
            pair["GroupId"]
            for permission in found["IpPermissions"]
            for pair in permission.get("UserIdGroupPairs", [])
        }
        assert admitted == {instance_group, app_group}, name
