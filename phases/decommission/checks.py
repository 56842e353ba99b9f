"""Preflight of the decommission: the instance, EKS at 100 %, the bake, an explicit terminate."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from flexmigrate.durations import format_duration
from flexmigrate.engine.protocol import (
    Check,
    Outcome,
    failed,
    passed,
    skipped,
    warned,
)
from flexmigrate.errors import CloudError, StepFailed
from phases.decommission import reads
from phases.shared.sections import StepContext

if TYPE_CHECKING:
    from phases.shared.sections import MigrationRunbook as Runbook

# Longer than this left of the bake fails preflight ("come back at …") instead of waiting.
_MAX_WAIT = 600.0


def _instance(ctx: StepContext) -> Outcome:
    try:
        instance = reads.the_instance(ctx)
    except (StepFailed, CloudError) as exc:
        return failed(str(exc), "fix decommission.instance in the runbook")
    state = reads.state_of(instance)
    if state not in ("running", "stopped", "stopping", "pending"):
        return failed(f"{instance['InstanceId']} is {state}")
    return passed(f"{instance['InstanceId']} ({instance.get('InstanceType')}, {state})")


def _after_phase4(ctx: StepContext) -> Outcome | None:
    """These checks read what phase 4 left; before it has run (a plan of all phases) they
    wait — the engine's previous-phase check already stops a real run."""
    if ctx.phase_status("phase-4") != "completed":
        return skipped("checked once phase-4 (traffic-shift) is complete")
    return None


def _traffic(ctx: StepContext) -> Outcome:
    if (early := _after_phase4(ctx)) is not None:
        return early
    try:
        ec2, eks = reads.eks_share(ctx)
    except (StepFailed, CloudError) as exc:
        return failed(f"cannot read the listener: {exc}")
    if eks != 100:
        return failed(
            f"the listener sends {ec2} % to EC2 and {eks} % to EKS",
            "someone changed the listener after phase-4: check `flexmigrate status --live`",
        )
    return passed("the listener sends 100 % to EKS")


def _bake(ctx: StepContext) -> Outcome:
    if (early := _after_phase4(ctx)) is not None:
        return early
    state = ctx.session.state.find_phase("phase-4")
    finished = reads.parse_time(state.finished_at) if state else None
    if finished is None:
        return failed("phase-4 has no completion time")
    ready = finished + dt.timedelta(seconds=ctx.runbook.decommission.bake)
    left = (ready - reads.utcnow()).total_seconds()
    if left <= 0:
        return passed(f"EKS has carried all traffic since {reads.iso(finished)}")
    if left > _MAX_WAIT:
        return failed(
            f"EKS has carried all traffic only since {reads.iso(finished)}; the bake of "
            f"{format_duration(ctx.runbook.decommission.bake)} ends at {reads.iso(ready)}",
            f"come back after {reads.iso(ready)} (in {format_duration(left)})",
        )
    return passed(f"{format_duration(left)} of the bake left: the first step waits it out")


def _stop_protection(ctx: StepContext) -> Outcome:
    try:
        instance = reads.the_instance(ctx)
    except (StepFailed, CloudError):
        return skipped("see the instance check")
    instance_id = instance["InstanceId"]
    state = reads.state_of(instance)
    if state in ("stopped", "shutting-down", "terminated"):
        return passed(f"{instance_id} is {state} already")
    if reads.stop_protected(ctx, instance_id):
        return failed(
            f"{instance_id} has stop protection (DisableApiStop): it cannot be stopped",
            "lift it if stopping it is what you want: `aws ec2 modify-instance-attribute "
            f"--instance-id {instance_id} --no-disable-api-stop`",
        )
    return passed(f"{instance_id} has no stop protection")


def _terminate(ctx: StepContext) -> Outcome:
    if not ctx.runbook.decommission.terminate:
        return passed(
            "the instance will be stopped, not terminated (decommission.terminate: false)"
        )
    retention = format_duration(ctx.runbook.decommission.retention)
    return warned(
        f"terminate requested: only {retention} after the stop, from the backup AMI if undone",
        "confirm with --yes when asked; before the retention ends the phase pauses",
    )


def checks(runbook: Runbook) -> Sequence[Check]:
    return [
        Check("instance", "the EC2 instance exists", _instance),
        Check("traffic-on-eks", "EKS carries 100 % of the traffic", _traffic),
        Check("bake", "EKS has held 100 % for the bake time", _bake),
        Check("stop-protection", "the instance can be stopped", _stop_protection),
        Check("terminate", "termination is explicit", _terminate),
    ]
