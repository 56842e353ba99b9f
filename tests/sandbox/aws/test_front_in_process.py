"""A front told moto runs in its process (as the daemon's is) reaches moto without HTTP.

With moto's server out of reach, such a front still answers — S3 bodies of several MiB,
moto's errors with their status and code, and the extensions that read moto with their own
clients — and it answers as a front that goes to moto over HTTP does.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from front_helpers import ACCOUNT, make_client, two_zone_vpc, unique

from flexmigrate.sandbox.aws import AwsFront, FrontConfig


def _nothing_listens() -> str:
    """A loopback URL whose port no server holds: any HTTP call to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def cut_off() -> Iterator[AwsFront]:
    with AwsFront(FrontConfig(moto_url=_nothing_listens(), moto_in_process=True)) as running:
        yield running


def _status(raised: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_s3_bodies_and_errors_without_moto_over_http(cut_off: AwsFront) -> None:
    s3 = make_client("s3", cut_off.url, attempts=1)
    bucket = unique("in-process")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "af-south-1"})
    payload = bytes(range(256)) * 4096 * 6  # 6 MiB, every byte value
    s3.put_object(Bucket=bucket, Key="dir/a b+c.bin", Body=payload)
    assert s3.get_object(Bucket=bucket, Key="dir/a b+c.bin")["Body"].read() == payload
    assert s3.head_object(Bucket=bucket, Key="dir/a b+c.bin")["ContentLength"] == len(payload)
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["dir/a b+c.bin"]

    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket=bucket, Key="dir/missing")
    assert _status(raised) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket=bucket, Key="dir/a b+c.bin", Body=b"{}", IfNoneMatch="*")
    assert _status(raised) == (412, "PreconditionFailed")
    s3.close()


def test_query_protocol_errors_and_extensions_without_moto_over_http(
    cut_off: AwsFront,
) -> None:
    ec2, eks = make_client("ec2", cut_off.url, attempts=1), make_client("eks", cut_off.url)
    with pytest.raises(ClientError) as raised:
        ec2.describe_security_groups(GroupIds=["sg-00000000000000000"])
    assert _status(raised) == (400, "InvalidGroup.NotFound")

    vpc, subnets = two_zone_vpc(ec2, 250)
    role = f"arn:aws:iam::{ACCOUNT}:role/eks-cluster"
    # CreateCluster is the front's own: it reads the subnets from moto with its own client.
    name = unique("in-process")
    cluster = eks.create_cluster(
        name=name, version="1.34", roleArn=role, resourcesVpcConfig={"subnetIds": subnets}
    )["cluster"]
    assert cluster["status"] == "CREATING"
    assert cluster["resourcesVpcConfig"]["vpcId"] == vpc
    with pytest.raises(ClientError) as raised:
        eks.create_cluster(
            name=unique("in-process"), version="1.34", roleArn=role,
            resourcesVpcConfig={"subnetIds": [subnets[0], "subnet-0000000000000000f"]},
        )  # fmt: skip
    assert _status(raised) == (400, "InvalidParameterException")
    with pytest.raises(ClientError) as raised:
        eks.describe_cluster(name="no-such-cluster")
    assert _status(raised) == (404, "ResourceNotFoundException")
    ec2.close()
    eks.close()


def test_answers_as_a_front_over_http_does(moto_url: str) -> None:
    """Status, headers (but the dates and ids that change per answer) and bodies alike."""
    seen: dict[str, list[Any]] = {}
    bucket = unique("both-ways")
    for way, in_process in (("http", False), ("in-process", True)):
        config = FrontConfig(moto_url=moto_url, moto_in_process=in_process)
        with AwsFront(config) as running:
            s3, sts = make_client("s3", running.url), make_client("sts", running.url)
            if way == "http":
                s3.create_bucket(
                    Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "af-south-1"}
                )
            answers: list[Any] = []
            for client in (s3, sts):
                client.meta.events.register("after-call", _recorder(answers))
            s3.put_object(Bucket=bucket, Key=way, Body=b"x" * 100_000)
            s3.get_object(Bucket=bucket, Key=way)["Body"].read()
            s3.head_object(Bucket=bucket, Key=way)
            with pytest.raises(ClientError):
                s3.get_object(Bucket=bucket, Key="missing")
            sts.get_caller_identity()
            seen[way] = answers
            s3.close()
            sts.close()
    assert seen["in-process"] == seen["http"]


_CHANGING = {"date", "server", "last-modified", "x-amzn-requestid", "x-amz-request-id"}


def _recorder(answers: list[Any]) -> Callable[..., None]:
    def record(http_response: Any, model: Any, **_: Any) -> None:
        headers = {
            key.lower(): value
            for key, value in http_response.headers.items()
            if key.lower() not in _CHANGING
        }
        body = b"" if model.has_streaming_output else http_response.content
        answers.append((model.name, http_response.status_code, headers, len(body)))

    return record
