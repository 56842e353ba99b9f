"""The aws-drop fault: connections closed without an answer, before the service saw the call or
after it carried it out. botocore retries both, so a create whose answer was lost arrives twice
and its caller meets what the first attempt made — unless a client token makes it idempotent."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from front_helpers import ClientFactory, make_client, unique

from flexmigrate.sandbox.aws import AwsFront, FrontConfig
from flexmigrate.sandbox.faults import FaultBoard, Faults, FaultSpecError, parse_specs

_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "eks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


@pytest.fixture
def lossy(moto_url: str) -> Iterator[tuple[AwsFront, FaultBoard]]:
    """A front that loses the answer of the next CreateRole and the next RunInstances."""
    board = FaultBoard(
        parse_specs(["aws-lose-answer=CreateRole", "aws-lose-answer=ec2:RunInstances"])
    )
    with AwsFront(FrontConfig(moto_url=moto_url, moto_in_process=True, faults=board)) as running:
        yield running, board


def test_the_spec_takes_a_fraction() -> None:
    assert parse_specs(["aws-drop=0.05"]).aws_drop == 0.05
    with pytest.raises(FaultSpecError):
        parse_specs(["aws-drop=2"])
    armed = parse_specs(["aws-lose-answer=CreateRole", "aws-lose-answer=ec2:CreateImage"])
    assert armed.aws_lose_answer == ("CreateRole", "ec2:CreateImage")
    # through the daemon's control port the board travels as JSON
    assert Faults.from_dict(json.loads(json.dumps(armed.as_dict()))) == armed


def test_both_kinds_happen_and_botocore_retries_each(moto_url: str) -> None:
    board = FaultBoard(Faults(aws_drop=0.3))
    config = FrontConfig(moto_url=moto_url, moto_in_process=True, faults=board, drop_seed=0)
    with AwsFront(config) as running:
        clients = {
            name: make_client(name, running.url, attempts=10)
            for name in ("sts", "ec2", "iam", "eks", "elbv2", "cloudwatch")
        }
        calls: list[Callable[[], Any]] = [
            clients["sts"].get_caller_identity,
            clients["ec2"].describe_vpcs,
            clients["iam"].list_roles,
            clients["eks"].list_clusters,
            clients["elbv2"].describe_load_balancers,
            clients["cloudwatch"].describe_alarms,
        ]
        retried = 0
        for number in range(40):
            answer = calls[number % len(calls)]()
            retried += answer["ResponseMetadata"]["RetryAttempts"]
        for client in clients.values():
            client.close()
        stats = running.stats()
        entries = running.requests()
    dropped = stats["dropped"]
    assert dropped["before"] > 0 and dropped["after"] > 0, dropped
    # every drop cost the caller one retry, and every call succeeded in the end
    assert retried == dropped["before"] + dropped["after"]
    assert stats["total"] == 40 + retried
    # the ledger tells them apart: "before" never reached the service, "after" was answered
    assert {e["status"] for e in entries if e.get("dropped") == "before"} == {0}
    assert {e["status"] for e in entries if e.get("dropped") == "after"} == {200}


def test_a_create_whose_answer_was_lost_meets_what_it_made(
    lossy: tuple[AwsFront, FaultBoard],
) -> None:
    front, board = lossy
    iam = make_client("iam", front.url, attempts=5)
    name = unique("lost-answer-role")
    try:
        with pytest.raises(ClientError) as raised:
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=_TRUST)
        assert board.get().aws_lose_answer == ("ec2:RunInstances",)  # once, then disarmed
        # the caller made one call and is told it already exists: its own first attempt
        assert raised.value.response["Error"]["Code"] == "EntityAlreadyExists"
        assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 1
        assert iam.get_role(RoleName=name)["Role"]["RoleName"] == name
    finally:
        iam.close()
    creates = [e for e in front.requests() if e["operation"] == "CreateRole"]
    assert [(e["status"], e.get("dropped")) for e in creates] == [(200, "after"), (409, None)]
    assert front.stats()["dropped"] == {"before": 0, "after": 1}


def test_a_client_token_makes_the_retried_launch_the_same_launch(
    lossy: tuple[AwsFront, FaultBoard], aws: ClientFactory, network: dict[str, Any]
) -> None:
    front, board = lossy
    image = aws("ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2 = make_client("ec2", front.url, attempts=5)
    token = unique("lost-answer-launch")
    try:
        answer = ec2.run_instances(
            ImageId=image,
            InstanceType="t3.micro",
            MinCount=1,
            MaxCount=1,
            SubnetId=network["subnets"][0],
            ClientToken=token,
        )
        assert board.get().aws_lose_answer == ("CreateRole",)
        assert answer["ResponseMetadata"]["RetryAttempts"] == 1
        launched = [
            i["InstanceId"]
            for r in ec2.describe_instances()["Reservations"]
            for i in r["Instances"]
            if i.get("ClientToken") == token
        ]
    finally:
        ec2.close()
    # the first attempt launched it; the retry was answered with that launch, not a second
    assert launched == [answer["Instances"][0]["InstanceId"]]
    runs = [e for e in front.requests() if e["operation"] == "RunInstances"]
    assert [e.get("dropped") for e in runs] == ["after", None]


def test_a_deregistration_retried_after_a_lost_answer_succeeds_as_in_elb(
    moto_url: str, aws: ClientFactory, network: dict[str, Any]
) -> None:
    # ELB refuses to deregister only a target that does not exist or is outside the group's
    # VPC (InvalidTarget); deregistering one it already deregistered is not an error. moto
    # forgets a deregistered target and refuses it: the front must not pass that on.
    image = aws("ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = aws("ec2").run_instances(
        ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1,
        SubnetId=network["subnets"][0],
    )["Instances"][0]["InstanceId"]  # fmt: skip
    elbv2 = aws("elbv2")
    group = elbv2.create_target_group(
        Name=unique("lost-deregister"), Protocol="HTTP", Port=80, VpcId=network["vpc"],
        TargetType="instance",
    )["TargetGroups"][0]["TargetGroupArn"]  # fmt: skip
    elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": instance}])
    board = FaultBoard(parse_specs(["aws-lose-answer=elbv2:DeregisterTargets"]))
    with AwsFront(FrontConfig(moto_url=moto_url, moto_in_process=True, faults=board)) as lossy:
        client = make_client("elbv2", lossy.url)
        try:
            answer = client.deregister_targets(TargetGroupArn=group, Targets=[{"Id": instance}])
            assert answer["ResponseMetadata"]["RetryAttempts"] == 1
            # a target that never was in the group is still refused
            with pytest.raises(ClientError) as raised:
                client.deregister_targets(
                    TargetGroupArn=group, Targets=[{"Id": "i-0000000000000000f"}]
                )
            assert raised.value.response["Error"]["Code"] == "InvalidTarget"
        finally:
            client.close()
        calls = [e for e in lossy.requests() if e["operation"] == "DeregisterTargets"]
    assert [e.get("dropped") for e in calls] == ["after", None, None]
    health = elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    assert [d["Target"]["Id"] for d in health if d["TargetHealth"]["State"] != "unused"] == []


def test_losses_armed_twice_fall_on_two_calls_not_on_one_calls_retry(moto_url: str) -> None:
    # botocore marks its retries (amz-sdk-request: attempt=2; max=5): a lost answer is armed
    # per call, so each of two tagged roles loses one answer and each call still succeeds.
    board = FaultBoard(parse_specs(["aws-lose-answer=iam:TagRole"] * 2))
    name = unique("lost-twice")
    with AwsFront(FrontConfig(moto_url=moto_url, moto_in_process=True, faults=board)) as front:
        iam = make_client("iam", front.url, attempts=5)
        try:
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=_TRUST)
            for value in ("1", "2"):
                answer = iam.tag_role(RoleName=name, Tags=[{"Key": "k", "Value": value}])
                assert answer["ResponseMetadata"]["RetryAttempts"] == 1
            assert iam.list_role_tags(RoleName=name)["Tags"] == [{"Key": "k", "Value": "2"}]
        finally:
            iam.delete_role(RoleName=name)
            iam.close()
        tags = [e.get("dropped") for e in front.requests() if e["operation"] == "TagRole"]
    assert board.get().aws_lose_answer == ()
    assert tags == ["after", None, "after", None]
