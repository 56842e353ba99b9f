"""Reports as files: Markdown for a pull request, JSON for machines, and one self-contained
HTML page (inline CSS, no scripts, no external assets) to send to a team lead."""

from __future__ import annotations

import html
import json
from pathlib import Path

from flexmigrate.durations import format_duration
from flexmigrate.engine.report import PhaseReport, Report
from flexmigrate.errors import InvalidInput
from flexmigrate.host import write_atomic
from flexmigrate.redact import REDACT

FORMATS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".json": "json",
    ".html": "html",
    ".htm": "html",
}


def report_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInput(
            f"--report {path}: unknown report type {path.suffix or '(none)'!r}; "
            "use .md, .json or .html"
        )
    return fmt


def write_report(report: Report, path: Path) -> Path:
    fmt = report_format(path)
    if fmt == "json":
        text = json.dumps(report.to_dict(), indent=2, default=str)
    elif fmt == "markdown":
        text = render_markdown(report)
    else:
        text = render_html(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, REDACT(text, limit=None).encode())
    return path


def _title(report: Report) -> str:
    kinds = {
        "plan": "Plan",
        "run": "Run report",
        "resume": "Run report",
        "rollback": "Rollback report",
        "rehearsal": "Rehearsal report",
        "verify": "Verification",
        "shift": "Traffic shift report",
    }
    return f"flexmigrate {kinds.get(report.kind, report.kind)} — {report.runbook}"


def _duration(seconds: float | None) -> str:
    return "" if seconds is None else format_duration(seconds)


def _value(value: object) -> str:
    """A summary value as a person reads it: a mapping as "key value, …"."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", "<br>")


def render_markdown(report: Report) -> str:
    lines = [f"# {_title(report)}", ""]
    lines.append(
        f"Generated {report.generated_at} · account {report.account or '?'} · "
        f"region {report.region or '?'} · exit code {report.exit_code}"
    )
    if report.message:
        lines += ["", f"**{report.message}**"]
    if report.summary:
        lines += ["", "| | |", "|---|---|"]
        lines += [f"| {_cell(k)} | {_cell(_value(v))} |" for k, v in report.summary.items()]
    for phase in report.phases:
        lines += ["", *_markdown_phase(phase)]
    return "\n".join(lines) + "\n"


def _markdown_phase(phase: PhaseReport) -> list[str]:
    took = f" · {_duration(phase.duration)}" if phase.duration is not None else ""
    lines = [f"## {phase.id} {phase.slug} — {phase.title}", "", f"Status: **{phase.status}**{took}"]
    if phase.checks:
        lines += ["", "### Preflight", "", "| check | result | detail |", "|---|---|---|"]
        for check in phase.checks:
            detail = check.detail + (f" → {check.fix}" if check.fix else "")
            lines.append(f"| {_cell(check.title)} | {check.status.value} | {_cell(detail)} |")
    if phase.steps:
        lines += ["", "### Steps", ""]
        for step in phase.steps:
            extra = f" ({_duration(step.duration)})" if step.duration is not None else ""
            undo = "" if step.reversible else " — **not reversible**"
            lines.append(f"- **{step.id}** {step.title}: {step.status}{extra}{undo}")
            if step.error:
                lines.append(f"  - error: {step.error}")
            for change in step.changes:
                arrow = f"{change.current or '—'} → {change.desired or '—'}"
                flag = "" if change.reversible else " (irreversible)"
                note = f" — {change.note}" if change.note else ""
                lines.append(f"  - {change.action.value} {change.resource}: {arrow}{flag}{note}")
            lines += [f"  - {note}" for note in step.notes]
    if phase.notes:
        lines += ["", "### Notes", ""] + [f"- {n}" for n in phase.notes]
    if phase.warnings:
        lines += ["", "### Warnings", ""] + [f"- {w}" for w in phase.warnings]
    if phase.drift:
        lines += ["", "### Drift", ""] + [f"- {d}" for d in phase.drift]
    return lines


_CSS = " ".join(
    [
        "body{font:14px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;",
        "max-width:1100px;color:#1d2125;padding:0 1em}",
        "h1{font-size:1.5em;margin-bottom:.2em}",
        "h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}",
        "h3{font-size:1em;margin:1.2em 0 .4em}.meta{color:#5e6c84}",
        "table{border-collapse:collapse;width:100%;margin:.4em 0}",
        "td,th{border:1px solid #dfe1e6;padding:4px 8px;text-align:left;vertical-align:top}",
        "th{background:#f4f5f7}.pass,.completed{color:#216e4e}.warn,.running,.started{color:#a54800}",
        ".fail,.failed{color:#ae2a19;font-weight:600}.skip,.pending{color:#6b778c}",
        ".rolled_back{color:#0055cc}",
        ".banner{padding:.6em 1em;border-radius:4px;background:#f4f5f7;margin:1em 0}",
        ".irrev{color:#ae2a19;font-weight:600}",
        "code{background:#f4f5f7;padding:0 3px;border-radius:3px}ul{margin:.2em 0 .6em}",
    ]
)


def render_html(report: Report) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{e(_title(report))}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(_title(report))}</h1>",
        f"<p class=meta>Generated {e(report.generated_at)} · account {e(report.account or '?')} · "
        f"region {e(report.region or '?')} · exit code {report.exit_code}</p>",
    ]
    if report.message:
        parts.append(f"<div class=banner>{e(report.message)}</div>")
    if report.summary:
        parts.append("<table>")
        parts += [
            f"<tr><th>{e(str(k))}</th><td>{e(_value(v))}</td></tr>"
            for k, v in report.summary.items()
        ]
        parts.append("</table>")
    for phase in report.phases:
        parts += _html_phase(phase)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _html_phase(phase: PhaseReport) -> list[str]:
    e = html.escape
    took = f" · {_duration(phase.duration)}" if phase.duration is not None else ""
    out = [
        f"<h2>{e(phase.id)} {e(phase.slug)} — {e(phase.title)}</h2>",
        f"<p>Status: <span class={e(phase.status)}>{e(phase.status)}</span>{e(took)}</p>",
    ]
    if phase.checks:
        out.append("<h3>Preflight</h3><table><tr><th>check</th><th>result</th><th>detail</th></tr>")
        for check in phase.checks:
            fix = f"<br>→ {e(check.fix)}" if check.fix else ""
            out.append(
                f"<tr><td>{e(check.title)}</td><td class={check.status.value}>{check.status.value}"
                f"</td><td>{e(check.detail)}{fix}</td></tr>"
            )
        out.append("</table>")
    if phase.steps:
        out.append(
            "<h3>Steps</h3><table><tr><th>step</th><th>status</th><th>changes</th><th>time</th></tr>"
        )
        for step in phase.steps:
            items = []
            for change in step.changes:
                irrev = " <span class=irrev>irreversible</span>" if not change.reversible else ""
                note = f" — {e(change.note)}" if change.note else ""
                items.append(
                    f"<li><b>{e(change.action.value)}</b> {e(change.resource)}: "
                    f"{e(change.current or '—')} → {e(change.desired or '—')}{irrev}{note}</li>"
                )
            items += [f"<li>{e(n)}</li>" for n in step.notes]
            if step.error:
                items.append(f"<li class=fail>{e(step.error)}</li>")
            body = f"<ul>{''.join(items)}</ul>" if items else ""
            undo = "" if step.reversible else " <span class=irrev>not reversible</span>"
            out.append(
                f"<tr><td><code>{e(step.id)}</code><br>{e(step.title)}{undo}</td>"
                f"<td class={e(step.status)}>{e(step.status)}</td><td>{body}</td>"
                f"<td>{e(_duration(step.duration))}</td></tr>"
            )
        out.append("</table>")
    for title, items in (
        ("Notes", phase.notes),
        ("Warnings", phase.warnings),
        ("Drift", phase.drift),
    ):
        if items:
            out.append(
                f"<h3>{title}</h3><ul>" + "".join(f"<li>{e(i)}</li>" for i in items) + "</ul>"
            )
    return out
