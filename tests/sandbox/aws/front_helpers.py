"""Clients, names and waits shared by the AWS front's tests."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

REGION = "af-south-1"
ACCOUNT = "123456789012"
CA_DATA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="

ClientFactory = Callable[..., Any]


def make_client(
    service: str,
    url: str,
    *,
    attempts: int = 5,
    access_key: str = "TESTFRONTKEY00000001",
    region: str = REGION,
) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key="front-secret",
        config=Config(retries={"mode": "standard", "max_attempts": attempts}),
    )


def two_zone_vpc(ec2: Any, block: int, region: str = REGION) -> tuple[str, list[str]]:
    """A VPC 10.BLOCK.0.0/16 with one /24 subnet in each of two AZs, like the seed's private
    subnets: (VPC id, subnet ids)."""
    vpc: str = ec2.create_vpc(CidrBlock=f"10.{block}.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.{block}.{i}.0/24", AvailabilityZone=f"{region}{zone}"
        )["Subnet"]["SubnetId"]
        for i, zone in enumerate("ab")
    ]
    return vpc, subnets


_names = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


def wait_for(probe: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``probe`` until it returns something truthy; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout}s; last value {value!r}")
        time.sleep(interval)


def create_cluster(aws: ClientFactory, network: dict[str, Any], name: str, **extra: Any) -> Any:
    params: dict[str, Any] = {
        "name": name,
        "version": "1.34",
        "roleArn": f"arn:aws:iam::{ACCOUNT}:role/eks-cluster",
        "resourcesVpcConfig": {"subnetIds": network["subnets"]},
    }
    params.update(extra)
    return aws("eks").create_cluster(**params)["cluster"]


def active_cluster(aws: ClientFactory, network: dict[str, Any], name: str, **extra: Any) -> Any:
    create_cluster(aws, network, name, **extra)
    eks = aws("eks")
    return wait_for(lambda: status_is(eks.describe_cluster(name=name)["cluster"], "ACTIVE"))


def status_is(resource: dict[str, Any], status: str) -> dict[str, Any] | None:
    return resource if resource["status"] == status else None
