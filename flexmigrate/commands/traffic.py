"""shift-traffic (one manual step of phase 4) and the live half of ``status --live``.

A manual shift is a step of phase 4 (``manual-N``) run by the same executor as the schedule,
after the same preflight, so it is checkpointed, journaled, resumable and undone by
``rollback traffic-shift``; the phase is left ``running`` and ``run traffic-shift`` continues
the schedule from the first step above the new weight. A shift to 0 % is the manual way
back: its preflight leaves out the EKS side's health, which must never keep traffic there.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flexmigrate.commands.common import new_report, open_session, reporting
from flexmigrate.engine.context import StepContext
from flexmigrate.engine.executor import Executor
from flexmigrate.engine.protocol import Phase, Registry
from flexmigrate.engine.report import PhaseReport, StepReport
from flexmigrate.errors import FlexmigrateError, InvalidInput, PreflightFailed
from flexmigrate.options import Options
from flexmigrate.state.model import Operation, PhaseStatus, StepStatus, now_iso

if TYPE_CHECKING:
    from flexmigrate.engine.context import Session
    from phases.traffic_shift.steps import ShiftStep

SLUG = "traffic-shift"
_SETTLED = (PhaseStatus.PENDING, PhaseStatus.ROLLED_BACK)


def traffic_phase(registry: Registry) -> Phase:
    phase = registry.find(SLUG)
    if phase is None:
        raise InvalidInput(f"no {SLUG} phase is registered (known: {registry.names()})")
    return phase


def shift_traffic(
    opts: Options, percent: int, bake: float | None, dry_run: bool, report_path: Path | None
) -> int:
    from phases.traffic_shift import manual_step, way_back_checks

    if report_path is not None:
        from flexmigrate.render import report_format

        report_format(report_path)
    with open_session(opts, command=opts.command_line(), dry_run=dry_run) as session:
        phase = traffic_phase(session.registry)
        if percent == 0:
            # The way back has its own preflight; the registry carries it so every lookup of
            # the phase (previous, later) finds the same object.
            phase = dataclasses.replace(phase, checks=way_back_checks)
            session.registry = Registry(
                [phase if p.id == phase.id else p for p in session.registry]
            )
        step = manual_step(percent, bake)
        report = new_report("shift-traffic", session)
        executor = Executor(session, report)
        with reporting(opts, session, report, report_path):
            if dry_run:
                _plan(session, executor, phase, step)
            else:
                _shift(session, executor, phase, step)
    return 0


def _plan(session: Session, executor: Executor, phase: Phase, step: ShiftStep) -> None:
    from flexmigrate.commands.show import plan_tables

    report = executor.report
    ps = session.state.find_phase(phase.id)
    failure: PreflightFailed | None = None
    try:
        executor.require_preflight(phase)
    except PreflightFailed as exc:
        failure = exc
    phase_report = report.phase(phase.id) or PhaseReport(phase.id, phase.slug, phase.title)
    phase_report.status = ps.status.value if ps else PhaseStatus.PENDING.value
    for planned in [*_forward_if_needed(session, phase, ps), step]:
        ctx = StepContext(session, phase)
        step_report = StepReport(planned.id, planned.title, reversible=planned.reversible)
        try:
            step_report.changes = list(planned.plan(ctx))
        except FlexmigrateError as exc:
            step_report.error = f"could not plan: {exc}"
        step_report.notes = ctx.notes
        phase_report.steps.append(step_report)
    if not session.ui.json_mode:
        plan_tables(session.ui, report)
    if failure is not None:
        raise failure
    session.ui.success("plan complete: nothing was changed")


def _forward_if_needed(session: Session, phase: Phase, ps: Any) -> list[Any]:
    existing = ps.find_step("forward") if ps is not None else None
    if existing is not None and existing.status is StepStatus.COMPLETED:
        return []
    return [s for s in phase.steps(session.runbook) if s.id == "forward"]


def _shift(session: Session, executor: Executor, phase: Phase, step: ShiftStep) -> None:
    executor.refuse_mid_rollback(phase)
    ps = session.state.phase(phase.id, phase.slug)
    later = [p for p in session.registry.later(phase) if _ran(session, p)]
    if later:
        names = ", ".join(f"{p.id} ({p.slug})" for p in later)
        raise InvalidInput(f"cannot shift traffic while {names} has run; roll it back first")
    executor.require_preflight(phase)
    if ps.status in _SETTLED:
        ps.started_at = now_iso()
        for existing in ps.steps:
            existing.status = StepStatus.PENDING
            existing.error = None
    ps.status = PhaseStatus.RUNNING
    ps.operation = Operation.APPLY
    ps.error = None
    ps.finished_at = None
    for scheduled in phase.steps(session.runbook):
        ps.step(scheduled.id)
    session.current = (phase.id, "")
    session.journal("manual_shift_started", phase=phase.id, percent=step.percent)
    session.checkpoint()
    phase_report = executor.report.phase(phase.id) or PhaseReport(phase.id, phase.slug, phase.title)
    if phase_report not in executor.report.phases:
        executor.report.phases.append(phase_report)
    phase_report.status = PhaseStatus.RUNNING.value
    session.ui.heading(f"Manual shift in {phase.id} {phase.slug}: {step.title}")
    for planned in [*_forward_if_needed(session, phase, ps), step]:
        ss = ps.step(planned.id)
        if planned is step and ss.status is StepStatus.COMPLETED:
            ss.outputs = {}  # an earlier manual shift to the same weight: this is a new one
        step_report = StepReport(planned.id, planned.title, reversible=planned.reversible)
        phase_report.steps.append(step_report)
        # The executor's own step runner: the same checkpoints, retries, journal and report
        # as a step of the schedule.
        executor.run_step(phase, ps, planned, ss, step_report)
    session.ui.success(
        f"EKS has {step.percent} % now; {phase.id} stays running — `flexmigrate run {phase.slug}` "
        f"continues the schedule from the first step above {step.percent} %"
    )


def _ran(session: Session, phase: Phase) -> bool:
    found = session.state.find_phase(phase.id)
    return found is not None and found.status not in _SETTLED


# -- status --live ------------------------------------------------------------------------------


def live_traffic(opts: Options, state: Any) -> dict[str, Any]:
    """The listener's weights and both target groups' health as AWS reports them now, and
    every way they differ from what the state recorded."""
    from flexmigrate.clients.bundle import Clients
    from flexmigrate.commands.base import make_ui
    from flexmigrate.commands.common import load
    from flexmigrate.engine.context import Session
    from phases.traffic_shift.topology import read_actions, resolve, target_health
    from phases.traffic_shift.weights import split_of, weights_of

    runbook = load(opts)
    registry = opts.registry_loader()
    phase = traffic_phase(registry)
    session = Session(
        runbook=runbook,
        registry=registry,
        store=None,  # type: ignore[arg-type]  # read-only: nothing is saved
        state=state,
        clients=Clients(runbook, read_only=True),
        ui=make_ui(opts),
        dry_run=True,
        command="flexmigrate status --live",
    )
    try:
        ctx = StepContext(session, phase)
        topo = resolve(ctx)
        actions = read_actions(ctx, topo)
        split = split_of(actions, topo.ec2_tg_arn, topo.eks_tg_arn)
        names = {topo.ec2_tg_arn: topo.ec2_tg_name}
        if topo.eks_tg_arn:
            names[topo.eks_tg_arn] = topo.eks_tg_name
        live: dict[str, Any] = {
            "read_at": now_iso(),
            "where": topo.where,
            **split.as_record(),
            "weights": {names.get(arn, arn): w for arn, w in weights_of(actions).items()},
            "targets": {
                topo.ec2_tg_name: _health(target_health(ctx, topo.ec2_tg_arn)),
                topo.eks_tg_name: (
                    _health(target_health(ctx, topo.eks_tg_arn)) if topo.eks_tg_arn else None
                ),
            },
        }
    finally:
        session.clients.close()
    live["differences"] = _differences(live, state, topo.eks_tg_name, runbook)
    return live


def _health(states: list[tuple[str, str, str]]) -> dict[str, Any]:
    return {
        "healthy": sum(1 for _, state, _ in states if state == "healthy"),
        "registered": len(states),
        "targets": {target: state for target, state, _ in states},
    }


def _differences(live: dict[str, Any], state: Any, eks_name: str, runbook: Any) -> list[str]:
    found = []
    recorded = getattr(state, "traffic", None) if state is not None else None
    if recorded and recorded.get("eks_percent") is not None:
        now = (live["ec2_percent"], live["eks_percent"])
        was = (recorded.get("ec2_percent"), recorded.get("eks_percent"))
        if now != was:
            found.append(
                f"weights: AWS reports EC2 {now[0]} % / EKS {now[1]} %, flexmigrate recorded "
                f"EC2 {was[0]} % / EKS {was[1]} % ({recorded.get('updated_at', '?')}) — "
                "changed outside flexmigrate"
            )
        if eks_name not in live["weights"]:
            found.append(f"{eks_name} is no longer in the forward of {live['where']}")
    eks = live["targets"].get(eks_name)
    minimum = runbook.traffic.gates.min_healthy_targets
    if eks is not None and live["eks_percent"] > 0 and eks["healthy"] < minimum:
        found.append(
            f"{eks_name} has {eks['healthy']} healthy targets, fewer than {minimum}, while it "
            f"gets {live['eks_percent']} % of the traffic"
        )
    return found


def live_text(live: dict[str, Any], *, color: bool) -> None:
    """Plain lines after ``status``'s own (through click, as ``status`` prints)."""
    import click

    from flexmigrate.redact import REDACT

    def out(text: str, style: str | None = None) -> None:
        text = REDACT(text)
        if color and style:
            text = click.style(text, fg=style)
        click.echo(text, color=None if color else False)

    out(
        f"live ({live['read_at']}): {live['where']} sends EC2 {live['ec2_percent']} % / "
        f"EKS {live['eks_percent']} %"
    )
    for name, health in live["targets"].items():
        if health is None:
            out(f"  {name}: does not exist")
        else:
            out(f"  {name}: {health['healthy']} of {health['registered']} targets healthy")
    for difference in live["differences"]:
        out(f"  DIFFERS: {difference}", "red")
    if not live["differences"]:
        out("  matches what flexmigrate recorded", "green")
