"""Phase 1 against a fresh sandbox, in order: the plan of a fresh account lists everything and
mutates nothing; a run from nothing builds the foundation (roles, cluster, access entries,
OIDC provider, three node groups created concurrently, add-ons), all tagged; a second run
changes nothing; rollback leaves nothing flexmigrate created and keeps the VPC."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flexmigrate.ownership import owned
from tests.conftest import Sandbox

pytestmark = pytest.mark.timeout(180)

RUNBOOK = "flexdesk-sandbox"
CLUSTER = "flexdesk-cluster"
NODEGROUP_SECONDS = 3.0
GROUPS = {"system", "application", "monitoring"}
ADDONS = ("vpc-cni", "kube-proxy", "coredns", "metrics-server")  # the sandbox runbook's
ADMINS = {
    "arn:aws:iam::123456789012:role/flexdesk-operators",
    "arn:aws:iam::123456789012:role/flexdesk-ci",
}


@pytest.fixture(scope="module")
def world(sandbox_factory: Callable[..., Any]) -> Iterator[Sandbox]:
    with sandbox_factory("--nodegroup-seconds", str(NODEGROUP_SECONDS)) as sandbox:
        yield sandbox


def _roles(sandbox: Sandbox) -> dict[str, list[dict[str, str]]]:
    iam: Any = sandbox.client("iam")
    roles = [r for page in iam.get_paginator("list_roles").paginate() for r in page["Roles"]]
    return {r["RoleName"]: iam.list_role_tags(RoleName=r["RoleName"])["Tags"] for r in roles}


def _changes(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (change["action"], change["resource"])
        for phase in report["phases"]
        for step in phase["steps"]
        for change in step["changes"]
    }


def test_plan_of_a_fresh_account_lists_everything_and_mutates_nothing(
    world: Sandbox, aws_ledger: Callable[[Sandbox], Any]
) -> None:
    ledger = aws_ledger(world)
    mark = ledger.mark()

    planned = world.cli("--output", "json", "plan", "cluster-foundation")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    changes = _changes(json.loads(planned.stdout))
    assert changes == {
        ("create", "IAM role flexdesk-cluster-cluster-role"),
        ("create", "IAM role flexdesk-cluster-node-role"),
        ("create", f"EKS cluster {CLUSTER}"),
        ("create", "IAM OIDC provider"),
        ("create", "security group flexdesk-cluster-application-nodes"),
        ("create", "launch template flexdesk-cluster-application"),
        *(("create", f"node group {name}") for name in GROUPS),
        *(("create", f"add-on {name}") for name in ADDONS),
        *(("create", f"access entry {arn}") for arn in ADMINS),
    }
    # Which way the app gets a security group of its own, and why.
    assert (
        "t3.medium is a t-family type: no security groups for pods, so node group application "
        "gets a security group of its own through a launch template"
    ) in planned.stdout

    everything = world.cli("--output", "json", "plan", "all")
    assert everything.returncode == 0, everything.stdout + everything.stderr
    report = json.loads(everything.stdout)
    second = report["phases"][1]
    assert {c["id"]: c["status"] for c in second["preflight"]}["cluster-ready"] == "skip"
    assert ("create", "ServiceAccount kube-system/aws-load-balancer-controller") in _changes(
        {"phases": [second]}
    )

    assert ledger.mutations_since(mark) == []
    assert world.client("eks").list_clusters()["clusters"] == []  # type: ignore[attr-defined]


def test_run_from_nothing_builds_the_foundation(
    world: Sandbox, read_state: Callable[..., dict[str, Any]]
) -> None:
    ran = world.cli("run", "cluster-foundation")
    assert ran.returncode == 0, ran.stdout + ran.stderr

    eks: Any = world.client("eks")
    cluster = eks.describe_cluster(name=CLUSTER)["cluster"]
    assert cluster["status"] == "ACTIVE" and cluster["version"] == "1.35"
    assert owned(cluster["tags"], RUNBOOK)
    assert cluster["accessConfig"]["authenticationMode"] == "API_AND_CONFIG_MAP"
    assert cluster["roleArn"].endswith(":role/flexdesk-cluster-cluster-role")

    roles = _roles(world)
    for name in ("flexdesk-cluster-cluster-role", "flexdesk-cluster-node-role"):
        assert owned(roles[name], RUNBOOK), name
    iam: Any = world.client("iam")
    attached = {
        p["PolicyName"]
        for p in iam.list_attached_role_policies(RoleName="flexdesk-cluster-node-role")[
            "AttachedPolicies"
        ]
    }
    assert attached == {
        "AmazonEKSWorkerNodePolicy",
        "AmazonEKS_CNI_Policy",
        "AmazonEC2ContainerRegistryReadOnly",
    }

    ec2: Any = world.client("ec2")
    groups = {}
    for name in eks.list_nodegroups(clusterName=CLUSTER)["nodegroups"]:
        groups[name] = eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName=name)["nodegroup"]
    assert set(groups) == GROUPS
    assert all(g["status"] == "ACTIVE" and owned(g["tags"], RUNBOOK) for g in groups.values())
    assert groups["application"]["instanceTypes"] == ["t3.medium"]
    assert groups["application"]["scalingConfig"] == {"minSize": 1, "maxSize": 4, "desiredSize": 2}
    assert groups["monitoring"]["taints"] == [
        {"key": "workload", "value": "monitoring", "effect": "NO_SCHEDULE"}
    ]
    subnets = ec2.describe_subnets(SubnetIds=groups["system"]["subnets"])["Subnets"]
    assert {s["AvailabilityZone"] for s in subnets} == {"af-south-1a", "af-south-1b"}

    addons = {
        name: eks.describe_addon(clusterName=CLUSTER, addonName=name)["addon"] for name in ADDONS
    }
    assert all(a["status"] == "ACTIVE" and owned(a["tags"], RUNBOOK) for a in addons.values())
    assert addons["kube-proxy"]["addonVersion"] == "v1.35.4-eksbuild.3"  # the 1.35 default

    entries = set(eks.list_access_entries(clusterName=CLUSTER)["accessEntries"])
    assert entries >= ADMINS
    for arn in ADMINS:
        entry = eks.describe_access_entry(clusterName=CLUSTER, principalArn=arn)["accessEntry"]
        assert owned(entry["tags"], RUNBOOK)
        policies = eks.list_associated_access_policies(clusterName=CLUSTER, principalArn=arn)
        assert [
            p["policyArn"].rsplit("/", 1)[-1] for p in policies["associatedAccessPolicies"]
        ] == ["AmazonEKSClusterAdminPolicy"]

    providers = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert len(providers) == 1
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=providers[0]["Arn"])
    assert provider["ClientIDList"] == ["sts.amazonaws.com"] and provider["ThumbprintList"] == []
    assert owned(provider["Tags"], RUNBOOK)
    issuer = cluster["identity"]["oidc"]["issuer"]
    assert providers[0]["Arn"].endswith(issuer.removeprefix("https://"))

    state = read_state(world)
    phase = state["phases"][0]
    outputs = {k: v for step in phase["steps"] for k, v in step["outputs"].items()}
    assert outputs["cluster_arn"] == cluster["arn"]
    assert outputs["endpoint"] == cluster["endpoint"]
    assert outputs["certificate_authority"] == cluster["certificateAuthority"]["data"]
    assert outputs["oidc_provider_arn"] == providers[0]["Arn"]
    assert {n: g["arn"] for n, g in outputs["nodegroups"].items()} == {
        n: g["nodegroupArn"] for n, g in groups.items()
    }
    # Created concurrently: every group was asked for before the first could be ACTIVE (one
    # after another, each would wait out NODEGROUP_SECONDS before the next was created).
    created = sorted(g["createdAt"] for g in groups.values())
    assert (created[-1] - created[0]).total_seconds() < NODEGROUP_SECONDS, created


def test_running_again_changes_nothing(
    world: Sandbox, aws_ledger: Callable[[Sandbox], Any]
) -> None:
    ledger = aws_ledger(world)
    mark = ledger.mark()
    again = world.cli("run", "cluster-foundation")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "no drift" in again.stdout
    assert ledger.mutations_since(mark) == []


def test_rollback_leaves_nothing_flexmigrate_created_and_keeps_the_vpc(world: Sandbox) -> None:
    rolled = world.cli("--yes", "rollback", "cluster-foundation")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr

    eks: Any = world.client("eks")
    iam: Any = world.client("iam")
    ec2: Any = world.client("ec2")
    assert eks.list_clusters()["clusters"] == []
    assert iam.list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
    roles = _roles(world)
    assert [name for name, tags in roles.items() if owned(tags, RUNBOOK)] == []
    assert {"flexdesk-operators", "flexdesk-ci"} <= set(roles)  # the world's own roles stay
    cluster_groups = ec2.describe_security_groups(
        Filters=[{"Name": "tag:aws:eks:cluster-name", "Values": [CLUSTER]}]
    )["SecurityGroups"]
    assert cluster_groups == []
    ours = ec2.describe_security_groups(
        Filters=[{"Name": "tag:flexmigrate.io/runbook", "Values": [RUNBOOK]}]
    )["SecurityGroups"]
    assert ours == []  # the application node group's own group is gone too
    templates = ec2.describe_launch_templates(
        Filters=[{"Name": "tag:flexmigrate.io/runbook", "Values": [RUNBOOK]}]
    )["LaunchTemplates"]
    assert templates == []
    vpc_id = world.world["vpc_id"]
    assert ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["VpcId"] == vpc_id
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    assert len(subnets) == 4

    status = world.cli("status", "--json")
    assert '"rolled_back"' in status.stdout
