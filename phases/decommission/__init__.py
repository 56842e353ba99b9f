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

from collections.abc import Sequence
from typing import TYPE_CHECKING

from flexmigrate.engine.protocol import Check, Phase, Step
from phases.shared import rehearsal

if TYPE_CHECKING:
    from phases.shared.sections import MigrationRunbook


def _sections() -> Sequence[tuple[str, type[object], bool]]:
    from phases.shared.sections import DECOMMISSION

    return [DECOMMISSION]


def _checks(runbook: MigrationRunbook) -> Sequence[Check]:
    from phases.decommission.checks import checks

    return checks(runbook)


def _steps(runbook: MigrationRunbook) -> Sequence[Step]:
    """Hold at 100 %, deregister, stop, back up (, terminate).

    Older versions took the backup second, of the running instance (which CreateImage
    reboots). The executor finds a step's state by its id, not its position, so a phase 5 such
    a version left half-done resumes in this order: a completed ``backup-ami`` is not taken
    again (its AMI is the backup a terminate's rollback launches from), the steps still to do
    run in the order here, and a ``backup-ami`` left started is taken after the stop, adopting
    the image the interrupted call may have made (found by its name).
    """
    from phases.decommission.backup import BackupImage
    from phases.decommission.hold import HoldAtFull
    from phases.decommission.instance import Deregister, Stop, Terminate

    chosen: list[Step] = [HoldAtFull(), Deregister(), Stop(), BackupImage()]
    if runbook.decommission.terminate:
        chosen.append(Terminate())
    return chosen


PHASE = Phase(
    id="phase-5",
    slug="decommission",
    title="deregister and stop the EC2 instance, then back it up as an AMI",
    checks=_checks,
    steps=_steps,
    summary="retire the EC2 instance once EKS has carried all traffic for the bake time",
    sections=_sections,
    extras={"rehearsal": rehearsal.DECOMMISSION},
)
