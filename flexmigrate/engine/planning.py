"""Read-only parts of the executor: the plan of phases, the plan of a rollback, and the verify
of a phase that is complete."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from flexmigrate.engine.context import StepContext
from flexmigrate.engine.core import Core
from flexmigrate.engine.protocol import Phase
from flexmigrate.engine.report import StepReport
from flexmigrate.errors import FlexmigrateError, ReadOnlyViolation
from flexmigrate.redact import REDACT
from flexmigrate.state.model import StepState, StepStatus

_UNDOABLE = (StepStatus.COMPLETED, StepStatus.STARTED, StepStatus.FAILED, StepStatus.ROLLING_BACK)


class Planning(Core):
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
                done = existing is not None and existing.status is StepStatus.COMPLETED
                scratch = StepState(
                    step.id,
                    existing.status if existing else StepStatus.PENDING,
                    outputs=copy.deepcopy(existing.outputs) if existing else {},
                )
                ctx = StepContext[Any](self.session, phase, scratch)
                ctx._scratch = True
                try:
                    # A completed step shows what changed since (``Step.diff``): in-place
                    # updates, drift, and changes it refuses.
                    step_report.changes = list(step.diff(ctx) if done else step.plan(ctx))
                except ReadOnlyViolation:
                    raise
                except FlexmigrateError as exc:
                    step_report.error = REDACT(f"could not plan: {exc}")
                    report.warnings.append(f"{step.id}: {step_report.error}")
                step_report.notes = ctx.notes
            try:
                report.notes = list(phase.notes(StepContext[Any](self.session, phase)))
            except FlexmigrateError as exc:
                report.warnings.append(REDACT(f"could not describe: {exc}"))
            wanted = {step.id for step in phase.steps(self.session.runbook)}
            for ss in ps.steps:
                if ss.id not in wanted and ss.status is not StepStatus.PENDING:
                    report.notes.append(
                        f"{ss.id} ({ss.status.value}) is not among the runbook's steps now: "
                        "kept in the history, not run again"
                    )
            planned.add(phase.id)

    def plan_rollback(self, phase: Phase) -> None:
        ps = self._phase_state(phase)
        report = self._phase_report(phase)
        report.status = ps.status.value
        for step in reversed(list(phase.steps(self.session.runbook))):
            ss = ps.find_step(step.id)
            if ss is None or ss.status not in _UNDOABLE:
                continue
            ctx = StepContext[Any](
                self.session, phase, StepState(ss.id, ss.status, outputs=dict(ss.outputs))
            )
            ctx._scratch = True
            changes = list(step.plan_rollback(ctx))
            report.steps.append(
                StepReport(step.id, step.title, ss.status.value, step.reversible, changes)
            )

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
            ctx = StepContext[Any](self.session, phase, ss)
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
