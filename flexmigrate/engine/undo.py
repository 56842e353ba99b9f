"""The rollback part of the executor: completed steps undone newest first, each checkpointed,
retried when the failure is transient, and resumable when it is not."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from flexmigrate.engine.context import StepContext
from flexmigrate.engine.core import Core
from flexmigrate.engine.planning import _UNDOABLE
from flexmigrate.engine.protocol import Phase, Step
from flexmigrate.engine.report import StepReport
from flexmigrate.errors import FlexmigrateError, StepFailed, TransientError
from flexmigrate.redact import REDACT
from flexmigrate.state.model import Operation, PhaseStatus, StepState, StepStatus, now_iso


class Undo(Core):
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
            ctx = StepContext[Any](self.session, phase, ss)
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
        self, ctx: StepContext[Any], action: Callable[[StepContext[Any]], None], step: Step
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
                # told as a run's retries are: a rollback waiting in silence looks stuck
                self._ui.warn(
                    f"{step.id}: {REDACT(str(exc))} — retrying in {delay:.1f}s "
                    f"({attempt + 1}/{retries})"
                )
                self.session.sleep(delay)
            except FlexmigrateError as exc:
                if exc.exit_code == 130:
                    self.session.checkpoint()
                    raise
                self._rollback_failed(ctx, step, exc)

    def _rollback_failed(self, ctx: StepContext[Any], step: Step, exc: FlexmigrateError) -> None:
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
