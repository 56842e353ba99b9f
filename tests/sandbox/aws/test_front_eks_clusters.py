"""EKS clusters and node groups through the front: lifecycles, idempotency, what EKS adds."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from front_helpers import (
    CA_DATA,
    ClientFactory,
    active_cluster,
    create_cluster,
    status_is,
    unique,
    wait_for,
)

from flexmigrate.sandbox.aws import AwsFront


def _code(raised: pytest.ExceptionInfo[ClientError]) -> str:
    return str(raised.value.response["Error"]["Code"])


def test_cluster_is_creating_then_active_with_its_security_group(
    aws: ClientFactory, network: dict[str, Any], served_clusters: dict[str, tuple[str, str]]
) -> None:
    name = unique("flexdesk")
    served_clusters[name] = ("https://127.0.0.1:6443", CA_DATA)
    started = time.monotonic()
    created = create_cluster(
        aws,
        network,
        name,
        accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"},
        upgradePolicy={"supportType": "STANDARD"},
        bootstrapSelfManagedAddons=False,
    )
    assert created["status"] == "CREATING"
    assert "endpoint" not in created
    assert aws("eks").describe_cluster(name=name)["cluster"]["status"] == "CREATING"

    active = wait_for(
        lambda: status_is(aws("eks").describe_cluster(name=name)["cluster"], "ACTIVE")
    )
    assert time.monotonic() - started >= 0.6
    assert active["endpoint"] == "https://127.0.0.1:6443"
    assert active["certificateAuthority"] == {"data": CA_DATA}
    assert active["identity"]["oidc"]["issuer"].startswith("https://oidc.eks.af-south-1.")
    assert active["accessConfig"]["authenticationMode"] == "API_AND_CONFIG_MAP"
    assert active["upgradePolicy"] == {"supportType": "STANDARD"}
    vpc_config = active["resourcesVpcConfig"]
    assert vpc_config["vpcId"] == network["vpc"]

    group = aws("ec2").describe_security_groups(GroupIds=[vpc_config["clusterSecurityGroupId"]])[
        "SecurityGroups"
    ][0]
    assert group["VpcId"] == network["vpc"]
    assert group["GroupName"].startswith(f"eks-cluster-sg-{name}-")
    tags = {t["Key"]: t["Value"] for t in group["Tags"]}
    assert tags["aws:eks:cluster-name"] == name
    assert tags[f"kubernetes.io/cluster/{name}"] == "owned"


def test_endpoint_stays_moto_s_when_no_api_serves_the_cluster(
    aws: ClientFactory, network: dict[str, Any]
) -> None:
    cluster = active_cluster(aws, network, unique("unserved"))
    assert cluster["endpoint"].endswith(".eks.amazonaws.com/")
    assert cluster["accessConfig"]["authenticationMode"] == "CONFIG_MAP"


def test_client_request_token_makes_create_idempotent(
    aws: ClientFactory, network: dict[str, Any]
) -> None:
    name = unique("retried")
    first = create_cluster(aws, network, name, clientRequestToken="run-1-step-3")
    again = create_cluster(aws, network, name, clientRequestToken="run-1-step-3")
    assert again["arn"] == first["arn"]
    assert (
        again["resourcesVpcConfig"]["clusterSecurityGroupId"]
        == (first["resourcesVpcConfig"]["clusterSecurityGroupId"])
    )
    for token in ({"clientRequestToken": "another-run"}, {}):
        with pytest.raises(ClientError) as raised:
            create_cluster(aws, network, name, **token)
        assert _code(raised) == "ResourceInUseException"


def test_versions_eks_no_longer_offers_are_refused(
    aws: ClientFactory, network: dict[str, Any]
) -> None:
    with pytest.raises(ClientError) as raised:
        create_cluster(aws, network, unique("old"), version="1.28")
    assert _code(raised) == "InvalidParameterException"
    assert "1.28" in str(raised.value)


def test_cluster_needs_subnets_in_two_zones(aws: ClientFactory, network: dict[str, Any]) -> None:
    single = dict(network, subnets=network["subnets"][:1])
    with pytest.raises(ClientError) as raised:
        create_cluster(aws, single, unique("one-az"))
    assert _code(raised) == "InvalidParameterException"


def test_node_groups_wait_for_an_active_cluster_and_take_time(
    aws: ClientFactory, network: dict[str, Any]
) -> None:
    eks = aws("eks")
    name = unique("nodes")
    create_cluster(aws, network, name)
    group = {
        "clusterName": name,
        "nodegroupName": "system",
        "subnets": network["subnets"],
        "nodeRole": "arn:aws:iam::123456789012:role/eks-node",
        "clientRequestToken": "ng-token",
    }
    with pytest.raises(ClientError) as raised:
        eks.create_nodegroup(**group)
    assert _code(raised) == "InvalidRequestException"

    wait_for(lambda: status_is(eks.describe_cluster(name=name)["cluster"], "ACTIVE"))
    created = eks.create_nodegroup(**group)["nodegroup"]
    assert created["status"] == "CREATING"
    assert created["version"] == "1.34"
    assert created["releaseVersion"].startswith("1.34.")
    assert created["amiType"] == "AL2023_x86_64_STANDARD"
    assert eks.create_nodegroup(**group)["nodegroup"]["nodegroupArn"] == created["nodegroupArn"]
    with pytest.raises(ClientError) as raised:
        eks.create_nodegroup(**dict(group, clientRequestToken="other"))
    assert _code(raised) == "ResourceInUseException"

    def described() -> Any:
        return eks.describe_nodegroup(clusterName=name, nodegroupName="system")["nodegroup"]

    active = wait_for(lambda: status_is(described(), "ACTIVE"))
    assert active["resources"]["autoScalingGroups"]


def test_deletes_take_time_and_respect_node_groups(
    aws: ClientFactory, network: dict[str, Any]
) -> None:
    eks, ec2 = aws("eks"), aws("ec2")
    name = unique("doomed")
    cluster = active_cluster(aws, network, name)
    group_id = cluster["resourcesVpcConfig"]["clusterSecurityGroupId"]
    eks.create_nodegroup(
        clusterName=name,
        nodegroupName="application",
        subnets=network["subnets"],
        nodeRole="arn:aws:iam::123456789012:role/eks-node",
    )
    with pytest.raises(ClientError) as raised:
        eks.delete_cluster(name=name)
    assert _code(raised) == "ResourceInUseException"

    deleting = eks.delete_nodegroup(clusterName=name, nodegroupName="application")["nodegroup"]
    assert deleting["status"] == "DELETING"
    assert eks.list_nodegroups(clusterName=name)["nodegroups"] == ["application"]
    with pytest.raises(ClientError) as raised:
        eks.delete_cluster(name=name)  # still has a node group on its way out
    assert _code(raised) == "ResourceInUseException"

    def nodegroups() -> list[str]:
        return list(eks.list_nodegroups(clusterName=name)["nodegroups"])

    wait_for(lambda: nodegroups() == [])
    assert eks.delete_cluster(name=name)["cluster"]["status"] == "DELETING"
    assert eks.describe_cluster(name=name)["cluster"]["status"] == "DELETING"
    assert name in eks.list_clusters()["clusters"]

    def gone() -> bool:
        try:
            eks.describe_cluster(name=name)
        except ClientError as exc:
            return exc.response["Error"]["Code"] == "ResourceNotFoundException"
        return False

    wait_for(gone)
    assert name not in eks.list_clusters()["clusters"]
    wait_for(
        lambda: (
            not ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": [group_id]}])[
                "SecurityGroups"
            ]
        )
    )


def test_clusters_made_in_moto_directly_are_adopted_as_active(
    aws: ClientFactory, network: dict[str, Any], moto_url: str, front: AwsFront
) -> None:
    from front_helpers import make_client

    name = unique("seeded")
    direct = make_client("eks", moto_url)
    direct.create_cluster(
        name=name,
        roleArn="arn:aws:iam::123456789012:role/eks-cluster",
        resourcesVpcConfig={"subnetIds": network["subnets"]},
    )
    direct.close()
    cluster = aws("eks").describe_cluster(name=name)["cluster"]
    assert cluster["status"] == "ACTIVE"
    assert cluster["resourcesVpcConfig"]["clusterSecurityGroupId"].startswith("sg-")
