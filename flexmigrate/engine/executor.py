"""The executor: preflight, checkpointed steps, verify of a completed phase, rollback, plan.

Every step transition is saved before the next call. A step found ``started`` after a crash
is applied again (steps are idempotent ensures). Ctrl-C stops between calls with the state
saved. Transient failures are retried a bounded number of times with backoff.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from flexmigrate import failpoints
from flexmigrate.engine.context import StepContext
from flexmigrate.engine.protocol import Phase, Step
from flexmigrate.engine.report import PhaseReport, StepReport
from flexmigrate.engine.undo import Undo
from flexmigrate.engine.updates import Updates
from flexmigrate.errors import (
    FlexmigrateError,
    InvalidInput,
    Paused,
    PreflightFailed,
    StepFailed,
    TransientError,
)
from flexmigrate.redact import REDACT
from flexmigrate.state.model import (
    Operation,
    PhaseState,
    PhaseStatus,
    StepState,
    StepStatus,
    now_iso,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

_SETTLED = (PhaseStatus.PENDING, PhaseStatus.ROLLED_BACK)


def align_steps(ps: PhaseState, wanted: Sequence[str]) -> None:
    """The phase's recorded steps after the runbook changed its list (a new traffic schedule
    mid-phase): steps it now has and has not started are added after their predecessor (and
    after the history that followed it); steps it no longer has stay as history when they
    ran, and go when they never did. Nothing that ran is forgotten or re-done."""
    kept = [ss for ss in ps.steps if ss.id in wanted or ss.status is not StepStatus.PENDING]
    order = [ss.id for ss in kept]
    for index, step_id in enumerate(wanted):
        if step_id in order:
            continue
        at = order.index(wanted[index - 1]) + 1 if index else 0
        while at < len(order) and order[at] not in wanted:
            at += 1
        order.insert(at, step_id)
    by_id = {ss.id: ss for ss in kept}
    ps.steps = [by_id.get(step_id) or StepState(step_id) for step_id in order]


class Executor(Updates, Undo):
    """Runs phases and single steps; plans (``Planning``), changes a completed phase in place
    (``Updates``) and rolls back (``Undo``)."""

    # -- run ------------------------------------------------------------------------------
    def refuse_mid_rollback(self, phase: Phase) -> None:
        """A phase part-way through a rollback is finished first, never run over."""
        ps = self._phase_state(phase)
        if ps.operation is Operation.ROLLBACK and ps.status in (
            PhaseStatus.RUNNING,
            PhaseStatus.FAILED,
        ):
            raise InvalidInput(
                f"{phase.id} ({phase.slug}) is part-way through a rollback; finish it with "
                "`flexmigrate resume` (or `flexmigrate rollback "
                f"{phase.slug}`) before running it again"
            )

    def run_phase(self, phase: Phase) -> None:
        ps = self._phase_state(phase)
        self._enter(phase)
        if ps.status is PhaseStatus.COMPLETED or ps.operation is Operation.UPDATE:
            self.converge(phase)
            return
        self.refuse_mid_rollback(phase)
        self.require_preflight(phase)
        report = self._phase_report(phase)
        steps = list(phase.steps(self.session.runbook))
        self._confirm_destructive(phase, ps, steps)
        if ps.status is PhaseStatus.ROLLED_BACK:
            for existing in ps.steps:
                existing.status = StepStatus.PENDING
                existing.attempts = 0
                existing.error = None
        resumed = ps.status in (PhaseStatus.RUNNING, PhaseStatus.FAILED)
        ps.status = PhaseStatus.RUNNING
        ps.operation = Operation.APPLY
        ps.error = None
        ps.started_at = ps.started_at if resumed else now_iso()
        ps.finished_at = None
        align_steps(ps, [step.id for step in steps])
        self._ui.heading(
            f"{'Resuming' if resumed else 'Running'} {phase.id} {phase.slug}: {phase.title}"
        )
        self.session.journal("phase_resumed" if resumed else "phase_started", phase=phase.id)
        self._checkpoint(f"checkpoint:{phase.id}:running")
        started = self.session.clock()
        for step in steps:
            ss = ps.step(step.id)
            step_report = StepReport(step.id, step.title, reversible=step.reversible)
            report.steps.append(step_report)
            if ss.status is StepStatus.COMPLETED:
                step_report.status = "completed"
                step_report.attempts = ss.attempts
                continue
            self.run_step(phase, ps, step, ss, step_report)
        ps.status = PhaseStatus.COMPLETED
        ps.finished_at = now_iso()
        report.status = ps.status.value
        report.duration = self.session.clock() - started
        self._enter(phase)
        self.session.journal("phase_completed", phase=phase.id)
        self._checkpoint(f"checkpoint:{phase.id}:completed")
        self._ui.success(f"{phase.id} {phase.slug} completed")

    def run_step(
        self, phase: Phase, ps: PhaseState, step: Step, ss: StepState, report: StepReport
    ) -> None:
        self._enter(phase, step.id)
        ctx = StepContext[Any](self.session, phase, ss)
        retries = self.session.runbook.execution.step_retries
        began = self.session.clock()
        while True:
            self.session.check_interrupt()
            ss.status = StepStatus.STARTED
            ss.attempts += 1
            ss.started_at = now_iso()
            ss.finished_at = None
            ss.error = None
            self.session.journal("step_started", attempt=ss.attempts)
            self._ui.step("started", phase.id, step.id, step.title, None)
            self._checkpoint(f"checkpoint:{phase.id}/{step.id}:started")
            try:
                step.apply(ctx)
                failpoints.reach(f"applied:{phase.id}/{step.id}")
                problems = list(step.verify(ctx))
                if problems:
                    raise StepFailed(
                        f"{phase.id}/{step.id} applied but its check failed: " + "; ".join(problems)
                    )
            except TransientError as exc:
                tries = self._retries_used(ss)
                if tries < retries:
                    delay = min(30.0, 2.0**tries) * random.uniform(0.5, 1.0)  # noqa: S311 - jitter
                    self.session.journal(
                        "step_retry", error=REDACT(str(exc)), delay=round(delay, 2)
                    )
                    self._ui.warn(
                        f"{step.id}: {exc} — retrying in {delay:.1f}s ({tries + 1}/{retries})"
                    )
                    ss.outputs["retries"] = tries + 1
                    self.session.sleep(delay)
                    continue
                self._fail(phase, ps, ss, report, exc)
            except FlexmigrateError as exc:
                if exc.exit_code == 130:
                    report.status = "interrupted"
                    self.session.journal("step_interrupted")
                    self.session.checkpoint()
                    raise
                self._fail(phase, ps, ss, report, exc)
            except Exception as exc:  # noqa: BLE001 - a bug: recorded, then re-raised for exit 70
                self._fail(phase, ps, ss, report, exc)
            break
        ss.outputs.pop("retries", None)
        ss.status = StepStatus.COMPLETED
        ss.finished_at = now_iso()
        report.status = "completed"
        report.attempts = ss.attempts
        report.duration = self.session.clock() - began
        report.notes = ctx.notes
        self.session.journal("step_completed", outputs=sorted(ss.outputs))
        self._checkpoint(f"checkpoint:{phase.id}/{step.id}:completed")
        self._ui.step("completed", phase.id, step.id, step.title, report.duration)

    def _confirm_destructive(self, phase: Phase, ps: PhaseState, steps: list[Step]) -> None:
        """A destructive step (terminate, delete) is confirmed before the phase's first call:
        on a terminal by asking, elsewhere only with --yes."""
        pending = [
            s
            for s in steps
            if s.destructive
            and (ps.find_step(s.id) or StepState(s.id)).status is not StepStatus.COMPLETED
        ]
        if not pending or self.session.yes:
            return
        names = ", ".join(f"{s.id} ({s.title})" for s in pending)
        if self._ui.confirm(f"{phase.id} will run destructive steps: {names}. Go ahead?"):
            return
        raise InvalidInput(
            f"{phase.id} has destructive steps ({names}): confirm with --yes (nothing was changed)"
        )

    @staticmethod
    def _retries_used(ss: StepState) -> int:
        value = ss.outputs.get("retries", 0)
        return value if isinstance(value, int) else 0

    def _fail(
        self, phase: Phase, ps: PhaseState, ss: StepState, report: StepReport, exc: BaseException
    ) -> None:
        message = REDACT(str(exc))
        ss.status = StepStatus.FAILED
        ss.finished_at = now_iso()
        ss.error = message
        ss.outputs.pop("retries", None)
        ps.status = PhaseStatus.FAILED
        ps.error = f"{ss.id}: {message}"
        report.status = "failed"
        report.error = message
        report.attempts = ss.attempts
        self._phase_report(phase).status = "failed"
        self.session.journal("step_failed", error=message)
        self.session.checkpoint()
        self._ui.step("failed", phase.id, ss.id, report.title, None)
        if isinstance(exc, FlexmigrateError):
            if isinstance(exc, Paused) or exc.exit_code not in (1, 2, 3):
                raise exc  # its own words and exit code (paused, gate breached, …)
            raise StepFailed(
                f"{phase.id}/{ss.id} failed: {message}",
                hint=exc.hint
                or "fix the cause, then `flexmigrate resume` continues from this step "
                "(or `flexmigrate rollback` undoes the phase)",
            ) from exc
        raise exc

    # -- a step outside the schedule (a manual traffic shift) ---------------------------------
    def _needed(self, phase: Phase, ps: PhaseState | None, needs: Sequence[str]) -> list[Step]:
        """The scheduled steps a step outside the schedule needs first and that are not done."""
        done = {s.id for s in ps.steps if s.status is StepStatus.COMPLETED} if ps else set()
        return [s for s in phase.steps(self.session.runbook) if s.id in needs and s.id not in done]

    def run_outside_schedule(
        self,
        phase: Phase,
        step: Step,
        *,
        needs: Sequence[str] = (),
        event: str = "manual_step_started",
        **details: Any,
    ) -> None:
        """Run ``step`` as a step of ``phase`` that its schedule does not list: after the
        phase's preflight, with the same checkpoints, retries, journal and report. The steps of
        the schedule named in ``needs`` run first unless done. The phase is left running (a
        later ``run`` continues its schedule); it must not run while a later phase has run."""
        self.refuse_mid_rollback(phase)
        later = [
            p
            for p in self.session.registry.later(phase)
            if (found := self.session.state.find_phase(p.id)) and found.status not in _SETTLED
        ]
        if later:
            names = ", ".join(f"{p.id} ({p.slug})" for p in later)
            raise InvalidInput(f"cannot run {step.id} while {names} has run; roll it back first")
        ps = self._phase_state(phase)
        self._enter(phase)
        self.require_preflight(phase)
        if ps.status in _SETTLED:
            ps.started_at = now_iso()
            for existing in ps.steps:
                existing.status = StepStatus.PENDING
                existing.error = None
        ps.status = PhaseStatus.RUNNING
        ps.operation = Operation.APPLY
        ps.error = None
        ps.finished_at = None
        for scheduled in phase.steps(self.session.runbook):
            ps.step(scheduled.id)
        self.session.journal(event, phase=phase.id, **details)
        self._checkpoint(f"checkpoint:{phase.id}:running")
        report = self._phase_report(phase)
        report.status = PhaseStatus.RUNNING.value
        self._ui.heading(f"{phase.id} {phase.slug}, outside its schedule: {step.title}")
        for planned in [*self._needed(phase, ps, needs), step]:
            ss = ps.step(planned.id)
            if planned is step and ss.status is StepStatus.COMPLETED:
                ss.outputs = {}  # the same step run again by hand: a new run of it
            step_report = StepReport(planned.id, planned.title, reversible=planned.reversible)
            report.steps.append(step_report)
            self.run_step(phase, ps, planned, ss, step_report)

    def plan_outside_schedule(self, phase: Phase, step: Step, *, needs: Sequence[str] = ()) -> None:
        """The plan of ``run_outside_schedule``: its preflight and what it (and the steps it
        needs) would change. A failed preflight is raised after the plan is reported."""
        failure: PreflightFailed | None = None
        try:
            self.require_preflight(phase)
        except PreflightFailed as exc:
            failure = exc
        ps = self.session.state.find_phase(phase.id)
        report = self.report.phase(phase.id) or PhaseReport(phase.id, phase.slug, phase.title)
        if report not in self.report.phases:
            self.report.phases.append(report)
        report.status = ps.status.value if ps else PhaseStatus.PENDING.value
        for planned in [*self._needed(phase, ps, needs), step]:
            ctx = StepContext[Any](self.session, phase)
            step_report = StepReport(planned.id, planned.title, reversible=planned.reversible)
            try:
                step_report.changes = list(planned.plan(ctx))
            except FlexmigrateError as exc:
                step_report.error = f"could not plan: {exc}"
            step_report.notes = ctx.notes
            report.steps.append(step_report)
        if failure is not None:
            raise failure
