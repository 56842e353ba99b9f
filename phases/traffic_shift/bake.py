"""Writing weights, reading them back, and the bake that judges them.

- ``shift``: write the weights only if AWS does not already report them (so a resumed step
  never writes twice), then poll until AWS reports exactly what was written. Nothing is
  judged before that: the cutoff for metrics is the moment of the read-back.
- ``bake``: evaluate the gates every ``interval`` and once more at the end, for ``bake``
  seconds counted from the read-back (recorded in the state, so a bake interrupted by a
  crash continues where it was). A pass at the end promotes; ``failure_limit`` consecutive
  fails are a breach; inconclusive for longer than ``inconclusive_limit`` pauses the phase
  (the weights stay; the step is resumable) — the bake never promotes on missing data.
- ``restore``: on a breach, the evidence is checkpointed first (a crash mid-restore resumes
  the restore, not the bake), then the weights go back at once and are read back; the time
  from the evaluation that saw the breach to that read-back is measured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flexmigrate.durations import format_duration
from flexmigrate.errors import GateBreached, Paused
from phases.traffic_shift.gates import Evaluation, GateSet, Result, gate_alarm_names
from phases.traffic_shift.lockstep import lockstep_lagging, write_lockstep
from phases.traffic_shift.record import last_good, record_traffic, reschedule, wall
from phases.traffic_shift.topology import Topology, read_actions, write_actions
from phases.traffic_shift.weights import Split, matches, split_of, with_split

if TYPE_CHECKING:
    from phases.shared.sections import StepContext

_READBACK_POLL = 0.25  # seconds between reads while AWS does not yet report the weights


class Breach(Exception):
    """The gates failed ``failure_limit`` times in a row; ``seen`` is ``ctx.now()`` then."""

    def __init__(self, evaluation: Evaluation, seen: float) -> None:
        super().__init__(evaluation.short())
        self.evaluation = evaluation
        self.seen = seen


def shift(ctx: StepContext, topo: Topology, percent: int) -> Split:
    """Make AWS report ``100 − percent / percent``; returns the split it reported before."""
    actions = read_actions(ctx, topo)
    before = split_of(actions, topo.ec2_tg_arn, topo.eks_tg_arn)
    if not matches(actions, topo.ec2_tg_arn, topo.eks, percent):
        write_actions(ctx, topo, with_split(actions, topo.ec2_tg_arn, topo.eks, percent))
    write_lockstep(ctx, topo, percent)
    ctx.failpoint("weights-written")
    read_back(ctx, topo, percent)
    return before


def read_back(
    ctx: StepContext, topo: Topology, percent: int, *, lockstep_only: bool = False
) -> None:
    """Wait until AWS reports ``percent`` on the weighted action and every place in lockstep
    (``lockstep_only``: on those alone, when the action itself was not written)."""
    target = Split.eks_percent(percent)

    def probe() -> tuple[bool, str]:
        actions = read_actions(ctx, topo)
        done = lockstep_only or matches(actions, topo.ec2_tg_arn, topo.eks, percent)
        reported = f"AWS reports {split_of(actions, topo.ec2_tg_arn, topo.eks_tg_arn)}"
        lagging = lockstep_lagging(ctx, topo, percent) if done else []
        if lagging:
            return False, f"{reported}; in lockstep, {', '.join(lagging)}"
        return done, reported

    ctx.wait(
        f"{topo.everywhere} to report {target}",
        probe,
        timeout=ctx.runbook.traffic.readback_timeout,
        interval=min(_READBACK_POLL, ctx.runbook.traffic.interval),
    )


def bake(
    ctx: StepContext, topo: Topology, percent: int, seconds: float, cutoff: float
) -> Evaluation:
    """Judge ``percent`` on EKS for ``seconds`` from ``cutoff`` (the read-back, epoch)."""
    traffic = ctx.runbook.traffic
    gates = traffic.gates
    alarms = gate_alarm_names(ctx, topo) if gates.alarms else list(gates.extra_alarms)
    gate_set = GateSet(ctx, topo, alarms, cutoff)
    split = Split.eks_percent(percent)
    already = max(0.0, wall() - cutoff)
    started = ctx.now()
    fails = 0
    unsure_since: float | None = None
    what = f"bake at {split} ({format_duration(seconds)})"
    limits = {
        "max_5xx_rate": gates.max_5xx_rate,
        "max_p99_latency": gates.max_p99_latency,
        "bake_seconds": seconds,
    }
    with ctx.ui.progress(what) as update:
        while True:
            ctx.failpoint("bake")
            evaluation = gate_set.evaluate(wall())
            seen = ctx.now()
            elapsed = already + (seen - started)
            result = evaluation.result
            # The values and limits too, so a report can draw the bake offline.
            ctx.journal(
                "gate_evaluation",
                percent=percent,
                result=result.value,
                at=round(evaluation.at, 3),
                elapsed=round(elapsed, 3),
                gates=[{**r.summary(), "values": r.values} for r in evaluation.readings],
                limits=limits,
            )
            record_traffic(
                ctx,
                topo,
                split,
                state="baking",
                evaluation=evaluation,
                bake={"seconds": seconds, "elapsed": round(elapsed, 1)},
            )
            update(f"{format_duration(elapsed)}: {evaluation.short()}")
            if result is Result.FAIL:
                fails += 1
                unsure_since = None
                if fails >= gates.failure_limit:
                    raise Breach(evaluation, seen)
            elif result is Result.PASS:
                fails = 0
                unsure_since = None
                if elapsed >= seconds:
                    return evaluation
            else:
                unsure_since = seen if unsure_since is None else unsure_since
                if seen - unsure_since > gates.inconclusive_limit:
                    _pause(ctx, topo, split, evaluation, seen - unsure_since)
            remaining = seconds - elapsed
            ctx.sleep(traffic.interval if remaining <= 0 else min(traffic.interval, remaining))


def _pause(
    ctx: StepContext, topo: Topology, split: Split, evaluation: Evaluation, unsure: float
) -> None:
    unclear = "; ".join(
        f"{r.gate}: {r.detail}" for r in evaluation.readings if r.result is not Result.PASS
    )
    ctx.journal("bake_paused", inconclusive_for=round(unsure, 1), gates=evaluation.summaries())
    record_traffic(ctx, topo, split, state="paused", evaluation=evaluation)
    raise Paused(
        f"paused at {split} on {topo.where}: the gates were inconclusive for "
        f"{format_duration(unsure)} (limit "
        f"{format_duration(ctx.runbook.traffic.gates.inconclusive_limit)}) — {unclear}; "
        "the weights stay as they are and the step was not promoted",
        hint="once metrics flow again, `flexmigrate resume` continues this bake; "
        "`flexmigrate rollback traffic-shift` puts all traffic back on EC2",
    )


def breach(ctx: StepContext, topo: Topology, percent: int, found: Breach | None) -> None:
    """Restore after a breach, read back, journal the evidence, raise ``GateBreached``.

    ``found`` is None when a restore interrupted by a crash is being finished.
    """
    if found is not None:
        target = 0
        if ctx.runbook.traffic.on_breach == "last-good":
            target = last_good(ctx, percent)
        failing = found.evaluation.failing()
        evidence: dict[str, Any] = {
            "step": ctx.step.id,
            "percent": percent,
            "restore_to": target,
            "evaluated_at": found.evaluation.at,
            "gates": [{**r.summary(), "values": r.values} for r in found.evaluation.readings],
            "failing": [r.gate for r in failing],
            "metrics": found.evaluation.evidence,
        }
        ctx.record(breach=evidence)
        ctx.journal("gate_breached", **evidence)
    else:
        evidence = dict(ctx.outputs["breach"])
        target = int(evidence["restore_to"])
    ctx.failpoint("breach-recorded")
    actions = read_actions(ctx, topo)
    if not matches(actions, topo.ec2_tg_arn, topo.eks, target):
        write_actions(ctx, topo, with_split(actions, topo.ec2_tg_arn, topo.eks, target))
    write_lockstep(ctx, topo, target)
    read_back(ctx, topo, target)
    seconds = ctx.now() - found.seen if found is not None else None
    restored = Split.eks_percent(target)
    ctx.journal(
        "traffic_restored",
        to=restored.as_record(),
        reason="gate breach",
        seconds=None if seconds is None else round(seconds, 4),
    )
    gates = ", ".join(str(g) for g in evidence["failing"])
    summary = {
        "step": evidence["step"],
        "percent": percent,
        "gates": gates,
        "detail": "; ".join(
            str(g["detail"]) for g in evidence["gates"] if g["result"] == Result.FAIL.value
        ),
        "restored_to": restored.as_record(),
        "rollback_seconds": None if seconds is None else round(seconds, 4),
    }
    record_traffic(ctx, topo, restored, state="breached", last_breach=summary)
    reschedule(ctx, target, forget_own=True)
    took = f" in {seconds:.2f}s" if seconds is not None else ""
    raise GateBreached(
        f"health gate breached at {Split.eks_percent(percent)} on {topo.where} — "
        f"{gates}: {summary['detail']}. Traffic restored to {restored}{took} (read back from "
        "AWS); the evidence is in the journal",
        hint="investigate the EKS side (`flexmigrate history` shows the gate readings); "
        f"`flexmigrate resume` walks the schedule up again from {restored.eks} %, "
        "`flexmigrate rollback traffic-shift` ends the cutover",
    )
