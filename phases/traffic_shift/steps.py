"""The steps of phase 4: the weighted forward itself, then one step per weight.

Every step is an ensure over what AWS reports: a weight already in place is not written
again, a bake already started (its read-back time is in the state) continues, and a
breach whose restore was interrupted is finished before anything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from flexmigrate.durations import format_duration
from flexmigrate.engine.protocol import Action, Change, Step
from flexmigrate.errors import StepFailed
from phases.traffic_shift import drift
from phases.traffic_shift.bake import Breach, bake, breach, read_back, shift
from phases.traffic_shift.gates import GateSet, gate_alarm_names
from phases.traffic_shift.lockstep import write_lockstep
from phases.traffic_shift.record import (
    MANUAL_PREFIX,
    SCHEDULE_PREFIX,
    record_traffic,
    recorded_split,
    reschedule,
    wall,
)
from phases.traffic_shift.topology import NotFound, Topology, read_actions, resolve, write_actions
from phases.traffic_shift.weights import (
    Split,
    matches,
    others,
    split_of,
    weights_of,
    with_split,
    without_target_group,
)

if TYPE_CHECKING:
    from phases.shared.sections import StepContext

STABLE = Split(100, 0)


def worst_case_rollback(ctx: StepContext) -> str:
    """How long a bad EKS side can keep traffic before the weights are back (for the plan)."""
    traffic = ctx.runbook.traffic
    gates = traffic.gates
    detect = gates.metric_period + gates.failure_limit * traffic.interval
    return (
        f"≈ {format_duration(detect)} to detect (one metric period + {gates.failure_limit} × "
        f"{format_duration(traffic.interval)}, plus CloudWatch's delivery delay), then one write "
        f"and read-back (typically under 1s, at most {format_duration(traffic.readback_timeout)})"
    )


class ForwardStep(Step):
    """Both target groups in the forward, the EKS one at weight 0 if phase 3 has not put it
    there; nothing else of the listener or rule is touched."""

    id = "forward"
    title = "EKS target group in the weighted forward (no traffic moves)"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        try:
            topo = resolve(ctx)
        except NotFound as exc:
            return [Change(Action.UPDATE, "weighted forward", "?", str(STABLE), note=str(exc))]
        if topo.eks_tg_arn is None:
            return [
                Change(
                    Action.UPDATE,
                    f"{topo.everywhere} forward",
                    f"{topo.ec2_tg_name} only",
                    f"{topo.ec2_tg_name} 100, {topo.eks_tg_name} 0",
                    note=f"{topo.eks_tg_name} will be created by phase-3",
                )
            ]
        actions = read_actions(ctx, topo)
        weights = weights_of(actions)
        current = split_of(actions, topo.ec2_tg_arn, topo.eks_tg_arn)
        if topo.eks_tg_arn in weights:
            return [Change(Action.NOOP, f"{topo.everywhere} forward", str(current), str(current))]
        return [
            Change(
                Action.UPDATE,
                f"{topo.everywhere} forward",
                f"{topo.ec2_tg_name} only",
                f"{topo.ec2_tg_name} 100, {topo.eks_tg_name} 0 (no traffic moves)",
            )
        ]

    def apply(self, ctx: StepContext) -> None:
        topo = resolve(ctx)
        ctx.record(**topo.as_outputs())
        actions = read_actions(ctx, topo)
        strangers = others(actions, topo.ec2_tg_arn, topo.eks_tg_arn)
        if strangers:
            raise StepFailed(
                f"the forward of {topo.where} also sends traffic to {', '.join(strangers)}; "
                "flexmigrate shares it between the EC2 and EKS target groups only",
                hint="remove the other target group from the forward, then resume",
            )
        current = split_of(actions, topo.ec2_tg_arn, topo.eks_tg_arn)
        if topo.eks not in weights_of(actions):
            ctx.record(attached_eks=True, original_split=str(current))
            write_actions(ctx, topo, with_split(actions, topo.ec2_tg_arn, topo.eks, current.eks))
        if topo.lockstep:
            attached = [p.arn for p in topo.lockstep if topo.eks not in weights_of(p.read(ctx))]
            if attached:
                ctx.record(lockstep_attached=sorted({*_attached(ctx), *attached}))
            write_lockstep(ctx, topo, current.eks)
        if topo.lockstep or ctx.outputs.get("attached_eks"):
            # The action as phase 3 left it (weights 1 and 0) is not rewritten, so it is read
            # back only when this step wrote it.
            read_back(ctx, topo, current.eks, lockstep_only=not ctx.outputs.get("attached_eks"))
        record_traffic(ctx, topo, current, state="ready")
        ctx.note(
            f"{topo.everywhere}: {current}, {topo.ec2_tg_name} and {topo.eks_tg_name} weighted"
        )

    def verify(self, ctx: StepContext) -> Sequence[str]:
        topo = resolve(ctx)
        missing = [
            where
            for where, actions in [
                (topo.where, read_actions(ctx, topo)),
                *((p.where, p.read(ctx)) for p in topo.lockstep),
            ]
            if topo.eks not in weights_of(actions)
        ]
        return [f"{topo.eks_tg_name} is no longer in the forward of {where}" for where in missing]

    def rollback(self, ctx: StepContext) -> None:
        topo = _restore(ctx)
        if topo is None or topo.eks_tg_arn is None:
            return
        eks = topo.eks_tg_arn
        # Only where phase 4 put the EKS group in, so phase 3's rollback can delete it.
        places = [p for p in topo.lockstep if p.arn in _attached(ctx)]
        for place in places:
            actions = place.read(ctx)
            if eks in weights_of(actions):
                place.write(ctx, without_target_group(actions, eks))
        ours = bool(ctx.outputs.get("attached_eks"))
        if ours:
            actions = read_actions(ctx, topo)
            if eks in weights_of(actions):
                write_actions(ctx, topo, without_target_group(actions, eks))
        elif not places:
            return

        def detached() -> tuple[bool, str]:
            present = (ours and eks in weights_of(read_actions(ctx, topo))) or any(
                eks in weights_of(p.read(ctx)) for p in places
            )
            return not present, "still in the forward" if present else "detached"

        ctx.wait(
            f"{topo.eks_tg_name} out of the forward of {topo.where}",
            detached,
            timeout=ctx.runbook.traffic.readback_timeout,
            interval=min(0.25, ctx.runbook.traffic.interval),
        )

    def plan_rollback(self, ctx: StepContext) -> Sequence[Change]:
        return _plan_restore(ctx)


class ShiftStep(Step):
    """EKS gets ``percent`` of the forward's requests, read back, then baked under the gates."""

    reversible = True

    def __init__(self, percent: int, *, manual: bool = False, bake: float | None = None) -> None:
        self.percent = percent
        self.manual = manual
        self.bake_seconds = bake
        prefix = MANUAL_PREFIX if manual else SCHEDULE_PREFIX
        self.id = f"{prefix}{percent}"
        kind = "manual shift to" if manual else "shift to"
        self.title = f"{kind} {Split.eks_percent(percent)}, then bake under the gates"

    def _bake_for(self, ctx: StepContext) -> float:
        if self.percent == 0:
            return 0.0
        return self.bake_seconds if self.bake_seconds is not None else ctx.runbook.traffic.bake

    # -- plan ---------------------------------------------------------------------------
    def plan(self, ctx: StepContext) -> Sequence[Change]:
        traffic = ctx.runbook.traffic
        target = Split.eks_percent(self.percent)
        try:
            topo = resolve(ctx)
        except NotFound as exc:
            return [Change(Action.UPDATE, "forward weights", "?", str(target), note=str(exc))]
        resource = f"{topo.everywhere} forward weights"
        current = (
            split_of(read_actions(ctx, topo), topo.ec2_tg_arn, topo.eks_tg_arn)
            if topo.eks_tg_arn
            else STABLE
        )
        before = current
        if not self.manual:
            if current.eks >= self.percent:
                return [
                    Change(
                        Action.NOOP,
                        resource,
                        str(current),
                        str(current),
                        note=f"skipped: EKS already has {current.eks} %",
                    )
                ]
            below = [p for p in traffic.steps if p < self.percent]
            if below and below[-1] > current.eks:
                before = Split.eks_percent(below[-1])
        if self.percent == 0:
            note = "no bake: nothing is left on EKS to judge"
            return [Change(Action.UPDATE, resource, str(before), str(target), note=note)]
        if topo.eks_tg_arn is None:
            gates = f"gates on {topo.eks_tg_name} once phase-3 has created it"
        else:
            alarms = (
                gate_alarm_names(ctx, topo)
                if traffic.gates.alarms
                else list(traffic.gates.extra_alarms)
            )
            now = wall()
            gate_set = GateSet(ctx, topo, alarms, cutoff=0.0)
            gates = gate_set.describe()
            if self.manual or before == current:
                # The readings as they stand, over the last lookback: what the first shift
                # would be judged against.
                gate_set.cutoff = now - gate_set.lookback
                for reading in gate_set.evaluate(now).readings:
                    ctx.note(f"now: {reading.gate} {reading.result.value}: {reading.detail}")
        note = (
            f"bake {format_duration(self._bake_for(ctx))}, gates every "
            f"{format_duration(traffic.interval)}: {gates}; worst-case time to roll back "
            f"{worst_case_rollback(ctx)}"
        )
        return [Change(Action.UPDATE, resource, str(before), str(target), note=note)]

    # -- apply --------------------------------------------------------------------------
    def apply(self, ctx: StepContext) -> None:
        topo = resolve(ctx)
        topo.require_eks()
        if "percent" not in ctx.outputs:
            ctx.record(percent=self.percent, **topo.as_outputs())
        if ctx.outputs.get("breach"):
            breach(ctx, topo, self.percent, None)
        actions = read_actions(ctx, topo)
        current = split_of(actions, topo.ec2_tg_arn, topo.eks_tg_arn)
        cutoff = ctx.outputs.get("read_back_at")
        if isinstance(cutoff, int | float) and not matches(
            actions, topo.ec2_tg_arn, topo.eks, self.percent
        ):
            ctx.warn(
                f"{topo.where} reports {current}, not the {Split.eks_percent(self.percent)} "
                "flexmigrate read back before: changed outside flexmigrate; writing it again "
                "and restarting the bake"
            )
            ctx.forget("read_back_at")
            cutoff = None
        if not isinstance(cutoff, int | float):
            if self._skip(ctx, topo, current):
                return
            ctx.record(writing=True)
            before = shift(ctx, topo, self.percent)
            cutoff = wall()
            ctx.record(read_back_at=cutoff, shifted_from=str(before))
            ctx.journal(
                "weights_shifted",
                where=topo.where,
                before=before.as_record(),
                after=Split.eks_percent(self.percent).as_record(),
            )
        else:
            ctx.ui.info(f"  continuing the bake at {Split.eks_percent(self.percent)}")
        self._bake(ctx, topo, float(cutoff))

    def _skip(self, ctx: StepContext, topo: Topology, current: Split) -> bool:
        if self.manual or ctx.outputs.get("writing") or current.eks < self.percent:
            return False
        ctx.record(skipped=True)
        record_traffic(ctx, topo, current, state="skipped")
        ctx.note(f"skipped: {topo.where} already sends EKS {current.eks} % (at or above this step)")
        return True

    def _bake(self, ctx: StepContext, topo: Topology, cutoff: float) -> None:
        target = Split.eks_percent(self.percent)
        seconds = self._bake_for(ctx)
        if self.percent == 0:
            record_traffic(ctx, topo, target, state="shifted")
            ctx.note(f"{target}: read back; no bake, nothing is left on EKS to judge")
        else:
            record_traffic(ctx, topo, target, state="baking")
            try:
                passed = bake(ctx, topo, self.percent, seconds, cutoff)
            except Breach as found:
                breach(ctx, topo, self.percent, found)
                raise AssertionError("unreachable: breach() raises") from found
            ctx.record(passed_at=passed.at)
            record_traffic(ctx, topo, target, state="promoted", evaluation=passed)
            ctx.journal(
                "bake_passed",
                percent=self.percent,
                read_back_at=cutoff,
                gates=passed.summaries(),
                metrics=passed.evidence,
            )
            for reading in passed.readings:
                ctx.note(f"{target}: {reading.gate} {reading.result.value}: {reading.detail}")
        if self.manual:
            reschedule(ctx, self.percent, forget_own=False)

    # -- verify / rollback ----------------------------------------------------------------
    def verify(self, ctx: StepContext) -> Sequence[str]:
        recorded = recorded_split(ctx)
        if recorded is None or recorded.eks != self.percent or ctx.outputs.get("skipped"):
            return []
        topo = resolve(ctx)
        actions = read_actions(ctx, topo)
        if matches(actions, topo.ec2_tg_arn, topo.eks, self.percent):
            return []
        now = split_of(actions, topo.ec2_tg_arn, topo.eks_tg_arn)
        return [
            f"{topo.where} reports {now}; flexmigrate set {recorded} — changed outside flexmigrate"
        ]

    def rollback(self, ctx: StepContext) -> None:
        _restore(ctx)

    def plan_rollback(self, ctx: StepContext) -> Sequence[Change]:
        return _plan_restore(ctx)

    # -- a completed phase: weights changed behind flexmigrate's back ----------------------
    def diff(self, ctx: StepContext) -> Sequence[Change]:
        return drift.diff(ctx, self.percent)

    def update(self, ctx: StepContext) -> None:
        drift.update(ctx, self.percent)

    def undo_update(self, ctx: StepContext) -> None:
        drift.undo_update(ctx)


def _attached(ctx: StepContext) -> list[str]:
    """The places in lockstep to which ``forward`` added the EKS group."""
    return [str(arn) for arn in ctx.outputs.get("lockstep_attached") or []]


def _restore(ctx: StepContext) -> Topology | None:
    """All traffic back on EC2 (EKS stays in the forward at weight 0), read back."""
    try:
        topo = resolve(ctx)
    except NotFound as exc:
        ctx.ui.info(f"  nothing to restore: {exc}")
        return None
    if topo.eks_tg_arn is None:
        return topo
    actions = read_actions(ctx, topo)
    if topo.eks_tg_arn in weights_of(actions):
        shift(ctx, topo, 0)
    record_traffic(ctx, topo, STABLE, state="rolled_back")
    return topo


def _plan_restore(ctx: StepContext) -> Sequence[Change]:
    try:
        topo = resolve(ctx)
    except NotFound as exc:
        return [Change(Action.NOOP, "forward weights", "absent", "absent", note=str(exc))]
    current = (
        split_of(read_actions(ctx, topo), topo.ec2_tg_arn, topo.eks_tg_arn)
        if topo.eks_tg_arn
        else STABLE
    )
    action = Action.NOOP if current == STABLE else Action.UPDATE
    return [Change(action, f"{topo.everywhere} forward weights", str(current), str(STABLE))]
