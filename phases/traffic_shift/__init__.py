"""Phase 4, traffic-shift: a weighted cutover of the existing ALB from EC2 to EKS.

What it changes: only the weights of the forward action that answers the runbook's listener
(or listener rule) — EC2's target group at ``100 − N``, the EKS target group phase 3 created
at ``N`` — through the schedule ``traffic.steps`` (10, 25, 50, 100 by default). The rest of
the listener stays as it was: its other rules, the forward's stickiness and ``Order``, an
authenticate action in front of it.

Preconditions (preflight): phase 3 complete; the listener and both target groups exist; the
EKS group has at least ``gates.min_healthy_targets`` healthy targets; none of its alarms is
in ALARM; the forward shares only between the two sides. Warnings name whoever else manages
the listener (Terraform, CloudFormation, the Load Balancer Controller), show target group
stickiness, and flag weights changed outside flexmigrate.

Steps: ``forward`` puts the EKS group in the forward at weight 0 if phase 3 has not; then one
``shift-N`` per schedule entry: write ``N``, read it back until AWS reports it, then bake —
gates every ``interval`` and once at the end (see ``bake``).

Why each step is idempotent: it compares what AWS reports with what it would write and writes
only a difference; the read-back time is checkpointed, so a resumed step continues its bake
instead of shifting again; a step finds the weight already at or above its own (after a
manual shift) and completes without touching it, so the schedule continues from the first
step above the current weight.

Rollback: every step's rollback puts 100 % back on EC2 (the EKS group stays in the forward at
weight 0, as phase 3 left it) and reads it back; ``forward`` also takes the EKS group out
again if it was phase 4 that put it in. A breach during a bake does the same at once
(``traffic.on_breach: last-good`` returns to the last weight that passed its bake instead),
journals the evidence and exits 4. ``flexmigrate shift-traffic --percent N`` runs one
manual step through the same preflight, read-back, bake and gates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flexmigrate.engine.protocol import Check, Phase, StatusView, Step
from phases.shared import rehearsal

if TYPE_CHECKING:
    from flexmigrate.state.model import State
    from phases.shared.sections import MigrationRunbook, StepContext


def _sections() -> Sequence[tuple[str, type[object], bool]]:
    from phases.shared.sections import TRAFFIC

    return [TRAFFIC]


def _checks(runbook: MigrationRunbook) -> Sequence[Check]:
    from phases.traffic_shift.checks import checks

    return checks()


def _steps(runbook: MigrationRunbook) -> Sequence[Step]:
    from phases.traffic_shift.steps import ForwardStep, ShiftStep

    return [ForwardStep(), *(ShiftStep(percent) for percent in runbook.traffic.steps)]


def _notes(ctx: StepContext) -> Sequence[str]:
    from phases.traffic_shift.steps import worst_case_rollback

    traffic = ctx.runbook.traffic
    back = "100 % to EC2" if traffic.on_breach == "stable" else "the last weight that passed"
    return [
        f"schedule {', '.join(f'{p} %' for p in traffic.steps)} on EKS; a breach returns {back}",
        f"worst-case time to roll back after a fault appears: {worst_case_rollback(ctx)}",
    ]


def _status(state: State) -> StatusView:
    from phases.traffic_shift.record import recorded_traffic, traffic_lines

    traffic = recorded_traffic(state)
    return StatusView({"traffic": traffic}, traffic_lines(traffic))


def _live(ctx: StepContext) -> StatusView:
    from phases.traffic_shift.live import live_view

    return live_view(ctx)


class ManualShift:
    """What ``flexmigrate shift-traffic`` needs of this phase: a step outside the schedule to
    exactly N % on EKS, the schedule's steps it needs first, and the way back's preflight."""

    needs: tuple[str, ...] = ("forward",)

    def step(self, percent: int, bake: float | None = None) -> Step:
        """One step to exactly ``percent`` on EKS (0 is the manual way back)."""
        from phases.traffic_shift.steps import ShiftStep

        return ShiftStep(percent, manual=True, bake=bake)

    def way_back_checks(self, runbook: Any) -> Sequence[Check]:
        """Preflight of a manual shift to 0 %: nothing about the EKS side's health may stop
        it."""
        from phases.traffic_shift.checks import checks

        return checks(way_back=True)


PHASE = Phase(
    id="phase-4",
    slug="traffic-shift",
    title="weighted ALB cutover with health gates",
    checks=_checks,
    steps=_steps,
    summary="Shift the ALB listener's weights from EC2 to EKS step by step, baking each under "
    "health gates; a breach puts traffic back on EC2 at once.",
    notes=_notes,
    sections=_sections,
    status=_status,
    live=_live,
    extras={"manual-shift": ManualShift(), "rehearsal": rehearsal.TRAFFIC},
)
