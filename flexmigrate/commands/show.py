"""Terminal rendering of plans, status and history (rich tables)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flexmigrate.engine.report import Report
from flexmigrate.redact import REDACT
from flexmigrate.ui import Ui

if TYPE_CHECKING:
    from flexmigrate.engine.protocol import StatusView

_ACTION_STYLE = {
    "create": "green",
    "adopt": "cyan",
    "update": "yellow",
    "delete": "red",
    "wait": "dim",
    "no change": "dim",
    "refused": "bold red",
}


def plan_tables(ui: Ui, report: Report) -> None:
    from rich.table import Table

    console = ui.console()
    for phase in report.phases:
        table = Table(
            title=f"{phase.id} {phase.slug} — {phase.title} [{phase.status}]",
            title_justify="left",
        )
        table.add_column("step")
        table.add_column("change")
        table.add_column("resource", overflow="fold")
        table.add_column("current → desired", overflow="fold")
        for step in phase.steps:
            if step.status == "completed" and not step.changes:
                table.add_row(step.id, "[dim]done[/]", "", "")
                continue
            if step.error:
                table.add_row(step.id, "[red]?[/]", REDACT(step.error), "")
            for index, change in enumerate(step.changes):
                style = _ACTION_STYLE.get(change.action.value, "default")
                flag = " [red](irreversible)[/]" if not change.reversible else ""
                flag += " [magenta](drift)[/]" if change.drift else ""
                flag += " [red](disruptive)[/]" if change.disruptive else ""
                note = f"\n[dim]{REDACT(change.note)}[/]" if change.note else ""
                if change.instead:
                    note += f"\n[dim]instead: {REDACT(change.instead)}[/]"
                table.add_row(
                    step.id if index == 0 else "",
                    f"[{style}]{change.action.value}[/]{flag}",
                    REDACT(change.resource),
                    REDACT(f"{change.current or '—'} → {change.desired or '—'}") + note,
                )
            for note in step.notes:
                table.add_row("", "[dim]note[/]", REDACT(note), "")
        console.print(table)
        for note in phase.notes:
            ui.info(f"  note: {note}")
        for warning in phase.warnings:
            ui.warn(warning)


def status_document(
    state: Any, index: list[tuple[str, str]], runbook: str, lock: Any, views: Sequence[StatusView]
) -> dict[str, Any]:
    phases = []
    known = {phase_id for phase_id, _ in index}
    for phase_id, slug in index:
        ps = state.find_phase(phase_id) if state else None
        phases.append(_phase_entry(phase_id, slug, ps))
    if state:
        for ps in state.phases:
            if ps.id not in known:
                phases.append(_phase_entry(ps.id, ps.slug, ps))
    holder = None
    if lock is not None:
        holder = {
            "id": lock.nonce,
            "arn": lock.arn,
            "pid": lock.pid,
            "host": lock.host,
            "user": lock.user,
            "command": lock.command,
            "since": lock.since,
            "heartbeat": lock.heartbeat,
        }
    return {
        "runbook": runbook,
        "serial": state.serial if state else 0,
        "lineage": state.lineage if state else None,
        "updated_at": state.updated_at if state else None,
        "phases": phases,
        **{key: value for view in views for key, value in view.fields.items()},
        "lock": holder,
    }


def _phase_entry(phase_id: str, slug: str, ps: Any) -> dict[str, Any]:
    if ps is None:
        return {"id": phase_id, "slug": slug, "status": "pending", "steps": []}
    return {
        "id": phase_id,
        "slug": slug,
        "status": ps.status.value,
        "operation": ps.operation.value,
        "started_at": ps.started_at,
        "finished_at": ps.finished_at,
        "error": ps.error,
        "steps": [
            {
                "id": s.id,
                "status": s.status.value,
                "attempts": s.attempts,
                "started_at": s.started_at,
                "finished_at": s.finished_at,
                "error": s.error,
            }
            for s in ps.steps
        ],
    }


def status_text(
    doc: dict[str, Any], location: str, views: Sequence[StatusView], *, color: bool
) -> None:
    """Plain aligned text through click (no rich): ``status`` must start fast."""
    import click

    def out(text: str = "", style: str | None = None, bold: bool = False) -> None:
        text = REDACT(text)
        if color and (style or bold):
            text = click.style(text, fg=style, bold=bold or None)
        # colour only on a terminal (click strips it elsewhere), never with --no-color
        click.echo(text, color=None if color else False)

    out(f"runbook {doc['runbook']} — state {location} (serial {doc['serial']})", bold=True)
    rows = [("PHASE", "STATUS", "STEPS", "DETAIL")]
    styles: list[str | None] = [None]
    colors = {"completed": "green", "failed": "red", "running": "yellow", "rolled_back": "cyan"}
    for phase in doc["phases"]:
        steps = phase["steps"]
        done = sum(1 for s in steps if s["status"] == "completed")
        status = phase["status"]
        if phase.get("operation") == "rollback" and status in ("running", "failed"):
            status += " (rollback)"
        detail = phase.get("error") or ""
        current = next(
            (s for s in steps if s["status"] in ("started", "failed", "rolling_back")), None
        )
        if current and not detail:
            detail = f"at {current['id']} ({current['status']}, attempt {current['attempts']})"
        rows.append(
            (
                f"{phase['id']} {phase['slug']}",
                status,
                f"{done}/{len(steps)}" if steps else "",
                detail,
            )
        )
        styles.append(colors.get(phase["status"]))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row, style in zip(rows, styles, strict=True):
        line = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3]))
        out(f"{line}  {row[3]}".rstrip(), style, bold=row is rows[0])
    for view in views:
        for line in view.lines:
            out(line)
        for problem in view.problems:
            out(f"  {problem}", "red")
    lock = doc.get("lock")
    if lock:
        who = f"{lock['arn']}, " if lock.get("arn") else ""
        out(
            f"lock {lock['id']}: held by {lock['command']!r} ({who}pid {lock['pid']} on "
            f"{lock['host']}, since {lock['since']}, heartbeat {lock['heartbeat']})",
            "yellow",
        )
    else:
        out("lock: free")


def history_text(ui: Ui, events: list[dict[str, Any]]) -> None:
    skip = {"ts", "event", "phase", "step"}
    for event in events:
        where = "/".join(x for x in (event.get("phase"), event.get("step")) if x)
        extra = " ".join(f"{k}={v}" for k, v in event.items() if k not in skip)
        ui.info(
            f"{event.get('ts', '')}  {event.get('event', '?'):<18} {where:<32} {extra}".rstrip()
        )
