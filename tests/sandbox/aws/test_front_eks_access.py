"""EKS access entries and policies, which moto lacks, with the rules EKS applies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from front_helpers import ACCOUNT, ClientFactory, active_cluster, unique

ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
VIEW = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"


def _role(aws: ClientFactory) -> str:
    name = unique("platform-admin")
    aws("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Statement": []}))
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def test_entries_need_an_api_authentication_mode(
    aws: ClientFactory, network: dict[str, Any]
) -> None:
    name = unique("configmap")
    active_cluster(aws, network, name)  # EKS defaults to CONFIG_MAP
    with pytest.raises(ClientError) as raised:
        aws("eks").create_access_entry(clusterName=name, principalArn=_role(aws))
    assert raised.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "authentication mode" in raised.value.response["Error"]["Message"]


def test_access_entries_and_policies(aws: ClientFactory, network: dict[str, Any]) -> None:
    eks = aws("eks")
    name = unique("api")
    active_cluster(aws, network, name, accessConfig={"authenticationMode": "API"})
    creator = f"arn:aws:iam::{ACCOUNT}:user/moto"  # who moto says is calling
    assert eks.list_access_entries(clusterName=name)["accessEntries"] == [creator]
    bound = eks.list_associated_access_policies(clusterName=name, principalArn=creator)
    assert [p["policyArn"] for p in bound["associatedAccessPolicies"]] == [ADMIN]

    role = _role(aws)
    entry = eks.create_access_entry(clusterName=name, principalArn=role)["accessEntry"]
    assert entry["type"] == "STANDARD"
    assert entry["accessEntryArn"].startswith(f"arn:aws:eks:af-south-1:{ACCOUNT}:access-entry/")
    assert entry["username"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/")
    with pytest.raises(ClientError) as raised:
        eks.create_access_entry(clusterName=name, principalArn=role)
    assert raised.value.response["Error"]["Code"] == "ResourceInUseException"
    with pytest.raises(ClientError) as raised:
        eks.create_access_entry(clusterName=name, principalArn=f"arn:aws:iam::{ACCOUNT}:role/ghost")
    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"

    eks.associate_access_policy(
        clusterName=name, principalArn=role, policyArn=ADMIN, accessScope={"type": "cluster"}
    )
    eks.associate_access_policy(
        clusterName=name,
        principalArn=role,
        policyArn=VIEW,
        accessScope={"type": "namespace", "namespaces": ["flexdesk"]},
    )
    policies = eks.list_associated_access_policies(clusterName=name, principalArn=role)
    scopes = {p["policyArn"]: p["accessScope"] for p in policies["associatedAccessPolicies"]}
    assert scopes == {
        ADMIN: {"type": "cluster", "namespaces": []},
        VIEW: {"type": "namespace", "namespaces": ["flexdesk"]},
    }
    by_policy = eks.list_access_entries(clusterName=name, associatedPolicyArn=VIEW)
    assert by_policy["accessEntries"] == [role]
    with pytest.raises(ClientError) as raised:
        eks.associate_access_policy(
            clusterName=name,
            principalArn=role,
            policyArn="arn:aws:eks::aws:cluster-access-policy/NoSuchPolicy",
            accessScope={"type": "cluster"},
        )
    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"

    eks.disassociate_access_policy(clusterName=name, principalArn=role, policyArn=VIEW)
    assert (
        eks.describe_access_entry(clusterName=name, principalArn=role)["accessEntry"][
            "principalArn"
        ]
        == role
    )
    eks.delete_access_entry(clusterName=name, principalArn=role)
    with pytest.raises(ClientError) as raised:
        eks.describe_access_entry(clusterName=name, principalArn=role)
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_access_policies_are_listed(aws: ClientFactory) -> None:
    pages = aws("eks").get_paginator("list_access_policies").paginate()
    arns = [p["arn"] for page in pages for p in page["accessPolicies"]]
    assert ADMIN in arns
    assert VIEW in arns
