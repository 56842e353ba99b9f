"""The steps of decommission. See ``phases/decommission.py`` for the whole story."""

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


def _phase4_finished(ctx: StepContext) -> dt.datetime | None:
    state = ctx.session.state.find_phase("phase-4")
    return reads.parse_time(state.finished_at) if state else None


class HoldAtFull(Step):
    """EKS must have carried all traffic for the bake time, and EC2 must have served none."""

    id = "confirm-cutover"
    title = "EKS has served 100 % for the bake time; the EC2 target group served nothing"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        bake = format_duration(ctx.runbook.decommission.bake)
        return [Change(Action.WAIT, "traffic on EKS", "", f"100 % held for {bake}, EC2 idle")]

    def apply(self, ctx: StepContext) -> None:
        finished = _phase4_finished(ctx)
        if finished is None:
            raise StepFailed("phase-4 has not finished: EKS does not carry all traffic yet")
        ready_at = finished + dt.timedelta(seconds=ctx.runbook.decommission.bake)
        instance = reads.the_instance(ctx)
        ctx.record(instance_id=instance["InstanceId"], bake_from=reads.iso(finished))

        waiting = (ready_at - reads.utcnow()).total_seconds()
        if waiting > 0:  # told to whoever listens (notify: decommission-waiting)
            ctx.journal(
                "decommission_waiting",
                ready_at=reads.iso(ready_at),
                left=format_duration(waiting),
            )

        def baked() -> tuple[bool, str]:
            left = (ready_at - reads.utcnow()).total_seconds()
            return left <= 0, f"{format_duration(max(left, 0))} of the bake left"

        ctx.wait(
            "EKS holding 100 % for the bake time",
            baked,
            timeout=ctx.runbook.decommission.bake + 60,
            interval=min(5.0, max(0.2, ctx.runbook.decommission.bake / 10)),
        )
        self._check_idle(ctx, finished)

    def _check_idle(self, ctx: StepContext, since: dt.datetime) -> None:
        ec2, eks = reads.eks_share(ctx)
        if eks != 100:
            raise StepFailed(
                f"the listener sends {ec2} % to EC2 and {eks} % to EKS; decommission needs 100 % "
                "on EKS",
                hint="finish phase-4 (`flexmigrate run traffic-shift`), or find who changed the "
                "listener (`flexmigrate status --live`)",
            )
        served = reads.ec2_requests(ctx, since, reads.utcnow())
        if served > 0:
            raise StepFailed(
                f"the EC2 target group served {int(served)} requests since EKS took all traffic "
                f"({reads.iso(since)}); something still reaches it",
                hint="look for clients of the target group outside the listener (other rules, "
                "other load balancers) before the instance is stopped",
            )
        ctx.note(f"EC2 target group served 0 requests since {reads.iso(since)}; EKS at 100 %")

    def verify(self, ctx: StepContext) -> Sequence[str]:
        return []

    def rollback(self, ctx: StepContext) -> None:
        return None


class BackupImage(Step):
    """An AMI of the instance, so everything after it can be undone, even a terminate."""

    id = "backup-ami"
    title = "AMI backup of the EC2 instance"
    reversible = True

    def _name(self, instance_id: str, ctx: StepContext) -> str:
        return f"{ctx.runbook.name}-{instance_id}-backup"

    def _find(self, ctx: StepContext, name: str) -> dict[str, Any] | None:
        images = ctx.aws("ec2").describe_images(
            Owners=["self"], Filters=[{"Name": "name", "Values": [name]}]
        )["Images"]
        return dict(images[0]) if images else None

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        instance = reads.the_instance(ctx)
        name = self._name(instance["InstanceId"], ctx)
        found = self._find(ctx, name)
        if found:
            return [Change(Action.NOOP, f"AMI {name}", found["State"], "available")]
        return [
            Change(Action.CREATE, f"AMI {name}", "absent", f"image of {instance['InstanceId']}")
        ]

    def apply(self, ctx: StepContext) -> None:
        instance = reads.the_instance(ctx)
        instance_id = instance["InstanceId"]
        name = self._name(instance_id, ctx)
        image = self._find(ctx, name)
        if image is None:
            tags = aws_tag_list(ctx.tags(**{"flexmigrate.io/backup-of": instance_id}))
            image_id = ctx.aws("ec2").create_image(
                InstanceId=instance_id,
                Name=name,
                Description=f"flexmigrate backup of {instance_id} before decommission",
                TagSpecifications=[{"ResourceType": "image", "Tags": tags}],
            )["ImageId"]
        else:
            image_id = image["ImageId"]
        ctx.record(image_id=image_id, image_name=name)

        def available() -> tuple[bool, str]:
            found = self._find(ctx, name)
            state = found["State"] if found else "absent"
            if state == "failed":
                raise StepFailed(
                    f"AMI {image_id} failed: {found.get('StateReason') if found else ''}"
                )
            return state == "available", state

        ctx.wait(f"AMI {image_id}", available, timeout=3600, interval=2)
        # The snapshots are tagged once they exist (not in CreateImage itself: the same tags,
        # and a retried step tags them again harmlessly).
        found = self._find(ctx, name) or {}
        snapshots = [
            m["Ebs"]["SnapshotId"]
            for m in found.get("BlockDeviceMappings", [])
            if m.get("Ebs", {}).get("SnapshotId")
        ]
        if snapshots:
            tags = aws_tag_list(ctx.tags(**{"flexmigrate.io/backup-of": instance_id}))
            ctx.aws("ec2").create_tags(Resources=snapshots, Tags=tags)

    def verify(self, ctx: StepContext) -> Sequence[str]:
        image_id = ctx.outputs.get("image_id")
        if not image_id:
            return ["no AMI recorded"]
        images = ctx.aws("ec2").describe_images(ImageIds=[image_id])["Images"]
        return [] if images else [f"AMI {image_id} is gone"]

    def rollback(self, ctx: StepContext) -> None:
        image_id = ctx.outputs.get("image_id")
        if image_id:
            ctx.ui.info(
                f"keeping the backup AMI {image_id}: it costs little and loses nothing; "
                "deregister it by hand once the migration is settled"
            )


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
