"""Weights changed behind flexmigrate's back once phase 4 is complete: found, put back, undone.

The state records the split flexmigrate last set (``traffic``, with the step that set it).
``diff`` compares it with what the listener (or rule) reports now; a difference is drift,
named by resource and field, and disruptive (it moves traffic), so ``run`` shows it and asks
before it writes (``--yes`` without a terminal). Only the step that set the recorded split
judges it — the last schedule step when a manual shift set it — so the drift is shown once.

``update`` writes the recorded split back and reads it back as every shift does; it does not
bake again: the recorded weights already passed their bake, and the drift is undone, not a
new step of the cutover. What it found is kept (``previous_split``), and ``undo_update``
writes that back (the record still names the weights flexmigrate set, so it is drift again).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from flexmigrate.engine.protocol import Action, Change
from flexmigrate.state.model import PhaseStatus
from phases.traffic_shift.bake import shift
from phases.traffic_shift.record import (
    SCHEDULE_PREFIX,
    record_traffic,
    recorded_split,
    recorded_traffic,
)
from phases.traffic_shift.topology import NotFound, Topology, read_actions, resolve
from phases.traffic_shift.weights import Split, matches, split_of

if TYPE_CHECKING:
    from phases.shared.sections import StepContext


def judges(ctx: StepContext, percent: int) -> bool:
    """Whether the schedule step at ``percent`` is the one that answers for the recorded
    split: the step that set it, else (a manual shift set it) the schedule's last step."""
    recorded = recorded_traffic(ctx.session.state) or {}
    setter = str(recorded.get("step") or "")
    steps = ctx.runbook.traffic.steps
    if setter.startswith(SCHEDULE_PREFIX) and setter.removeprefix(SCHEDULE_PREFIX) in {
        str(p) for p in steps
    }:
        return setter == f"{SCHEDULE_PREFIX}{percent}"
    return bool(steps) and percent == steps[-1]


def diff(ctx: StepContext, percent: int) -> Sequence[Change]:
    phase = ctx.session.state.find_phase(ctx.phase.id)
    if phase is None or phase.status is not PhaseStatus.COMPLETED:
        return ()  # in the middle of the schedule, the next step writes its own weight
    recorded = recorded_split(ctx)
    if recorded is None or not judges(ctx, percent):
        return ()
    try:
        topo = resolve(ctx)
    except NotFound as exc:
        return [
            Change(
                Action.REFUSE,
                "forward weights",
                "absent",
                str(recorded),
                note=str(exc),
                instead="recreate the listener (or rule) as it was, or roll back traffic-shift",
            )
        ]
    if topo.eks_tg_arn is None:
        return ()
    resource = f"{topo.everywhere} forward weights"
    now = split_of(read_actions(ctx, topo), topo.ec2_tg_arn, topo.eks_tg_arn)
    if now == recorded:
        return [Change(Action.NOOP, resource, str(now), str(recorded))]
    when = (recorded_traffic(ctx.session.state) or {}).get("updated_at", "?")
    return [
        Change(
            Action.UPDATE,
            resource,
            str(now),
            str(recorded),
            drift=True,
            disruptive=True,
            note=f"changed outside flexmigrate (it set {recorded} at {when}); run writes "
            "the recorded weights back and reads them back, without a new bake",
        )
    ]


def update(ctx: StepContext, percent: int) -> None:
    recorded = recorded_split(ctx)
    if recorded is None or not judges(ctx, percent):
        return
    topo = resolve(ctx)
    topo.require_eks()
    before = shift(ctx, topo, recorded.eks)
    if "previous_split" not in ctx.outputs:
        ctx.record(previous_split=before.as_record())
    _record(ctx, recorded, before, "restored")


def undo_update(ctx: StepContext) -> None:
    """The weights as the update found them; the record keeps the weights flexmigrate set, so
    the next plan shows the drift again — the world as it was before the update."""
    previous = ctx.outputs.get("previous_split")
    if not isinstance(previous, dict) or previous.get("eks_percent") is None:
        return
    topo = resolve(ctx)
    topo.require_eks()
    target = Split.eks_percent(int(previous["eks_percent"]))
    actions = read_actions(ctx, topo)
    before = split_of(actions, topo.ec2_tg_arn, topo.eks_tg_arn)
    if not matches(actions, topo.ec2_tg_arn, topo.eks, target.eks):
        shift(ctx, topo, target.eks)
    _journal(ctx, topo, before, target, "rollback --change")


def _record(ctx: StepContext, split: Split, before: Split, why: str) -> None:
    topo = resolve(ctx)
    state = str((recorded_traffic(ctx.session.state) or {}).get("state") or "promoted")
    record_traffic(ctx, topo, split, state=state)
    _journal(ctx, topo, before, split, why)


def _journal(ctx: StepContext, topo: Topology, before: Split, after: Split, why: str) -> None:
    ctx.journal(
        "weights_shifted",
        step=ctx.step.id,
        where=topo.where,
        before=before.as_record(),
        after=after.as_record(),
        why=why,
    )
    ctx.note(f"{topo.where}: {before} → {after} ({why})")
