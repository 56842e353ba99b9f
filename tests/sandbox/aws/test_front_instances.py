"""EC2 through the front where moto differs from EC2: RunInstances honours its client token,
and CreateImage without NoReboot reboots a running instance."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from front_helpers import ClientFactory, unique

from flexmigrate.sandbox.aws import AwsFront


def _image(ec2: Any) -> str:
    return str(ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"])


def _launch(ec2: Any, network: dict[str, Any], **extra: Any) -> dict[str, Any]:
    extra.setdefault("InstanceType", "t3.micro")
    return dict(
        ec2.run_instances(
            ImageId=_image(ec2),
            MinCount=1,
            MaxCount=1,
            SubnetId=network["subnets"][0],
            **extra,
        )
    )


def _instances_with_token(ec2: Any, token: str) -> list[str]:
    reservations = ec2.describe_instances()["Reservations"]
    return [
        i["InstanceId"]
        for r in reservations
        for i in r["Instances"]
        if i.get("ClientToken") == token
    ]


def test_a_repeated_client_token_launches_nothing_more(
    aws: ClientFactory, network: dict[str, Any]
) -> None:
    ec2 = aws("ec2")
    token = unique("replacement-token")
    first = _launch(ec2, network, ClientToken=token)
    again = _launch(ec2, network, ClientToken=token)
    assert again["ReservationId"] == first["ReservationId"]
    assert [i["InstanceId"] for i in again["Instances"]] == [
        i["InstanceId"] for i in first["Instances"]
    ]
    assert _instances_with_token(ec2, token) == [first["Instances"][0]["InstanceId"]]
    # still the same launch once that instance is gone
    ec2.terminate_instances(InstanceIds=[first["Instances"][0]["InstanceId"]])
    later = _launch(ec2, network, ClientToken=token)
    assert later["ReservationId"] == first["ReservationId"]
    assert _instances_with_token(ec2, token) == [first["Instances"][0]["InstanceId"]]


def test_a_client_token_with_other_parameters_is_refused(
    aws: ClientFactory, network: dict[str, Any]
) -> None:
    ec2 = aws("ec2")
    token = unique("token")
    _launch(ec2, network, ClientToken=token)
    with pytest.raises(ClientError) as caught:
        _launch(ec2, network, ClientToken=token, InstanceType="t3.small")
    assert caught.value.response["Error"]["Code"] == "IdempotentParameterMismatch"
    assert len(_instances_with_token(ec2, token)) == 1


def test_different_client_tokens_launch_different_instances(
    aws: ClientFactory, network: dict[str, Any]
) -> None:
    ec2 = aws("ec2")
    first = _launch(ec2, network, ClientToken=unique("token"))
    second = _launch(ec2, network, ClientToken=unique("token"))
    assert first["Instances"][0]["InstanceId"] != second["Instances"][0]["InstanceId"]


def _reboots_of(front: AwsFront, instance_id: str) -> list[dict[str, Any]]:
    return [r for r in front.reboots() if r["instance_id"] == instance_id]


def test_create_image_reboots_a_running_instance(
    aws: ClientFactory, network: dict[str, Any], front: AwsFront
) -> None:
    ec2 = aws("ec2")
    instance_id = _launch(ec2, network)["Instances"][0]["InstanceId"]
    image_id = ec2.create_image(InstanceId=instance_id, Name=unique("backup"))["ImageId"]
    reboots = _reboots_of(front, instance_id)
    assert [(r["instance_id"], r["image_id"]) for r in reboots] == [(instance_id, image_id)]
    # a reboot keeps the instance running, as EC2 reports it
    state = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] == "running"


def test_create_image_without_a_reboot(
    aws: ClientFactory, network: dict[str, Any], front: AwsFront
) -> None:
    ec2 = aws("ec2")
    instance_id = _launch(ec2, network)["Instances"][0]["InstanceId"]
    ec2.create_image(InstanceId=instance_id, Name=unique("backup"), NoReboot=True)
    assert _reboots_of(front, instance_id) == []
    ec2.stop_instances(InstanceIds=[instance_id])
    ec2.get_waiter("instance_stopped").wait(
        InstanceIds=[instance_id], WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    ec2.create_image(InstanceId=instance_id, Name=unique("backup"))
    assert _reboots_of(front, instance_id) == []
