"""What the executor's parts share: the session, the report being built, checkpoints and the
preflight every run, plan and manual step begins with."""

from __future__ import annotations

from typing import Any

from flexmigrate import failpoints
from flexmigrate.engine import checks as builtin
from flexmigrate.engine.context import Session, StepContext
from flexmigrate.engine.protocol import Check, CheckResult, CheckStatus, Phase, failed
from flexmigrate.engine.report import PhaseReport, Report
from flexmigrate.errors import FlexmigrateError, PreflightFailed, ReadOnlyViolation
from flexmigrate.redact import REDACT
from flexmigrate.state.model import PhaseState
from flexmigrate.ui import Ui


class Core:
    def __init__(self, session: Session, report: Report) -> None:
        self.session = session
        self.report = report

    # -- helpers --------------------------------------------------------------------------
    @property
    def _ui(self) -> Ui:
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
        ctx = StepContext[Any](self.session, phase)
        all_checks: list[Check] = [
            builtin.PLACEHOLDERS,
            builtin.IDENTITY,
            builtin.previous_phase(planned_before),
        ]
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
