"""EKS versions and add-ons, which moto lacks, served by the front as EKS serves them."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from front_helpers import ClientFactory, active_cluster, status_is, unique, wait_for


def test_cluster_versions_offer_supported_versions_only(aws: ClientFactory) -> None:
    eks = aws("eks")
    offered = eks.describe_cluster_versions()["clusterVersions"]
    names = [v["clusterVersion"] for v in offered]
    assert "1.28" not in names
    assert {"1.33", "1.34", "1.35"} <= set(names)
    assert {v["versionStatus"] for v in offered} <= {"STANDARD_SUPPORT", "EXTENDED_SUPPORT"}
    assert [v["clusterVersion"] for v in offered if v["defaultVersion"]] == ["1.35"]
    for version in offered:
        assert version["releaseDate"] < version["endOfStandardSupportDate"]
        assert version["endOfStandardSupportDate"] < version["endOfExtendedSupportDate"]

    old = eks.describe_cluster_versions(clusterVersions=["1.28"], includeAll=True)
    assert [v["versionStatus"] for v in old["clusterVersions"]] == ["UNSUPPORTED"]
    assert eks.describe_cluster_versions(clusterVersions=["1.28"])["clusterVersions"] == []
    extended = eks.describe_cluster_versions(versionStatus="EXTENDED_SUPPORT")["clusterVersions"]
    assert extended and all(v["status"] == "extended-support" for v in extended)
    assert (
        eks.describe_cluster_versions(defaultOnly=True)["clusterVersions"][0]["clusterVersion"]
        == "1.35"
    )


def test_cluster_versions_paginate(aws: ClientFactory) -> None:
    pages = (
        aws("eks")
        .get_paginator("describe_cluster_versions")
        .paginate(PaginationConfig={"PageSize": 2})
    )
    versions = [v["clusterVersion"] for page in pages for v in page["clusterVersions"]]
    assert versions == [
        v["clusterVersion"] for v in aws("eks").describe_cluster_versions()["clusterVersions"]
    ]


def test_addon_versions_are_filtered_by_kubernetes_version(aws: ClientFactory) -> None:
    eks = aws("eks")
    addons = eks.describe_addon_versions(kubernetesVersion="1.34")["addons"]
    assert {a["addonName"] for a in addons} == {
        "vpc-cni",
        "kube-proxy",
        "coredns",
        "aws-ebs-csi-driver",
        "metrics-server",
    }
    metrics = next(a for a in addons if a["addonName"] == "metrics-server")
    assert (metrics["owner"], metrics["publisher"]) == ("community", "eks")  # a community add-on
    proxy = next(a for a in addons if a["addonName"] == "kube-proxy")
    assert all(v["addonVersion"].startswith("v1.34.") for v in proxy["addonVersions"])
    for addon in addons:
        defaults = [
            v["addonVersion"]
            for v in addon["addonVersions"]
            for c in v["compatibilities"]
            if c["defaultVersion"]
        ]
        assert len(defaults) == 1, addon["addonName"]
        for version in addon["addonVersions"]:
            assert [c["clusterVersion"] for c in version["compatibilities"]] == ["1.34"]

    cni = eks.describe_addon_versions(addonName="vpc-cni")["addons"]
    assert [a["addonName"] for a in cni] == ["vpc-cni"]
    assert all(v["addonVersion"].endswith(tuple(f"eksbuild.{n}" for n in range(1, 30)))
               for v in cni[0]["addonVersions"])  # fmt: skip


def test_addons_are_created_deleted_and_checked(
    aws: ClientFactory, network: dict[str, Any]
) -> None:
    eks = aws("eks")
    name = unique("addons")
    active_cluster(aws, network, name)
    with pytest.raises(ClientError) as raised:
        eks.create_addon(
            clusterName=name, addonName="kube-proxy", addonVersion="v1.33.9-eksbuild.5"
        )
    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as raised:
        eks.create_addon(clusterName=name, addonName="istio")
    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as raised:
        eks.create_addon(clusterName="no-such-cluster", addonName="vpc-cni")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"

    created = eks.create_addon(clusterName=name, addonName="vpc-cni", clientRequestToken="t1")
    addon = created["addon"]
    assert addon["status"] == "CREATING"
    assert addon["addonVersion"] == "v1.20.5-eksbuild.1"  # the default on 1.34
    again = eks.create_addon(clusterName=name, addonName="vpc-cni", clientRequestToken="t1")
    assert again["addon"]["addonArn"] == addon["addonArn"]
    with pytest.raises(ClientError) as raised:
        eks.create_addon(clusterName=name, addonName="vpc-cni")
    assert raised.value.response["Error"]["Code"] == "ResourceInUseException"

    def described() -> Any:
        return eks.describe_addon(clusterName=name, addonName="vpc-cni")["addon"]

    wait_for(lambda: status_is(described(), "ACTIVE"))
    assert eks.list_addons(clusterName=name)["addons"] == ["vpc-cni"]
    update = eks.update_addon(
        clusterName=name, addonName="vpc-cni", addonVersion="v1.21.1-eksbuild.3"
    )
    assert update["update"]["type"] == "AddonUpdate"
    assert described()["status"] == "UPDATING"
    wait_for(lambda: status_is(described(), "ACTIVE"))
    assert described()["addonVersion"] == "v1.21.1-eksbuild.3"

    assert eks.delete_addon(clusterName=name, addonName="vpc-cni")["addon"]["status"] == "DELETING"
    wait_for(lambda: eks.list_addons(clusterName=name)["addons"] == [])
    with pytest.raises(ClientError) as raised:
        described()
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_addon_updates_are_followed_by_describe_update_and_idempotent(
    aws: ClientFactory, network: dict[str, Any]
) -> None:
    """UpdateAddon answers an ``AddonUpdate`` that DescribeUpdate (with ``addonName``) follows
    from InProgress to Successful; its clientRequestToken makes a retried call the same
    update (botocore's eks model marks it an idempotency token)."""
    eks = aws("eks")
    name = unique("addonupd")
    active_cluster(aws, network, name)
    eks.create_addon(clusterName=name, addonName="vpc-cni")
    wait_for(
        lambda: status_is(
            eks.describe_addon(clusterName=name, addonName="vpc-cni")["addon"], "ACTIVE"
        )
    )
    first = eks.update_addon(
        clusterName=name,
        addonName="vpc-cni",
        addonVersion="v1.21.1-eksbuild.3",
        resolveConflicts="PRESERVE",
        clientRequestToken="retried-update",
    )["update"]
    again = eks.update_addon(
        clusterName=name,
        addonName="vpc-cni",
        addonVersion="v1.21.1-eksbuild.3",
        resolveConflicts="PRESERVE",
        clientRequestToken="retried-update",
    )["update"]
    assert again["id"] == first["id"]

    def described() -> dict[str, Any]:
        found: dict[str, Any] = eks.describe_update(
            name=name, updateId=first["id"], addonName="vpc-cni"
        )["update"]
        return found

    update = described()
    assert (update["type"], update["status"]) == ("AddonUpdate", "InProgress")
    assert {"type": "AddonVersion", "value": "v1.21.1-eksbuild.3"} in update["params"]
    wait_for(lambda: described()["status"] == "Successful")
    addon = eks.describe_addon(clusterName=name, addonName="vpc-cni")["addon"]
    assert (addon["status"], addon["addonVersion"]) == ("ACTIVE", "v1.21.1-eksbuild.3")
    with pytest.raises(ClientError) as raised:
        eks.describe_update(name=name, updateId=first["id"], addonName="kube-proxy")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_coredns_is_degraded_until_a_node_group_is_active(
    aws: ClientFactory, network: dict[str, Any]
) -> None:
    eks = aws("eks")
    name = unique("dns")
    active_cluster(aws, network, name)
    eks.create_addon(clusterName=name, addonName="coredns")

    def coredns() -> Any:
        return eks.describe_addon(clusterName=name, addonName="coredns")["addon"]

    degraded = wait_for(lambda: status_is(coredns(), "DEGRADED"))
    assert degraded["health"]["issues"][0]["code"] == "InsufficientNumberOfReplicas"

    eks.create_nodegroup(
        clusterName=name,
        nodegroupName="system",
        subnets=network["subnets"],
        nodeRole="arn:aws:iam::123456789012:role/eks-node",
    )
    assert coredns()["status"] == "DEGRADED"  # the node group is still CREATING
    healthy = wait_for(lambda: status_is(coredns(), "ACTIVE"))
    assert healthy["health"]["issues"] == []
