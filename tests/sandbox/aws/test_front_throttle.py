"""The aws-throttle fault: service-specific throttling errors that botocore retries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from front_helpers import make_client

from flexmigrate.sandbox.aws import AwsFront, FrontConfig
from flexmigrate.sandbox.faults import FaultBoard, Faults


def test_a_third_throttled_still_succeeds_with_standard_retries(moto_url: str) -> None:
    # botocore backs off throttling errors by up to 1 s, 2 s, ... of real time and 503s by
    # 50 ms steps; mostly 503s keep this loop of 50 calls to a few seconds.
    board = FaultBoard(Faults(aws_throttle=0.3))
    config = FrontConfig(
        moto_url=moto_url,
        moto_in_process=True,
        faults=board,
        throttle_seed=0,
        throttle_unavailable_share=0.8,
    )
    with AwsFront(config) as running:
        clients = {
            name: make_client(name, running.url, attempts=5)
            for name in ("sts", "ec2", "eks", "secretsmanager", "elbv2", "s3", "cloudwatch")
        }
        calls: list[Callable[[], Any]] = [
            clients["sts"].get_caller_identity,
            clients["ec2"].describe_vpcs,
            clients["eks"].list_clusters,
            clients["eks"].describe_cluster_versions,
            clients["secretsmanager"].list_secrets,
            clients["elbv2"].describe_load_balancers,
            clients["s3"].list_buckets,
            clients["cloudwatch"].describe_alarms,
        ]
        retried = 0
        for number in range(50):
            answer = calls[number % len(calls)]()
            retried += answer["ResponseMetadata"]["RetryAttempts"]
        for client in clients.values():
            client.close()
        stats = running.stats()
    assert stats["throttled"] > 0
    assert retried == stats["throttled"]
    assert stats["total"] == 50 + stats["throttled"]


@pytest.fixture
def always_throttled(moto_url: str) -> Iterator[AwsFront]:
    board = FaultBoard(Faults(aws_throttle=1.0))
    config = FrontConfig(
        moto_url=moto_url, moto_in_process=True, faults=board, throttle_unavailable_share=0.0
    )
    with AwsFront(config) as running:
        yield running


@pytest.mark.parametrize(
    ("service", "call", "code"),
    [
        ("ec2", lambda c: c.describe_vpcs(), "RequestLimitExceeded"),
        ("elbv2", lambda c: c.describe_load_balancers(), "Throttling"),
        ("iam", lambda c: c.list_roles(), "Throttling"),
        ("eks", lambda c: c.list_clusters(), "ThrottlingException"),
        ("secretsmanager", lambda c: c.list_secrets(), "ThrottlingException"),
        ("cloudwatch", lambda c: c.describe_alarms(), "Throttling"),
        ("s3", lambda c: c.list_buckets(), "SlowDown"),
    ],
)
def test_each_service_throttles_in_its_own_words(
    always_throttled: AwsFront, service: str, call: Callable[[Any], Any], code: str
) -> None:
    # One retry: enough to show botocore takes the error for a retryable one.
    client = boto3.client(
        service,
        endpoint_url=always_throttled.url,
        region_name="af-south-1",
        aws_access_key_id="TESTFRONTKEY00000001",
        aws_secret_access_key="front-secret",
        config=Config(retries={"mode": "standard", "total_max_attempts": 2}),
    )
    try:
        with pytest.raises(ClientError) as raised:
            call(client)
    finally:
        client.close()
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 1
    stats = always_throttled.stats()
    assert stats["throttled"] == stats["total"] == 2


def test_max_attempts_two_gives_up_with_the_throttling_code(always_throttled: AwsFront) -> None:
    client = make_client("elbv2", always_throttled.url, attempts=2)
    with pytest.raises(ClientError) as raised:
        client.describe_target_groups()
    client.close()
    assert raised.value.response["Error"]["Code"] == "Throttling"
    # botocore's retries={"max_attempts": 2} means two retries after the first attempt.
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 2
    assert always_throttled.stats()["throttled"] == 3


def test_unavailable_answers_are_503s_that_botocore_retries(moto_url: str) -> None:
    board = FaultBoard(Faults(aws_throttle=1.0))
    config = FrontConfig(
        moto_url=moto_url, moto_in_process=True, faults=board, throttle_unavailable_share=1.0
    )
    with AwsFront(config) as running:
        client = make_client("elbv2", running.url, attempts=3)
        with pytest.raises(ClientError) as raised:
            client.describe_load_balancers()
        client.close()
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert raised.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 3
