"""Phase 5 — decommission: retire the EC2 instance once EKS has carried all traffic.

What it changes: the instance's registration in the EC2 target group (removed), its state
(stopped), then an AMI backup of the stopped instance (tagged) — taken once it is stopped, so
CreateImage has nothing to reboot and the image is consistent; with
`decommission.terminate: true`, and only after the retention period since the stop, the
instance is terminated.

Preconditions: phase 4 complete — EKS at 100 % on the listener — and, before anything is
touched, EKS has held 100 % for `decommission.bake` while the EC2 target group served no
requests (the first step waits out what is left of the bake and checks both). An instance
with stop protection (DisableApiStop) is refused by preflight, with the command that lifts
it, rather than found out by a failed StopInstances.

Idempotence: the AMI is found by its name (runbook + instance ID) before one is made;
deregistration and stop look at the live target health and instance state first; the
instance is found by the ID recorded when the phase first resolved it; terminate checks the
state first and a rollback's replacement instance is found by its `flexmigrate.io/replaces`
tag before another is launched, and launched with a client token saved to the state first.

Rollback: start the instance and register it again; after a terminate, launch a replacement
from the backup AMI (same type, subnet, security groups and instance profile) and register
that. The backup AMI is kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from flexmigrate.durations import format_duration
from flexmigrate.engine.context import StepContext
from flexmigrate.engine.protocol import (
    Check,
    Outcome,
    Phase,
    Step,
    failed,
    passed,
    skipped,
    warned,
)
from flexmigrate.errors import CloudError, StepFailed
from phases.decommission import reads
from phases.decommission.backup import BackupImage
from phases.decommission.hold import HoldAtFull
from phases.decommission.instance import Deregister, Stop, Terminate

if TYPE_CHECKING:
    from flexmigrate.runbook.model import Runbook

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


def steps(runbook: Runbook) -> Sequence[Step]:
    """Hold at 100 %, deregister, stop, back up (, terminate).

    Older versions took the backup second, of the running instance (which CreateImage
    reboots). The executor finds a step's state by its id, not its position, so a phase 5 such
    a version left half-done resumes in this order: a completed ``backup-ami`` is not taken
    again (its AMI is the backup a terminate's rollback launches from), the steps still to do
    run in the order here, and a ``backup-ami`` left started is taken after the stop, adopting
    the image the interrupted call may have made (found by its name).
    """
    chosen: list[Step] = [HoldAtFull(), Deregister(), Stop(), BackupImage()]
    if runbook.decommission.terminate:
        chosen.append(Terminate())
    return chosen


PHASE = Phase(
    id="phase-5",
    slug="decommission",
    title="deregister and stop the EC2 instance, then back it up as an AMI",
    checks=checks,
    steps=steps,
    summary="retire the EC2 instance once EKS has carried all traffic for the bake time",
)
