"""Changes to a phase that is complete: the difference between what the runbook now asks for
and what AWS and Kubernetes report (``Step.diff``), applied in place (``Step.update``), and
the latest of them undone (``Step.undo_update``) without tearing the phase down.

An update is a journaled, checkpointed operation of the phase: while it runs the phase is
``running`` with operation ``update`` and the update in flight is recorded in the phase's own
outputs (which steps, which are done, each step's outputs before it), so a failure or a crash
leaves state that ``resume`` continues. Before a step's ``update`` the step's ``previous_*``
outputs are cleared; the step records what it replaces only when absent, so an update applied
again after a crash still knows what was there before the first attempt. A finished update is
kept in the phase's history with those snapshots; ``rollback PHASE --change`` calls
``undo_update`` of its steps, newest first, and puts the snapshots back — the history is a
stack, each undo returns to the update before.

A change that cannot be made in place is refused before anything is called (exit 2), with why
and what to do instead. Drift (a change made outside flexmigrate) and disruptive updates are
shown and confirmed first: on a terminal by asking, elsewhere only with ``--yes``.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Sequence
from typing import Any

from flexmigrate.engine import checks as builtin
from flexmigrate.engine.context import StepContext
from flexmigrate.engine.planning import Planning
from flexmigrate.engine.protocol import Action, Change, CheckStatus, Phase, Step
from flexmigrate.engine.report import StepReport
from flexmigrate.errors import (
    FlexmigrateError,
    InvalidInput,
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

IN_FLIGHT = "update_in_flight"
HISTORY = "updates"
_PREVIOUS = "previous_"


def describe(change: Change) -> str:
    """One line for a change: ``resource: current → desired`` and its kind."""
    kind = "drift" if change.drift else change.action.value
    line = f"{kind}: {change.resource}: {change.current or '—'} → {change.desired or '—'}"
    if change.note:
        line += f" ({change.note})"
    if change.instead:
        line += f"; instead: {change.instead}"
    return line


def refusal(phase: Phase, refused: Sequence[Change]) -> InvalidInput:
    lines = "\n  ".join(describe(c) for c in refused)
    return InvalidInput(
        f"{phase.id} ({phase.slug}) is complete and the runbook asks for changes that cannot "
        f"be made in place; nothing was changed:\n  {lines}",
        hint=next((c.instead for c in refused if c.instead), None),
    )


def history(ps: PhaseState) -> list[dict[str, Any]]:
    value = ps.recorded.get(HISTORY)
    return [dict(entry) for entry in value] if isinstance(value, list) else []


class Updates(Planning):
    # -- read-only ------------------------------------------------------------------------
    def diff(self, phase: Phase) -> list[tuple[Step, list[Change]]]:
        """Each completed step's difference, read with scratch copies of its outputs."""
        ps = self._phase_state(phase)
        found: list[tuple[Step, list[Change]]] = []
        for step in phase.steps(self.session.runbook):
            ss = ps.find_step(step.id)
            if ss is None or ss.status is not StepStatus.COMPLETED:
                continue
            scratch = StepState(ss.id, ss.status, outputs=copy.deepcopy(ss.outputs))
            ctx = StepContext[Any](self.session, phase, scratch)
            ctx._scratch = True
            found.append((step, list(step.diff(ctx))))
        return found

    # -- run of a completed phase ---------------------------------------------------------
    def converge(self, phase: Phase) -> None:
        """Apply what the runbook changed (and revert drift, after asking); with nothing to
        change, verify the phase as before."""
        ps = self._phase_state(phase)
        inflight = ps.recorded.get(IN_FLIGHT)
        if isinstance(inflight, dict) and ps.operation is Operation.UPDATE:
            self._continue(phase, ps, dict(inflight))
            return
        self._enter(phase)
        found = self.diff(phase)
        changes = [c for _, cs in found for c in cs]
        refused = [c for c in changes if c.action is Action.REFUSE]
        if refused:
            raise refusal(phase, refused)
        pending = [(s, cs) for s, cs in found if any(c.action is Action.UPDATE for c in cs)]
        if not pending:
            self.verify(phase)
            return
        report = self._phase_report(phase)
        report.status = ps.status.value
        self._ui.heading(f"{phase.id} {phase.slug} is complete — the runbook or the world changed")
        for step, cs in pending:
            report.steps.append(StepReport(step.id, step.title, "pending", step.reversible, cs))
            for change in cs:
                if change.action is Action.UPDATE:
                    self._ui.info(f"  {step.id}: {REDACT(describe(change))}")
        self._confirm(phase, [c for _, cs in pending for c in cs])
        self._identity(phase)
        number = max([int(e.get("id", 0)) for e in history(ps)] + [0]) + 1
        before = {}
        for step, _ in pending:
            ss = ps.step(step.id)
            before[step.id] = copy.deepcopy(ss.outputs)
            for key in [k for k in ss.outputs if k.startswith(_PREVIOUS)]:
                ss.outputs.pop(key)
        record = {
            "id": number,
            "undo": False,
            "steps": [s.id for s, _ in pending],
            "done": [],
            "changes": [c.to_dict() for _, cs in pending for c in cs if c.action is Action.UPDATE],
            "before": before,
            "started_at": now_iso(),
        }
        self._start(phase, ps, record, "update_started")
        self._continue(phase, ps, record)

    # -- rollback --change -----------------------------------------------------------------
    def undo_change(self, phase: Phase) -> None:
        """Undo the latest update of ``phase``: its steps' ``undo_update``, newest first, then
        their outputs as they were before it."""
        ps = self._phase_state(phase)
        inflight = ps.recorded.get(IN_FLIGHT)
        if isinstance(inflight, dict) and ps.operation is Operation.UPDATE:
            if not inflight.get("undo"):
                raise InvalidInput(
                    f"update {inflight.get('id')} of {phase.id} ({phase.slug}) did not finish; "
                    "finish it with `flexmigrate resume` first, then roll it back"
                )
            self._continue(phase, ps, dict(inflight))
            return
        entries = history(ps)
        if ps.status is not PhaseStatus.COMPLETED or not entries:
            raise InvalidInput(
                f"{phase.id} ({phase.slug}) has no update to roll back"
                + ("" if ps.status is PhaseStatus.COMPLETED else f" (it is {ps.status.value})"),
                hint="`flexmigrate rollback PHASE` without --change undoes the whole phase",
            )
        latest = entries[-1]
        self._identity(phase)
        record = {**latest, "undo": True, "done": [], "started_at": now_iso()}
        self._ui.heading(f"Rolling back update {latest['id']} of {phase.id} {phase.slug}")
        for change in latest.get("changes") or []:
            self._ui.info(
                f"  {change.get('resource')}: {change.get('desired')} → {change.get('current')}"
            )
        self._start(phase, ps, record, "update_rollback_started")
        self._continue(phase, ps, record)

    def plan_undo_change(self, phase: Phase) -> None:
        ps = self._phase_state(phase)
        entries = history(ps)
        report = self._phase_report(phase)
        report.status = ps.status.value
        if not entries:
            report.warnings.append(f"{phase.id} has no update to roll back")
            return
        latest = entries[-1]
        for step_id in reversed(latest.get("steps") or []):
            changes = [
                Change(Action.UPDATE, str(c["resource"]), str(c["desired"]), str(c["current"]))
                for c in latest.get("changes") or []
            ]
            report.steps.append(StepReport(step_id, f"undo update {latest['id']}", changes=changes))
            latest["changes"] = []  # shown once, with the first step undone

    # -- the update itself ------------------------------------------------------------------
    def _start(self, phase: Phase, ps: PhaseState, record: dict[str, Any], event: str) -> None:
        ps.status = PhaseStatus.RUNNING
        ps.operation = Operation.UPDATE
        ps.error = None
        ps.recorded[IN_FLIGHT] = record
        self.session.journal(
            event, phase=phase.id, update=record["id"], changes=record.get("changes") or []
        )
        self._checkpoint(f"checkpoint:{phase.id}:updating")

    def _continue(self, phase: Phase, ps: PhaseState, record: dict[str, Any]) -> None:
        undo = bool(record.get("undo"))
        steps = {s.id: s for s in phase.steps(self.session.runbook)}
        order = list(record.get("steps") or [])
        if undo:
            order.reverse()
        report = self._phase_report(phase)
        ps.status = PhaseStatus.RUNNING
        ps.error = None
        for step_id in order:
            if step_id in record["done"]:
                continue
            step = steps.get(step_id)
            if step is None:
                raise InvalidInput(
                    f"update {record['id']} of {phase.id} names step {step_id}, which the "
                    "phase no longer has"
                )
            ss = ps.step(step_id)
            step_report = next((r for r in report.steps if r.id == step_id), None)
            if step_report is None:
                step_report = StepReport(step.id, step.title, reversible=step.reversible)
                report.steps.append(step_report)
            self._enter(phase, step_id)
            ctx = StepContext[Any](self.session, phase, ss)
            began = self.session.clock()
            self.session.journal("update_step_started", update=record["id"], undo=undo)
            self._ui.step("started", phase.id, step.id, f"{'undo ' if undo else ''}update", None)
            if undo:
                self._attempt(phase, ps, ctx, step.undo_update, lambda _ctx: ())
                ss.outputs = copy.deepcopy((record.get("before") or {}).get(step_id) or {})
            else:
                self._attempt(phase, ps, ctx, step.update, step.verify)
            ss.finished_at = now_iso()
            record["done"].append(step_id)
            ps.recorded[IN_FLIGHT] = record
            step_report.status = "completed"
            step_report.duration = self.session.clock() - began
            step_report.notes += ctx.notes
            self.session.journal("update_step_completed", update=record["id"], undo=undo)
            self._checkpoint(f"checkpoint:{phase.id}/{step_id}:updated")
            self._ui.step("completed", phase.id, step.id, "update", step_report.duration)
        entries = history(ps)
        if undo:
            entries = [e for e in entries if e.get("id") != record["id"]]
        else:
            kept = {k: v for k, v in record.items() if k not in ("done", "undo")}
            entries.append({**kept, "finished_at": now_iso()})
        ps.recorded[HISTORY] = entries
        ps.recorded.pop(IN_FLIGHT, None)
        ps.status = PhaseStatus.COMPLETED
        ps.operation = Operation.APPLY
        ps.finished_at = now_iso()
        report.status = ps.status.value
        self._enter(phase)
        self.session.journal(
            "update_rolled_back" if undo else "update_completed",
            phase=phase.id,
            update=record["id"],
        )
        self._checkpoint(f"checkpoint:{phase.id}:updated")
        self._ui.success(
            f"{phase.id} {phase.slug}: update {record['id']} "
            + ("rolled back" if undo else "applied and verified")
        )

    def _attempt(
        self,
        phase: Phase,
        ps: PhaseState,
        ctx: StepContext[Any],
        action: Callable[[StepContext[Any]], None],
        check: Callable[[StepContext[Any]], Sequence[str]],
    ) -> None:
        retries = self.session.runbook.execution.step_retries
        for attempt in range(retries + 1):
            self.session.check_interrupt()
            try:
                action(ctx)
                problems = list(check(ctx))
                if problems:
                    raise StepFailed(
                        f"{phase.id}/{ctx.step.id} updated but its check failed: "
                        + "; ".join(problems)
                    )
                return
            except TransientError as exc:
                if attempt >= retries:
                    self._failed(phase, ps, ctx, exc)
                delay = min(30.0, 2.0**attempt) * random.uniform(0.5, 1.0)  # noqa: S311 - jitter
                self.session.journal("step_retry", error=REDACT(str(exc)), delay=round(delay, 2))
                self.session.sleep(delay)
            except FlexmigrateError as exc:
                if exc.exit_code == 130:
                    self.session.checkpoint()
                    raise
                self._failed(phase, ps, ctx, exc)
            except Exception as exc:  # noqa: BLE001 - a bug: recorded, then re-raised for exit 70
                self._failed(phase, ps, ctx, exc)

    def _failed(
        self, phase: Phase, ps: PhaseState, ctx: StepContext[Any], exc: BaseException
    ) -> None:
        message = REDACT(str(exc))
        ps.status = PhaseStatus.FAILED
        ps.error = f"update of {ctx.step.id}: {message}"
        self.session.journal("update_step_failed", error=message)
        self.session.checkpoint()
        self._ui.step("failed", phase.id, ctx.step.id, "update", None)
        if isinstance(exc, FlexmigrateError):
            raise StepFailed(
                f"update of {phase.id}/{ctx.step.id} failed: {message}",
                hint=exc.hint
                or "fix the cause, then `flexmigrate resume` continues the update "
                f"(or `flexmigrate rollback {phase.slug} --change` once it is done)",
            ) from exc
        raise exc

    # -- asking ------------------------------------------------------------------------------
    def _confirm(self, phase: Phase, changes: Sequence[Change]) -> None:
        asked = [c for c in changes if c.action is Action.UPDATE and (c.drift or c.disruptive)]
        if not asked or self.session.yes:
            return
        what = "; ".join(describe(c) for c in asked)
        if self._ui.confirm(f"{phase.id} will change: {what}. Go ahead?"):
            return
        raise InvalidInput(
            f"{phase.id} ({phase.slug}) would revert drift or make a disruptive change "
            f"({what}): confirm with --yes; nothing was changed"
        )

    def _identity(self, phase: Phase) -> None:
        outcome = builtin.IDENTITY.run(StepContext[Any](self.session, phase))
        if outcome.status is CheckStatus.FAIL:
            raise PreflightFailed(f"update refused: {outcome.detail}", hint=outcome.fix)
