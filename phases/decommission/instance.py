"""The instance's own steps: out of the EC2 target group, stopped, and — only when asked, after
the retention period — terminated; each undone by registering, starting, or launching a
replacement from the backup AMI."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from flexmigrate.durations import format_duration
from flexmigrate.engine.protocol import Action, Change, Step
from flexmigrate.errors import Paused, StepFailed
from flexmigrate.ownership import aws_tag_list, owned
from phases.decommission import reads
from phases.shared.sections import StepContext


class Deregister(Step):
    """Take the instance out of the EC2 target group (it carries no traffic by now)."""

    id = "deregister-ec2"
    title = "deregister the instance from the EC2 target group"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        instance = reads.the_instance(ctx)
        group = reads.ec2_target_group(ctx)
        entry = reads.registration(ctx, group["TargetGroupArn"], instance["InstanceId"])
        current = entry["TargetHealth"]["State"] if entry else "not registered"
        action = Action.UPDATE if entry else Action.NOOP
        return [
            Change(
                action,
                f"{instance['InstanceId']} in {group['TargetGroupName']}",
                current,
                "deregistered",
            )
        ]

    def apply(self, ctx: StepContext) -> None:
        instance_id = reads.the_instance(ctx)["InstanceId"]
        group = reads.ec2_target_group(ctx)
        arn = group["TargetGroupArn"]
        entry = reads.registration(ctx, arn, instance_id)
        if entry is not None:
            port = int(entry["Target"].get("Port", group.get("Port", 80)))
            ctx.record(target_group_arn=arn, port=port)
            ctx.aws("elbv2").deregister_targets(
                TargetGroupArn=arn, Targets=[{"Id": instance_id, "Port": port}]
            )
        delay = _deregistration_delay(ctx, arn)

        def gone() -> tuple[bool, str]:
            found = reads.registration(ctx, arn, instance_id)
            return found is None, found["TargetHealth"]["State"] if found else "deregistered"

        ctx.wait(
            f"{instance_id} to drain from {group['TargetGroupName']}",
            gone,
            timeout=delay + 120,
            interval=1,
        )

    def verify(self, ctx: StepContext) -> Sequence[str]:
        arn = ctx.outputs.get("target_group_arn")
        instance = reads.the_instance(ctx)
        if arn and reads.registration(ctx, str(arn), instance["InstanceId"]):
            return [f"{instance['InstanceId']} is registered in the EC2 target group again"]
        return []

    def rollback(self, ctx: StepContext) -> None:
        arn = ctx.outputs.get("target_group_arn")
        if not arn:
            return
        instance = reads.the_instance(ctx)
        instance_id = instance["InstanceId"]
        if reads.state_of(instance) in ("terminated", "shutting-down"):
            ctx.ui.info(f"{instance_id} is terminated; its replacement was registered instead")
            return
        port = int(ctx.outputs.get("port", 8000))
        ctx.aws("elbv2").register_targets(
            TargetGroupArn=arn, Targets=[{"Id": instance_id, "Port": port}]
        )
        _wait_healthy(ctx, str(arn), instance_id)


def _deregistration_delay(ctx: StepContext, arn: str) -> float:
    attributes = ctx.aws("elbv2").describe_target_group_attributes(TargetGroupArn=arn)
    for attribute in attributes["Attributes"]:
        if attribute["Key"] == "deregistration_delay.timeout_seconds":
            return float(attribute["Value"])
    return 300.0


def _wait_healthy(ctx: StepContext, arn: str, instance_id: str) -> None:
    def healthy() -> tuple[bool, str]:
        entry = reads.registration(ctx, arn, instance_id)
        state = entry["TargetHealth"]["State"] if entry else "not registered"
        return state == "healthy", state

    ctx.wait(f"{instance_id} healthy in the EC2 target group", healthy, timeout=600, interval=2)


class Stop(Step):
    """Stop, not terminate: a stopped instance costs only its volumes and starts in a minute."""

    id = "stop-instance"
    title = "stop the EC2 instance"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        instance = reads.the_instance(ctx)
        state = reads.state_of(instance)
        action = Action.NOOP if state == "stopped" else Action.UPDATE
        return [Change(action, f"instance {instance['InstanceId']}", state, "stopped")]

    def apply(self, ctx: StepContext) -> None:
        instance_id = reads.the_instance(ctx)["InstanceId"]
        if reads.state_of(reads.instance_by_id(ctx, instance_id)) not in ("stopped", "stopping"):
            ctx.aws("ec2").stop_instances(InstanceIds=[instance_id])
        _wait_state(ctx, instance_id, "stopped")
        if "stopped_at" not in ctx.outputs:
            ctx.record(stopped_at=reads.iso(reads.utcnow()))
        retention = ctx.runbook.decommission.retention
        until = reads.utcnow() + dt.timedelta(seconds=retention)
        kept = format_duration(retention)
        ctx.note(f"{instance_id} stopped; kept until at least {reads.iso(until)} ({kept})")

    def verify(self, ctx: StepContext) -> Sequence[str]:
        state = reads.state_of(reads.the_instance(ctx))
        if state in ("stopped", "terminated", "shutting-down"):
            return []
        return [f"the instance is {state}, not stopped"]

    def rollback(self, ctx: StepContext) -> None:
        instance = reads.the_instance(ctx)
        instance_id = instance["InstanceId"]
        state = reads.state_of(instance)
        if state in ("terminated", "shutting-down"):
            ctx.ui.info(f"{instance_id} is terminated; its replacement runs instead")
            return
        if state not in ("running", "pending"):
            ctx.aws("ec2").start_instances(InstanceIds=[instance_id])
        _wait_state(ctx, instance_id, "running")


def _wait_state(ctx: StepContext, instance_id: str, wanted: str) -> None:
    def reached() -> tuple[bool, str]:
        state = reads.state_of(reads.instance_by_id(ctx, instance_id))
        return state == wanted, state

    ctx.wait(f"instance {instance_id} {wanted}", reached, timeout=900, interval=2)


class Terminate(Step):
    """Only with `decommission.terminate: true`, only after the retention period, and only
    when confirmed. Undone by launching a replacement from the backup AMI."""

    id = "terminate-instance"
    title = "terminate the EC2 instance (after the retention period)"
    reversible = False  # the instance itself is gone; a replacement comes from the AMI
    destructive = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        instance = reads.the_instance(ctx)
        retention = format_duration(ctx.runbook.decommission.retention)
        return [
            Change(
                Action.DELETE,
                f"instance {instance['InstanceId']}",
                reads.state_of(instance),
                "terminated",
                reversible=False,
                note=f"only {retention} after it was stopped; a rollback launches a replacement "
                "from the backup AMI",
            )
        ]

    def apply(self, ctx: StepContext) -> None:
        stop = ctx.session.state.phase("phase-5").find_step("stop-instance")
        stopped_at = reads.parse_time(str(stop.outputs.get("stopped_at"))) if stop else None
        if stopped_at is None:
            raise StepFailed("the instance has no recorded stop time; stop it first")
        due = stopped_at + dt.timedelta(seconds=ctx.runbook.decommission.retention)
        if reads.utcnow() < due:
            raise Paused(
                f"the instance stays stopped for the retention period, until {reads.iso(due)}; "
                "nothing was terminated",
                hint="run `flexmigrate resume --yes` after that time to terminate it",
            )
        instance = reads.the_instance(ctx)
        instance_id = instance["InstanceId"]
        ctx.record(
            instance_id=instance_id,
            instance_type=instance.get("InstanceType"),
            subnet_id=instance.get("SubnetId"),
            security_group_ids=[g["GroupId"] for g in instance.get("SecurityGroups", [])],
            instance_profile=(instance.get("IamInstanceProfile") or {}).get("Arn"),
            name=_tag(instance, "Name"),
        )
        if reads.state_of(instance) not in ("terminated", "shutting-down"):
            # the seeded host, like a cautious production one, has termination protection
            ctx.aws("ec2").modify_instance_attribute(
                InstanceId=instance_id, DisableApiTermination={"Value": False}
            )
            ctx.aws("ec2").terminate_instances(InstanceIds=[instance_id])
        _wait_state(ctx, instance_id, "terminated")

    def verify(self, ctx: StepContext) -> Sequence[str]:
        return []

    def rollback(self, ctx: StepContext) -> None:
        backup = ctx.session.state.phase("phase-5").find_step("backup-ami")
        image_id = backup.outputs.get("image_id") if backup else None
        instance_id = ctx.outputs.get("instance_id")
        if not image_id or not instance_id:
            return
        if reads.state_of(reads.instance_by_id(ctx, str(instance_id))) not in (
            "terminated",
            "shutting-down",
        ):
            return
        replacement = self._replacement(ctx, str(instance_id))
        if replacement is None:
            kwargs: dict[str, Any] = {
                # Saved before the call: a retry, a resume or a second rollback after a lost
                # answer gets the instance this launch made instead of launching another.
                "ClientToken": ctx.token("replacement"),
                "ImageId": image_id,
                "InstanceType": ctx.outputs.get("instance_type") or "t3.micro",
                "MinCount": 1,
                "MaxCount": 1,
                "SubnetId": ctx.outputs.get("subnet_id"),
                "SecurityGroupIds": ctx.outputs.get("security_group_ids") or [],
                "TagSpecifications": [
                    {
                        "ResourceType": "instance",
                        "Tags": aws_tag_list(
                            ctx.tags(
                                Name=str(ctx.outputs.get("name") or instance_id),
                                **{"flexmigrate.io/replaces": str(instance_id)},
                            )
                        ),
                    }
                ],
            }
            if ctx.outputs.get("instance_profile"):
                kwargs["IamInstanceProfile"] = {"Arn": ctx.outputs["instance_profile"]}
            new_id = ctx.aws("ec2").run_instances(**kwargs)["Instances"][0]["InstanceId"]
        else:
            new_id = replacement
        _wait_state(ctx, new_id, "running")
        deregister = ctx.session.state.phase("phase-5").find_step("deregister-ec2")
        arn = deregister.outputs.get("target_group_arn") if deregister else None
        if arn:
            port = int(deregister.outputs.get("port", 8000)) if deregister else 8000
            ctx.aws("elbv2").register_targets(
                TargetGroupArn=arn, Targets=[{"Id": new_id, "Port": port}]
            )
            _wait_healthy(ctx, str(arn), new_id)
        ctx.ui.info(f"launched {new_id} from the backup {image_id} in place of {instance_id}")

    def _replacement(self, ctx: StepContext, instance_id: str) -> str | None:
        """A replacement launched by an earlier, interrupted rollback (found by its tag)."""
        reservations = ctx.aws("ec2").describe_instances(
            Filters=[
                {"Name": "tag:flexmigrate.io/replaces", "Values": [instance_id]},
                {
                    "Name": "instance-state-name",
                    "Values": ["pending", "running", "stopping", "stopped"],
                },
            ]
        )["Reservations"]
        for reservation in reservations:
            for found in reservation["Instances"]:
                if owned(found.get("Tags", []), ctx.runbook.name):
                    return str(found["InstanceId"])
        return None


def _tag(instance: dict[str, Any], key: str) -> str | None:
    for tag in instance.get("Tags", []):
        if tag.get("Key") == key:
            return str(tag.get("Value"))
    return None
