"""The executor: preflight, checkpointed steps, verify of a completed phase, rollback, plan.

Every step transition is saved before the next call. A step found ``started`` after a crash
is applied again (steps are idempotent ensures). Ctrl-C stops between calls with the state
saved. Transient failures are retried a bounded number of times with backoff.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from flexmigrate import failpoints
from flexmigrate.engine import checks as builtin
from flexmigrate.engine.context import Session, StepContext
from flexmigrate.engine.protocol import (
    Action,
    Change,
    Check,
    CheckResult,
    CheckStatus,
    Phase,
    Step,
    failed,
)
from flexmigrate.engine.report import PhaseReport, Report, StepReport
from flexmigrate.errors import (
    FlexmigrateError,
    InvalidInput,
    Paused,
    PreflightFailed,
    ReadOnlyViolation,
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
    from collections.abc import Callable

_UNDOABLE = (StepStatus.COMPLETED, StepStatus.STARTED, StepStatus.FAILED, StepStatus.ROLLING_BACK)
_ACTIVE = (PhaseStatus.RUNNING, PhaseStatus.FAILED, PhaseStatus.COMPLETED)


class Executor:
    def __init__(self, session: Session, report: Report) -> None:
        self.session = session
        self.report = report

    # -- helpers --------------------------------------------------------------------------
    @property
    def _ui(self):  # type: ignore[no-untyped-def]
        return self.session.ui

    def _phase_state(self, phase: Phase) -> PhaseState:
        return self.session.state.phase(phase.id, phase.slug)

    def _phase_report(self, phase: Phase) -> PhaseReport:
        found = self.report.phase(phase.id)
        if found is None:
            found = PhaseReport(phase.id, phase.slug, phase.title)
            self.report.phases.append(found)
        return found

    def _checkpoint(self, point: str) -> None:
        self.session.checkpoint()
        failpoints.reach(point)

    def _enter(self, phase: Phase, step: str = "") -> None:
        self.session.current = (phase.id, step)

    # -- preflight ------------------------------------------------------------------------
    def preflight(
        self, phase: Phase, *, planned_before: frozenset[str] = frozenset()
    ) -> list[CheckResult]:
        """Run every check (not fail-fast) and show the table."""
        ctx = StepContext(self.session, phase)
        all_checks: list[Check] = [builtin.IDENTITY, builtin.previous_phase(planned_before)]
        all_checks += list(phase.checks(self.session.runbook))
        results = []
        for check in all_checks:
            try:
                outcome = check.run(ctx)
            except ReadOnlyViolation:
                raise
            except FlexmigrateError as exc:
                outcome = failed(f"check could not run: {exc}", exc.hint)
            results.append(
                CheckResult(
                    check.id,
                    check.title,
                    outcome.status,
                    REDACT(outcome.detail),
                    outcome.fix,
                    phase.id,
                )
            )
        self._phase_report(phase).checks = results
        self._ui.checks(f"{phase.id} {phase.slug}", results)
        return results

    def require_preflight(self, phase: Phase) -> None:
        results = self.preflight(phase)
        failures = [r for r in results if r.status is CheckStatus.FAIL]
        self.session.journal(
            "preflight",
            phase=phase.id,
            results={r.id: r.status.value for r in results},
        )
        if failures:
            names = ", ".join(r.id for r in failures)
            raise PreflightFailed(
                f"preflight of {phase.id} ({phase.slug}) failed: {names}; nothing was changed",
                hint=failures[0].fix,
            )

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
        if ps.status is PhaseStatus.COMPLETED:
            self.verify(phase)
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
        for step in steps:
            ps.step(step.id)
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
        ctx = StepContext(self.session, phase, ss)
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
            if getattr(s, "destructive", False)
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

    # -- verify (re-run of a completed phase) ------------------------------------------------
    def verify(self, phase: Phase) -> list[str]:
        self._enter(phase)
        report = self._phase_report(phase)
        report.status = "completed"
        ps = self._phase_state(phase)
        self._ui.heading(f"{phase.id} {phase.slug} is complete — verifying, changing nothing")
        drift: list[str] = []
        for step in phase.steps(self.session.runbook):
            ss = ps.find_step(step.id) or StepState(step.id)
            ctx = StepContext(self.session, phase, ss)
            try:
                problems = [f"{step.id}: {p}" for p in step.verify(ctx)]
            except FlexmigrateError as exc:
                problems = [f"{step.id}: could not verify: {exc}"]
            drift += problems
            report.steps.append(
                StepReport(step.id, step.title, "completed" if not problems else "drifted")
            )
        report.drift = [REDACT(d) for d in drift]
        self.session.journal("phase_verified", phase=phase.id, drift=report.drift)
        if drift:
            for item in report.drift:
                self._ui.warn(f"drift: {item}")
        else:
            self._ui.success(f"{phase.id} {phase.slug}: no drift")
        return drift

    # -- rollback -------------------------------------------------------------------------
    def rollback_phase(self, phase: Phase) -> None:
        ps = self._phase_state(phase)
        self._enter(phase)
        report = self._phase_report(phase)
        steps = list(phase.steps(self.session.runbook))
        to_undo = [
            s
            for s in reversed(steps)
            if (ps.find_step(s.id) or StepState(s.id)).status in _UNDOABLE
        ]
        if not to_undo:
            if ps.status is not PhaseStatus.PENDING:
                ps.status = PhaseStatus.ROLLED_BACK
                ps.operation = Operation.APPLY
                self.session.checkpoint()
            report.status = ps.status.value
            self._ui.info(f"{phase.id} {phase.slug}: nothing to roll back")
            return
        ps.status = PhaseStatus.RUNNING
        ps.operation = Operation.ROLLBACK
        self._ui.heading(f"Rolling back {phase.id} {phase.slug}")
        self.session.journal("rollback_started", phase=phase.id)
        self._checkpoint(f"checkpoint:{phase.id}:rolling_back")
        for step in to_undo:
            ss = ps.step(step.id)
            step_report = StepReport(step.id, step.title, reversible=step.reversible)
            report.steps.append(step_report)
            self._enter(phase, step.id)
            ctx = StepContext(self.session, phase, ss)
            ss.status = StepStatus.ROLLING_BACK
            self.session.journal("step_rollback_started")
            self._checkpoint(f"checkpoint:{phase.id}/{step.id}:rolling_back")
            began = self.session.clock()
            self._with_retries(ctx, step.rollback, step)
            ss.status = StepStatus.ROLLED_BACK
            ss.finished_at = now_iso()
            ss.outputs = {}
            ss.error = None
            step_report.status = "rolled_back"
            step_report.duration = self.session.clock() - began
            self.session.journal("step_rolled_back")
            self._checkpoint(f"checkpoint:{phase.id}/{step.id}:rolled_back")
            self._ui.step("rolled_back", phase.id, step.id, step.title, step_report.duration)
        ps.status = PhaseStatus.ROLLED_BACK
        ps.operation = Operation.APPLY
        ps.finished_at = now_iso()
        report.status = ps.status.value
        self._enter(phase)
        self.session.journal("phase_rolled_back", phase=phase.id)
        self._checkpoint(f"checkpoint:{phase.id}:rolled_back")
        self._ui.success(f"{phase.id} {phase.slug} rolled back")

    def _with_retries(
        self, ctx: StepContext, action: Callable[[StepContext], None], step: Step
    ) -> None:
        retries = self.session.runbook.execution.step_retries
        for attempt in range(retries + 1):
            self.session.check_interrupt()
            try:
                action(ctx)
                return
            except TransientError as exc:
                if attempt >= retries:
                    self._rollback_failed(ctx, step, exc)
                delay = min(30.0, 2.0**attempt) * random.uniform(0.5, 1.0)  # noqa: S311 - jitter
                self.session.journal("step_retry", error=REDACT(str(exc)), delay=round(delay, 2))
                self.session.sleep(delay)
            except FlexmigrateError as exc:
                if exc.exit_code == 130:
                    self.session.checkpoint()
                    raise
                self._rollback_failed(ctx, step, exc)

    def _rollback_failed(self, ctx: StepContext, step: Step, exc: FlexmigrateError) -> None:
        message = REDACT(str(exc))
        ps = self._phase_state(ctx.phase)
        ps.status = PhaseStatus.FAILED
        ps.error = f"rollback of {step.id}: {message}"
        ctx.step.error = message
        self.session.journal("step_rollback_failed", error=message)
        self.session.checkpoint()
        raise StepFailed(
            f"rollback of {ctx.phase.id}/{step.id} failed: {message}",
            hint=exc.hint or "fix the cause, then `flexmigrate resume` continues the rollback",
        ) from exc

    def plan_rollback(self, phase: Phase) -> None:
        ps = self._phase_state(phase)
        report = self._phase_report(phase)
        report.status = ps.status.value
        for step in reversed(list(phase.steps(self.session.runbook))):
            ss = ps.find_step(step.id)
            if ss is None or ss.status not in _UNDOABLE:
                continue
            ctx = StepContext(
                self.session, phase, StepState(ss.id, ss.status, outputs=dict(ss.outputs))
            )
            ctx._scratch = True
            planner = getattr(step, "plan_rollback", None)
            if planner is not None:
                changes = list(planner(ctx))
            else:
                recorded = ", ".join(
                    f"{k}={v}" for k, v in ss.outputs.items() if not k.startswith("token:")
                )
                changes = [Change(Action.DELETE, step.title, recorded or "present", "absent")]
            report.steps.append(
                StepReport(step.id, step.title, ss.status.value, step.reversible, changes)
            )

    # -- plan -----------------------------------------------------------------------------
    def plan(self, phases: Sequence[Phase]) -> None:
        planned: set[str] = set()
        for phase in phases:
            self._enter(phase)
            ps = self._phase_state(phase)
            report = self._phase_report(phase)
            report.status = ps.status.value
            self.preflight(phase, planned_before=frozenset(planned))
            for step in phase.steps(self.session.runbook):
                existing = ps.find_step(step.id)
                step_report = StepReport(step.id, step.title, reversible=step.reversible)
                step_report.status = existing.status.value if existing else "pending"
                report.steps.append(step_report)
                if existing is not None and existing.status is StepStatus.COMPLETED:
                    continue
                scratch = StepState(step.id, outputs=dict(existing.outputs) if existing else {})
                ctx = StepContext(self.session, phase, scratch)
                ctx._scratch = True
                try:
                    step_report.changes = list(step.plan(ctx))
                except ReadOnlyViolation:
                    raise
                except FlexmigrateError as exc:
                    step_report.error = REDACT(f"could not plan: {exc}")
                    report.warnings.append(f"{step.id}: {step_report.error}")
                step_report.notes = ctx.notes
            try:
                report.notes = list(phase.notes(StepContext(self.session, phase)))
            except FlexmigrateError as exc:
                report.warnings.append(REDACT(f"could not describe: {exc}"))
            planned.add(phase.id)
