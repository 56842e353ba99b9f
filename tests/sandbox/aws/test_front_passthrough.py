"""Calls the front does not extend reach moto unchanged, answers and errors alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from front_helpers import ClientFactory, make_client, unique

from flexmigrate.sandbox.aws import AwsFront


def test_ec2_and_elbv2_calls_pass_through(aws: ClientFactory, network: dict[str, object]) -> None:
    ec2, elbv2 = aws("ec2"), aws("elbv2")
    group = ec2.create_security_group(
        GroupName=unique("alb"), Description="alb", VpcId=network["vpc"]
    )["GroupId"]
    balancer = elbv2.create_load_balancer(
        Name=unique("alb"), Subnets=network["subnets"], SecurityGroups=[group]
    )["LoadBalancers"][0]

    found = elbv2.describe_load_balancers(LoadBalancerArns=[balancer["LoadBalancerArn"]])
    assert found["LoadBalancers"][0]["SecurityGroups"] == [group]
    with pytest.raises(ClientError) as raised:
        ec2.describe_security_groups(GroupIds=["sg-00000000000000000"])
    assert raised.value.response["Error"]["Code"] == "InvalidGroup.NotFound"


def test_iam_sts_and_secrets_manager_pass_through(aws: ClientFactory) -> None:
    iam, sts, secrets = aws("iam"), aws("sts"), aws("secretsmanager")
    role = unique("role")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Statement": []}))
    assert iam.get_role(RoleName=role)["Role"]["RoleName"] == role
    assert sts.get_caller_identity()["Account"] == "123456789012"

    name = unique("flexdesk/production")
    secrets.create_secret(Name=name, SecretString='{"JWT_SECRET": "x"}')
    assert json.loads(secrets.get_secret_value(SecretId=name)["SecretString"]) == {
        "JWT_SECRET": "x"
    }
    with pytest.raises(ClientError) as raised:
        secrets.get_secret_value(SecretId="no-such-secret")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_s3_bodies_and_conditional_writes_pass_through(aws: ClientFactory) -> None:
    s3 = aws("s3")
    bucket = unique("state-bucket")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "af-south-1"})
    payload = bytes(range(256)) * 4096  # 1 MiB, every byte value
    s3.put_object(Bucket=bucket, Key="dir/state.json", Body=payload)
    assert s3.get_object(Bucket=bucket, Key="dir/state.json")["Body"].read() == payload
    assert s3.head_object(Bucket=bucket, Key="dir/state.json")["ContentLength"] == len(payload)

    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket=bucket, Key="dir/state.json", Body=b"{}", IfNoneMatch="*")
    assert raised.value.response["Error"]["Code"] == "PreconditionFailed"


def test_every_call_is_counted_and_logged(
    aws: ClientFactory, front: AwsFront, request_log: Path
) -> None:
    before = front.stats()["requests"].get("sts", {}).get("GetCallerIdentity", 0)
    aws("sts").get_caller_identity()
    aws("s3").list_buckets()

    assert front.stats()["requests"]["sts"]["GetCallerIdentity"] == before + 1
    last = front.requests()[-2:]
    assert [(e["service"], e["operation"], e["status"]) for e in last] == [
        ("sts", "GetCallerIdentity", 200),
        ("s3", "ListBuckets", 200),
    ]
    logged = [json.loads(line) for line in request_log.read_text().splitlines()]
    assert logged[-2:] == last
    assert set(logged[-1]) == {"ts", "service", "operation", "status"}


def test_operations_are_named_as_in_the_api(aws: ClientFactory, front: AwsFront) -> None:
    eks, cloudwatch = aws("eks"), aws("cloudwatch")
    with pytest.raises(ClientError):
        eks.describe_nodegroup(clusterName="nowhere", nodegroupName="system")
    cloudwatch.describe_alarms()
    aws("elbv2").describe_target_groups()

    seen = {(e["service"], e["operation"]) for e in front.requests()[-3:]}
    assert seen == {
        ("eks", "DescribeNodegroup"),
        ("cloudwatch", "DescribeAlarms"),
        ("elbv2", "DescribeTargetGroups"),
    }


def test_s3_calls_on_one_uri_are_told_apart_by_their_required_query(
    aws: ClientFactory, front: AwsFront
) -> None:
    # DeleteObject and AbortMultipartUpload are both DELETE /{Bucket}/{Key+}; the second
    # requires ?uploadId. PutObject and UploadPart share PUT the same way.
    s3 = aws("s3")
    bucket = unique("routing-bucket")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "af-south-1"})
    s3.put_object(Bucket=bucket, Key="lock", Body=b"{}")
    s3.delete_object(Bucket=bucket, Key="lock")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="big", UploadId=upload, PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket=bucket, Key="big", UploadId=upload)
    assert [e["operation"] for e in front.requests()[-5:]] == [
        "PutObject",
        "DeleteObject",
        "CreateMultipartUpload",
        "UploadPart",
        "AbortMultipartUpload",
    ]


def test_two_fronts_share_nothing(moto_url: str) -> None:
    from flexmigrate.sandbox.aws import FrontConfig

    with (
        AwsFront(FrontConfig(moto_url=moto_url)) as one,
        AwsFront(FrontConfig(moto_url=moto_url)) as two,
    ):
        assert one.url != two.url
        sts = make_client("sts", one.url)
        sts.get_caller_identity()
        sts.close()
        assert one.stats()["total"] == 1
        assert two.stats()["total"] == 0
