"""IAM is eventually consistent: EKS refuses a role created moments ago, as AWS does."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from front_helpers import ClientFactory, active_cluster, create_cluster, unique, wait_for

from flexmigrate.sandbox.faults import FaultBoard

_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": ["eks.amazonaws.com", "ec2.amazonaws.com"]},
            "Action": "sts:AssumeRole",
        }
    ],
}


def _role(aws: ClientFactory) -> str:
    arn: str = aws("iam").create_role(
        RoleName=unique("fresh-role"), AssumeRolePolicyDocument=json.dumps(_TRUST)
    )["Role"]["Arn"]
    return arn


def test_a_new_role_is_refused_by_create_cluster_until_it_has_propagated(
    aws: ClientFactory, network: dict[str, Any], faults: FaultBoard
) -> None:
    faults.inject(["iam-propagation=1.5"])
    role = _role(aws)
    name = unique("fresh")
    with pytest.raises(ClientError) as refused:
        create_cluster(aws, network, name, roleArn=role)
    error = refused.value.response["Error"]
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Code"] == "InvalidParameterException"
    assert error["Message"] == (
        f"Role with arn: {role}, could not be assumed because it does not exist or the "
        "trusted entity is not correct"
    )
    with pytest.raises(ClientError):  # nothing was created by the refused call
        aws("eks").describe_cluster(name=name)

    created = wait_for(
        lambda: _attempt(lambda: create_cluster(aws, network, name, roleArn=role)), timeout=5
    )
    assert created["status"] == "CREATING"


def test_a_new_node_role_is_refused_by_create_nodegroup(
    aws: ClientFactory, network: dict[str, Any], faults: FaultBoard
) -> None:
    cluster = unique("nodes")
    active_cluster(aws, network, cluster)  # its role is the seeded kind: long propagated
    faults.inject(["iam-propagation=1.5"])
    role = _role(aws)
    group = {
        "clusterName": cluster,
        "nodegroupName": "application",
        "subnets": network["subnets"],
        "nodeRole": role,
    }
    started = time.monotonic()
    with pytest.raises(ClientError) as refused:
        aws("eks").create_nodegroup(**group)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"
    assert role in refused.value.response["Error"]["Message"]
    created = wait_for(lambda: _attempt(lambda: aws("eks").create_nodegroup(**group)), timeout=5)
    assert created["nodegroup"]["status"] == "CREATING"
    assert time.monotonic() - started >= 1.0


def test_without_propagation_delay_a_new_role_is_usable_at_once(
    aws: ClientFactory, network: dict[str, Any], faults: FaultBoard
) -> None:
    faults.inject(["iam-propagation=0"])
    role = _role(aws)
    assert create_cluster(aws, network, unique("at-once"), roleArn=role)["status"] == "CREATING"


def _attempt(call: Any) -> Any:
    try:
        return call()
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "InvalidParameterException":
            return None
        raise
