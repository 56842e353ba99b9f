"""The migration report as a file: one self-contained HTML page (inline CSS and SVG, no script,
font or link to anything), Markdown, or JSON. ``flexmigrate report`` writes it alone;
``run --report`` and ``rehearse --report`` write the same report with the command's own
outcome (and preflight) on top."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from flexmigrate.chart import svg
from flexmigrate.durations import format_duration
from flexmigrate.engine.migration import Migration, TrafficStep
from flexmigrate.engine.report import Report
from flexmigrate.host import write_atomic
from flexmigrate.redact import REDACT
from flexmigrate.render import render_markdown, report_format

_KINDS = {"run": "run", "resume": "resume", "rehearsal": "rehearsal", "rollback": "rollback"}


def write_migration(migration: Migration, path: Path, command: Report | None = None) -> Path:
    fmt = report_format(path)
    if fmt == "json":
        document: dict[str, Any] = (
            command.to_dict() if command is not None else {"kind": "migration"}
        )
        document.setdefault("runbook", migration.runbook)
        document["migration"] = migration.to_dict()
        text = json.dumps(document, indent=2, default=str)
    elif fmt == "markdown":
        text = markdown(migration, command)
    else:
        text = page(migration, command)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, REDACT(text, limit=None).encode())
    return path


def _took(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds:.1f}s" if seconds < 10 else format_duration(seconds)


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.2f} %"


def _secs(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}s"


def _money(value: object) -> str:
    return "unknown" if not isinstance(value, int | float) else f"${value:,.2f}"


def _title(migration: Migration, command: Report | None) -> str:
    what = "migration report"
    if command is not None and command.kind in _KINDS:
        what = f"migration report (after {_KINDS[command.kind]})"
    return f"flexmigrate {what} — {migration.runbook}"


# -- HTML ---------------------------------------------------------------------------------------

_CSS = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0 auto;
max-width:1100px;color:#172b4d;padding:1em}
h1{font-size:1.45em;margin:.2em 0}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid
#dcdfe4;padding-bottom:.2em}h3{font-size:1em;margin:1.2em 0 .4em}
.meta{color:#44546f}.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;margin:.4em 0;font-size:.93em}
td,th{border:1px solid #dcdfe4;padding:4px 7px;text-align:left;vertical-align:top;
overflow-wrap:anywhere}
th{background:#f1f2f4}td.num{text-align:right;white-space:nowrap}
code{background:#f1f2f4;padding:0 3px;border-radius:3px;word-break:break-all}
.completed,.passed,.pass{color:#216e4e}.failed,.breached,.fail{color:#ae2a19;font-weight:600}
.running,.paused,.baking,.inconclusive{color:#a54800}.pending,.rolled_back{color:#44546f}
.banner{padding:.6em 1em;border-radius:4px;background:#f1f2f4;margin:1em 0}
.banner.bad{background:#ffeceb}svg.cutover{width:100%;height:auto;display:block}
ul{margin:.2em 0 .4em;padding-left:1.2em}.legend span{margin-right:1em}
.chart{overflow-x:auto}
@media (max-width:640px){body{font-size:14px;padding:.5em}td,th{padding:3px 4px}
svg.cutover{min-width:620px}}
@media print{body{max-width:none;font-size:11px}.scroll{overflow:visible}
h2,h3{break-after:avoid}table,svg{break-inside:avoid}a{color:inherit}
svg.cutover{min-width:0}}
"""


def page(migration: Migration, command: Report | None = None) -> str:
    e = html.escape
    title = _title(migration, command)
    out = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        '<meta name=viewport content="width=device-width,initial-scale=1">',
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f"<p class=meta>Generated {e(migration.generated_at)} from the state and journal · "
        f"account {e(migration.account or '?')} · region {e(migration.region or '?')}</p>",
    ]
    if command is not None:
        bad = " bad" if command.exit_code else ""
        message = command.message or "completed"
        out.append(
            f"<div class='banner{bad}'>This {e(command.kind)}: exit code {command.exit_code} — "
            f"{e(message)}</div>"
        )
    out += _overview(migration)
    out += _traffic(migration)
    out += _backup(migration)
    out += _reversible(migration)
    out += _cost(migration)
    if migration.undelivered:
        out.append("<h2>Notifications not delivered</h2><ul>")
        out += [
            f"<li>{e(str(u.get('ts', '')))} {e(str(u.get('target', '')))} "
            f"{e(str(u.get('kind', '')))}: {e(str(u.get('error', '')))}</li>"
            for u in migration.undelivered
        ]
        out.append("</ul>")
    out += _phases(migration)
    if command is not None:
        from flexmigrate.render import _html_phase

        out.append(f"<h2>This {e(command.kind)} in detail</h2>")
        for phase in command.phases:
            out += ["<div class=scroll>", *_html_phase(phase), "</div>"]
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(rows_cell for rows_cell in row) + "</tr>" for row in rows)
    return [f"<div class=scroll><table><tr>{th}</tr>{body}</table></div>"]


def _td(text: object, cls: str = "") -> str:
    klass = f" class={html.escape(cls)}" if cls else ""
    return f"<td{klass}>{html.escape(str(text))}</td>"


def _overview(migration: Migration) -> list[str]:
    rows = [
        [
            _td(f"{p.id} {p.slug}"),
            _td(p.status, p.status),
            _td(_when(p.started_at)),
            _td(_when(p.finished_at)),
            _td(_took(p.duration), "num"),
        ]
        for p in migration.phases
    ]
    return ["<h2>Phases</h2>", *_table(["phase", "status", "started", "finished", "took"], rows)]


def _traffic(migration: Migration) -> list[str]:
    e = html.escape
    if not migration.traffic and not migration.traffic_now:
        return []
    out = ["<h2>Traffic shift</h2>"]
    now = migration.traffic_now or {}
    if now:
        out.append(
            f"<p>Now (as last recorded, {e(str(now.get('updated_at', '?')))}): EC2 "
            f"<b>{e(str(now.get('ec2_percent')))} %</b> / EKS <b>{e(str(now.get('eks_percent')))}"
            f" %</b> on {e(str(now.get('where', '?')))}.</p>"
        )
    if migration.traffic:
        out.append(
            f"<p>{len(migration.traffic)} weight change(s), {migration.evaluations()} gate "
            "evaluation(s). Each dot on the share line is one evaluation (green pass, red fail, "
            "grey inconclusive); dashed red lines are the limits.</p>"
        )
        out.append(f"<div class=chart>{svg(migration.traffic)}</div>")
    for step in migration.traffic:
        out += _traffic_step(step)
    return out


def _traffic_step(step: TrafficStep) -> list[str]:
    e = html.escape
    limits = step.limits
    lim = ""
    if limits:
        lim = (
            f" · limits 5xx {_pct(limits.get('max_5xx_rate'))}, p99 "
            f"{_secs(limits.get('max_p99_latency'))}, bake {_took(limits.get('bake_seconds'))}"
        )
    out = [
        f"<h3 id='step-{e(step.step)}-{step.percent}'>{e(step.step)}: EKS "
        f"{step.percent} % — <span class={e(step.outcome)}>{e(step.outcome)}</span></h3>",
        f"<p class=meta>weights written {e(_iso(step.shifted_at))} · "
        f"{len(step.points)} evaluation(s){e(lim)}</p>",
    ]
    if step.markers:
        out.append(
            "<ul>"
            + "".join(
                f"<li class={e(m.kind)}>{e(_iso(m.at))} {e(m.text)}</li>" for m in step.markers
            )
            + "</ul>"
        )
    rows = []
    for p in step.points:
        detail = "; ".join(
            f"{r.get('gate')}: {r.get('detail')}" for r in p.readings if r.get("result") != "pass"
        )
        rows.append(
            [
                _td(_iso(p.at)),
                _td(_took(p.elapsed), "num"),
                _td(p.result, p.result),
                _td(_pct(p.rate_5xx), "num"),
                _td(_secs(p.p99), "num"),
                _td(detail or "all gates pass"),
            ]
        )
    if rows:
        out += _table(["at", "into bake", "result", "EKS 5xx", "EKS p99", "readings"], rows)
    return out


def _backup(migration: Migration) -> list[str]:
    b = migration.backup
    if not b:
        return []
    e = html.escape
    return [
        "<h2>AMI backup</h2>",
        f"<p><code>{e(str(b.get('image_id')))}</code> ({e(str(b.get('image_name') or ''))}) of "
        f"instance <code>{e(str(b.get('instance_id') or '?'))}</code>, taken "
        f"{e(_when(b.get('created_at')) or '?')} by {e(str(b.get('phase')))}/"
        f"{e(str(b.get('step')))}.</p>",
    ]


def _reversible(migration: Migration) -> list[str]:
    e = html.escape
    out = ["<h2>What can still be undone</h2>"]
    if not migration.reversible:
        out.append("<p>Nothing: no phase has changed anything that is still in place.</p>")
    else:
        rows = [
            [_td(r.what), f"<td><code>{e(r.command)}</code></td>"] for r in migration.reversible
        ]
        out += _table(["what", "command"], rows)
    if migration.irreversible:
        out.append("<p>Done and not undoable as such:</p><ul>")
        out += [f"<li>{e(i)}</li>" for i in migration.irreversible]
        out.append("</ul>")
    return out


def _cost(migration: Migration) -> list[str]:
    cost = migration.cost
    if not cost:
        return []
    e = html.escape
    out = ["<h2>Monthly cost, before and after</h2>"]
    table = cost.get("table") or {}
    out.append(
        f"<p class=meta>Prices: {e(str(table.get('path', '?')))}, dated "
        f"{e(str(table.get('date', '?')))} ({e(str(table.get('region', '?')))}, "
        f"{e(str(table.get('currency', 'USD')))}). Unknown prices are shown as unknown and "
        "make the total unknown.</p>"
    )
    rows = []
    for side in ("before", "after"):
        for item in cost.get(side) or []:
            rows.append(
                [
                    _td(side),
                    _td(item.get("item")),
                    _td(item.get("quantity"), "num"),
                    _td(_money(item.get("unit_monthly")), "num"),
                    _td(_money(item.get("monthly")), "num"),
                    _td(
                        f"{item.get('region', '')} {item.get('date', '')} {item.get('source', '')}"
                    ),
                ]
            )
        total = cost.get(f"{side}_total")
        rows.append([_td(""), f"<td><b>{side} total</b></td>", _td(""), _td("")])
        rows[-1].append(f"<td class=num><b>{e(_money(total))}</b></td>")
        rows[-1].append(_td(""))
    out += _table(["", "item", "qty", "unit / month", "month", "price: region, date, source"], rows)
    plan = cost.get("plan_estimate")
    if plan:
        out.append(
            f"<p><b>The plan's estimate</b> ({e(str(plan.get('source', '')))}): before "
            f"{e(_money(plan.get('before')))} / month, after {e(_money(plan.get('after')))} / "
            "month.</p>"
        )
    return out


def _phases(migration: Migration) -> list[str]:
    e = html.escape
    out = ["<h2>Phase by phase</h2>"]
    for phase in migration.phases:
        out.append(
            f"<h3>{e(phase.id)} {e(phase.slug)} — {e(phase.title)} "
            f"<span class={e(phase.status)}>{e(phase.status)}</span></h3>"
        )
        if phase.error:
            out.append(f"<p class=fail>{e(phase.error)}</p>")
        rows = []
        for s in phase.steps:
            created = "".join(f"<li>{e(k)}: <code>{e(v)}</code></li>" for k, v in s.created)
            changes = "".join(f"<li><code>{e(c)}</code></li>" for c in s.changes)
            error = f"<p class=fail>{e(s.error)}</p>" if s.error else ""
            rows.append(
                [
                    f"<td><code>{e(s.id)}</code><br>{e(s.title)}</td>",
                    _td(s.status, s.status),
                    _td(_when(s.started_at)),
                    _td(_took(s.duration), "num"),
                    f"<td>{'<ul>' + created + '</ul>' if created else ''}{error}</td>",
                    f"<td>{'<ul>' + changes + '</ul>' if changes else ''}</td>",
                ]
            )
        if rows:
            out += _table(["step", "status", "started", "took", "recorded", "AWS changes"], rows)
    return out


def _when(text: str | None) -> str:
    """An ISO timestamp as people read it: to the second."""
    if not text:
        return ""
    return text.replace("T", " ")[:19] + "Z"


def _iso(epoch: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


# -- Markdown -----------------------------------------------------------------------------------


def markdown(migration: Migration, command: Report | None = None) -> str:
    lines: list[str] = []
    if command is not None:
        lines += [render_markdown(command).rstrip(), ""]
    lines += [f"# {_title(migration, command)}", ""]
    lines.append(
        f"Generated {migration.generated_at} from the state and journal · account "
        f"{migration.account or '?'} · region {migration.region or '?'}"
    )
    lines += ["", "| phase | status | started | finished | took |", "|---|---|---|---|---|"]
    for p in migration.phases:
        lines.append(
            f"| {p.id} {p.slug} | {p.status} | {p.started_at or ''} | {p.finished_at or ''} | "
            f"{_took(p.duration)} |"
        )
    if migration.traffic:
        lines += ["", "## Traffic shift", ""]
        for step in migration.traffic:
            lines.append(f"### {step.step}: EKS {step.percent} % — {step.outcome}")
            lines += [f"- {_iso(m.at)} {m.text}" for m in step.markers]
            lines += ["", "| at | result | EKS 5xx | EKS p99 |", "|---|---|---|---|"]
            lines += [
                f"| {_iso(p.at)} | {p.result} | {_pct(p.rate_5xx)} | {_secs(p.p99)} |"
                for p in step.points
            ]
            lines.append("")
    if migration.backup:
        b = migration.backup
        lines += ["## AMI backup", "", f"`{b.get('image_id')}` of `{b.get('instance_id')}`", ""]
    lines += ["## What can still be undone", ""]
    lines += [f"- {r.what}: `{r.command}`" for r in migration.reversible] or ["- nothing"]
    if migration.cost:
        cost = migration.cost
        table = cost.get("table") or {}
        lines += ["", "## Monthly cost", "", f"Prices dated {table.get('date')}", ""]
        for side in ("before", "after"):
            for item in cost.get(side) or []:
                lines.append(f"- {side}: {item.get('item')} {_money(item.get('monthly'))}")
            lines.append(f"- **{side} total: {_money(cost.get(f'{side}_total'))}**")
    lines += ["", "## Phase by phase", ""]
    for phase in migration.phases:
        lines.append(f"### {phase.id} {phase.slug} — {phase.status}")
        for s in phase.steps:
            lines.append(f"- **{s.id}** {s.status} {_took(s.duration)}")
            lines += [f"  - {k}: `{v}`" for k, v in s.created]
            lines += [f"  - `{c}`" for c in s.changes]
        lines.append("")
    return "\n".join(lines) + "\n"
