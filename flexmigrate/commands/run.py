"""plan, run, resume, rollback."""

from __future__ import annotations

from pathlib import Path

from flexmigrate.commands.common import (
    finish,
    new_report,
    open_session,
    reporting,
    select_phases,
)
from flexmigrate.engine.context import Session
from flexmigrate.engine.executor import Executor
from flexmigrate.engine.protocol import CheckStatus, Phase
from flexmigrate.engine.report import Report
from flexmigrate.errors import FlexmigrateError, InvalidInput, PreflightFailed
from flexmigrate.options import Options
from flexmigrate.state.model import Operation, PhaseStatus


def _check_report_path(report: Path | None) -> None:
    if report is not None:
        from flexmigrate.render import report_format

        report_format(report)


def _show_plan(session: Session, report: Report) -> None:
    from flexmigrate.commands.show import plan_tables

    if not session.ui.json_mode:
        plan_tables(session.ui, report)


def plan(
    opts: Options, phase_name: str | None, report_path: Path | None, *, kind: str = "plan"
) -> int:
    _check_report_path(report_path)
    with open_session(opts, command="plan", dry_run=True, lock=False) as session:
        phases = select_phases(session.registry, phase_name)
        if phase_name in (None, "all"):
            phases = [
                p
                for p in phases
                if session.state.phase(p.id, p.slug).status is not PhaseStatus.COMPLETED
            ] or phases
        report = new_report(kind, session)
        error: FlexmigrateError | None = None
        try:
            Executor(session, report).plan(phases)
            _show_plan(session, report)
            error = _refused(session, report)
            failures = [
                f"{c.phase}:{c.id}"
                for p in report.phases
                for c in p.checks
                if c.status is CheckStatus.FAIL
            ]
            if failures and error is None:
                error = PreflightFailed(
                    f"preflight would fail: {', '.join(failures)}; nothing was changed",
                    hint=next(
                        (
                            c.fix
                            for p in report.phases
                            for c in p.checks
                            if c.fix and c.status is CheckStatus.FAIL
                        ),
                        None,
                    ),
                )
            if error is None:
                session.ui.success("plan complete: nothing was changed")
        finally:
            finish(opts, session, report, report_path, error)
        if error is not None:
            raise error
    return 0


def run(opts: Options, phase_name: str, dry_run: bool, report_path: Path | None) -> int:
    if dry_run:
        return plan(opts, phase_name, report_path, kind="plan")
    _check_report_path(report_path)
    with open_session(opts, command=opts.command_line()) as session:
        phases = select_phases(session.registry, phase_name)
        report = new_report("run", session)
        executor = Executor(session, report)
        with reporting(opts, session, report, report_path):
            for phase in phases:
                executor.run_phase(phase)
    return 0


def _interrupted_phase(session: Session) -> Phase | None:
    for phase in session.registry:
        ps = session.state.find_phase(phase.id)
        if ps is not None and ps.status in (PhaseStatus.RUNNING, PhaseStatus.FAILED):
            return phase
    return None


def resume(opts: Options, report_path: Path | None) -> int:
    _check_report_path(report_path)
    with open_session(opts, command=opts.command_line()) as session:
        phase = _interrupted_phase(session)
        report = new_report("resume", session)
        if phase is None:
            session.ui.info(
                "nothing to resume: no phase is running or failed (`flexmigrate status`)"
            )
            finish(opts, session, report, report_path, None)
            return 0
        ps = session.state.phase(phase.id, phase.slug)
        executor = Executor(session, report)
        with reporting(opts, session, report, report_path):
            if ps.operation is Operation.ROLLBACK:
                _confirm_rollback(session, [phase])
                executor.rollback_phase(phase)
            else:
                executor.run_phase(phase)
    return 0


def _rollback_targets(session: Session, phase_name: str | None) -> list[Phase]:
    registry = session.registry

    def active(p: Phase) -> bool:
        ps = session.state.find_phase(p.id)
        return ps is not None and ps.status in _ACTIVE_FOR_ROLLBACK

    if phase_name == "all":
        return [p for p in reversed(list(registry)) if active(p)]
    if phase_name is None:
        latest = [p for p in registry if active(p)]
        return latest[-1:]
    phase = select_phases(registry, phase_name)[0]
    blockers = [p for p in registry.later(phase) if active(p)]
    if blockers:
        names = ", ".join(f"{p.id} ({p.slug})" for p in blockers)
        raise InvalidInput(
            f"cannot roll back {phase.id} ({phase.slug}) while {names} is not rolled back; "
            f"roll back the later phase first, or use `flexmigrate rollback all`"
        )
    return [phase]


_ACTIVE_FOR_ROLLBACK = (PhaseStatus.RUNNING, PhaseStatus.FAILED, PhaseStatus.COMPLETED)


def _confirm_rollback(session: Session, phases: list[Phase]) -> None:
    if session.yes:
        return
    names = ", ".join(f"{p.id} ({p.slug})" for p in phases)
    question = f"Roll back {names}? This deletes what flexmigrate created in it."
    if session.ui.confirm(question):
        return
    if session.ui.json_mode or not _stdin_tty():
        raise InvalidInput(
            f"rollback of {names} deletes resources: confirm with --yes "
            "(there is no terminal to ask on)"
        )
    raise InvalidInput("rollback cancelled; nothing was changed")


def _stdin_tty() -> bool:
    import sys

    return sys.stdin.isatty()


def rollback(opts: Options, phase_name: str | None, dry_run: bool, report_path: Path | None) -> int:
    _check_report_path(report_path)
    with open_session(opts, command=opts.command_line(), dry_run=dry_run) as session:
        targets = _rollback_targets(session, phase_name)
        report = new_report("rollback", session)
        executor = Executor(session, report)
        with reporting(opts, session, report, report_path):
            if not targets:
                session.ui.info("nothing to roll back: no phase has run")
                return 0
            if dry_run:
                for phase in targets:
                    executor.plan_rollback(phase)
                _show_plan(session, report)
                session.ui.success("rollback plan complete: nothing was changed")
                return 0
            from flexmigrate.engine.checks import IDENTITY
            from flexmigrate.engine.context import StepContext

            identity = IDENTITY.run(StepContext(session, targets[0]))
            if identity.status is CheckStatus.FAIL:
                raise PreflightFailed(f"rollback refused: {identity.detail}", hint=identity.fix)
            _confirm_rollback(session, targets)
            for phase in targets:
                executor.rollback_phase(phase)
    return 0


def _refused(session: Session, report: Report) -> FlexmigrateError | None:
    """A plan that asks a completed phase for a change it cannot make in place is invalid."""
    from flexmigrate.engine.protocol import Action
    from flexmigrate.engine.updates import refusal

    for phase_report in report.phases:
        refused = [c for s in phase_report.steps for c in s.changes if c.action is Action.REFUSE]
        phase = session.registry.find(phase_report.id)
        if refused and phase is not None:
            return refusal(phase, refused)
    return None


def rollback_change(opts: Options, phase_name: str, dry_run: bool, report_path: Path | None) -> int:
    """Undo the latest in-place update of one phase; the phase stays (and so do later ones)."""
    _check_report_path(report_path)
    with open_session(opts, command=opts.command_line(), dry_run=dry_run) as session:
        phase = select_phases(session.registry, phase_name)[0]
        report = new_report("rollback", session)
        executor = Executor(session, report)
        with reporting(opts, session, report, report_path):
            if dry_run:
                executor.plan_undo_change(phase)
                _show_plan(session, report)
                session.ui.success("rollback plan complete: nothing was changed")
                return 0
            executor.undo_change(phase)
    return 0
