"""What phase 4 keeps in the state: the traffic record ``status`` shows offline, and where the
schedule stands.

The schedule continues from the first step above the current weight. After a breach (or a
manual shift) moves the weight down, the schedule's steps above it are set back to pending,
so ``resume`` walks up again from there instead of jumping to the step that failed.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from flexmigrate.state.model import StepStatus, now_iso
from phases.traffic_shift.weights import Split

if TYPE_CHECKING:
    from flexmigrate.state.model import State
    from phases.shared.sections import StepContext
    from phases.traffic_shift.gates import Evaluation
    from phases.traffic_shift.topology import Topology

SCHEDULE_PREFIX = "shift-"
MANUAL_PREFIX = "manual-"
PHASE_ID = "phase-4"
# Phase 3's step that joins the EKS group at weight 0 records the weights it left.
JOIN_PHASE = "phase-3"
JOIN_STEP = "listener"


def wall() -> float:
    """Epoch seconds: CloudWatch stamps datapoints in it, and a bake's start must survive a
    restart of the process (a monotonic clock does not)."""
    return time.time()


def record_traffic(
    ctx: StepContext,
    topo: Topology,
    split: Split,
    *,
    state: str,
    evaluation: Evaluation | None = None,
    **extra: Any,
) -> None:
    """The phase's ``traffic`` record: weights, where, what phase 4 is doing, gate readings."""
    previous = recorded_traffic(ctx.session.state) or {}
    record: dict[str, Any] = {
        **split.as_record(),
        "updated_at": now_iso(),
        "state": state,
        "step": ctx.step.id,
        "where": topo.where,
        "listener_arn": topo.listener_arn,
        "rule_arn": topo.rule_arn,
        "gates": evaluation.summaries() if evaluation else previous.get("gates") or [],
    }
    if "last_breach" in previous:
        record["last_breach"] = previous["last_breach"]
    record.update(extra)
    ctx.record_phase(traffic=record)


def recorded_traffic(state: State) -> dict[str, Any] | None:
    """The weights flexmigrate last set: this phase's record, else those phase 3 wrote when it
    joined the EKS target group to the forward at weight 0."""
    own = state.find_phase(PHASE_ID)
    traffic = own.recorded.get("traffic") if own is not None else None
    if isinstance(traffic, dict):
        return traffic
    deploy = state.find_phase(JOIN_PHASE)
    join = deploy.find_step(JOIN_STEP) if deploy is not None else None
    if join is not None and join.status is StepStatus.COMPLETED:
        joined = join.outputs.get("traffic")
        return joined if isinstance(joined, dict) else None
    return None


def traffic_lines(traffic: dict[str, Any] | None) -> list[str]:
    """``status``'s lines for the record."""
    if not traffic:
        return []
    lines = [
        f"traffic: EC2 {traffic.get('ec2_percent')} % / EKS {traffic.get('eks_percent')} % "
        f"(recorded {traffic.get('updated_at', '?')})"
    ]
    for gate in traffic.get("gates") or []:
        lines.append(f"  gate {gate.get('gate')}: {gate.get('result')} {gate.get('detail', '')}")
    return lines


def recorded_split(ctx: StepContext) -> Split | None:
    traffic = recorded_traffic(ctx.session.state)
    if not traffic or traffic.get("eks_percent") is None:
        return None
    return Split(int(traffic.get("ec2_percent", 0)), int(traffic["eks_percent"]))


def last_good(ctx: StepContext, below: int) -> int:
    """The highest weight below ``below`` whose bake passed (0 when none did)."""
    phase = ctx.session.state.find_phase(ctx.phase.id)
    best = 0
    for step in phase.steps if phase else ():
        percent = step.outputs.get("percent")
        passed = step.status is StepStatus.COMPLETED and step.outputs.get("passed_at")
        if passed and isinstance(percent, int) and best < percent < below:
            best = percent
    return best


def reschedule(ctx: StepContext, current: int, *, forget_own: bool) -> None:
    """Make the schedule continue from the first step above ``current``: its steps above it
    go back to pending, and unfinished ones below it forget what they had started (they
    find the weight above their own and complete without writing). With ``forget_own`` this
    step starts afresh too when it runs again."""
    phase = ctx.session.state.find_phase(ctx.phase.id)
    for step in phase.steps if phase else ():
        if not step.id.startswith(SCHEDULE_PREFIX) or step is ctx.step:
            continue
        percent = _schedule_percent(step.id)
        if percent is None or step.status is StepStatus.PENDING:
            continue
        if percent > current or step.status is not StepStatus.COMPLETED:
            step.status = StepStatus.PENDING
            step.outputs = {}
            step.error = None
            step.finished_at = None
    if forget_own:
        ctx.forget(*list(ctx.outputs))
    else:
        ctx.session.checkpoint()


def _schedule_percent(step_id: str) -> int | None:
    tail = step_id.removeprefix(SCHEDULE_PREFIX)
    return int(tail) if tail.isdigit() else None
