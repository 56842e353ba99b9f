"""Phase 5 — decommission: retire the EC2 instance once EKS has carried all traffic.

What it changes: an AMI backup of the instance (tagged), its registration in the EC2 target
group (removed), its state (stopped); with `decommission.terminate: true`, and only after the
retention period since the stop, the instance is terminated.

Preconditions: phase 4 complete — EKS at 100 % on the listener — and, before anything is
touched, EKS has held 100 % for `decommission.bake` while the EC2 target group served no
requests (the first step waits out what is left of the bake and checks both).

Idempotence: the AMI is found by its name (runbook + instance ID) before one is made;
deregistration and stop look at the live target health and instance state first; the
instance is found by the ID recorded when the phase first resolved it; terminate checks the
state first and a rollback's replacement instance is found by its `flexmigrate.io/replaces`
tag before another is launched.

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
    from phases.decommission.steps import BackupImage, Deregister, HoldAtFull, Stop, Terminate

    chosen: list[Step] = [HoldAtFull(), BackupImage(), Deregister(), Stop()]
    if runbook.decommission.terminate:
        chosen.append(Terminate())
    return chosen


PHASE = Phase(
    id="phase-5",
    slug="decommission",
    title="AMI backup, deregister and stop the EC2 instance",
    checks=_checks,
    steps=_steps,
    summary="retire the EC2 instance once EKS has carried all traffic for the bake time",
    sections=_sections,
    extras={"rehearsal": rehearsal.DECOMMISSION},
)
