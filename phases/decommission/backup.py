"""The AMI backup of the instance: what makes a terminate undoable.

It is taken once the instance is stopped. CreateImage of a running instance reboots it unless
told ``NoReboot`` (interrupting whatever still runs there), and with ``NoReboot`` the image is
only crash-consistent; of a stopped instance it is consistent and nothing is rebooted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flexmigrate.engine.protocol import Action, Change, Step
from flexmigrate.errors import StepFailed
from flexmigrate.ownership import aws_tag_list
from phases.decommission import reads
from phases.shared.sections import StepContext


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
            state = reads.state_of(instance)
            if state != "stopped":
                raise StepFailed(
                    f"{instance_id} is {state}: the backup is taken of the stopped instance",
                    hint="someone started it after the stop; stop it again, then "
                    "`flexmigrate resume`",
                )
            tags = aws_tag_list(ctx.tags(**{"flexmigrate.io/backup-of": instance_id}))
            image_id = ctx.aws("ec2").create_image(
                InstanceId=instance_id,
                Name=name,
                Description=f"flexmigrate backup of {instance_id} before decommission",
                # Stopped, so nothing to reboot; said explicitly, so that no CreateImage of
                # this step ever reboots an instance.
                NoReboot=True,
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
