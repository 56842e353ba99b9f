"""The cutover drawn: one inline SVG of EKS's share over time, with the 5xx rate and p99 of
every gate evaluation against their limits, and breaches, pauses and restores marked.

Plain SVG text (no script, no font file), so the page stays one self-contained file that a
browser, a phone and a printer all show alike. Every gate evaluation is one ``circle.eval``
on the share line; its ``<title>`` is the reading, shown on hover.
"""

from __future__ import annotations

import datetime as dt
import html

from flexmigrate.engine.migration import GatePoint, TrafficStep

_W, _LEFT, _RIGHT = 960, 78, 16
_BANDS = {"share": (24, 150), "5xx": (186, 266), "p99": (302, 382)}
_H = 414
_COLOURS = {"pass": "#216e4e", "fail": "#c9372c", "inconclusive": "#8590a2", "error": "#e56910"}
_MARKS = {"breach": "#c9372c", "pause": "#e56910", "restore": "#0c66e4"}


def _clock(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%H:%M:%S")


def _fmt(value: float) -> str:
    return f"{value:.3g}"


class _Scale:
    def __init__(self, t0: float, t1: float) -> None:
        self.t0 = t0
        self.span = max(t1 - t0, 1e-6)

    def x(self, t: float) -> float:
        return round(_LEFT + (t - self.t0) / self.span * (_W - _LEFT - _RIGHT), 1)


def _y(band: str, value: float, top_value: float) -> float:
    top, bottom = _BANDS[band]
    share = 0.0 if top_value <= 0 else min(max(value / top_value, 0.0), 1.0)
    return round(bottom - share * (bottom - top), 1)


def _tip(point: GatePoint) -> str:
    lines = [f"{_clock(point.at)}Z · EKS {point.percent} % · {point.result}"]
    lines += [f"{r.get('gate')}: {r.get('result')} — {r.get('detail')}" for r in point.readings]
    return html.escape("\n".join(lines))


def svg(steps: list[TrafficStep]) -> str:
    """The chart of ``steps`` (one per weight change), or an empty string when none."""
    points = [p for s in steps for p in s.points]
    if not steps:
        return ""
    times = [s.shifted_at for s in steps] + [p.at for p in points]
    times += [m.at for s in steps for m in s.markers]
    scale = _Scale(min(times), max(times))
    limit_5xx = max((s.limits.get("max_5xx_rate", 0.0) for s in steps), default=0.0)
    limit_p99 = max((s.limits.get("max_p99_latency", 0.0) for s in steps), default=0.0)
    top_5xx = max([limit_5xx * 2, *(p.rate_5xx or 0.0 for p in points), 1e-3])
    top_p99 = max([limit_p99 * 1.5, *(p.p99 or 0.0 for p in points), 1e-3])
    out = [
        f'<svg class=cutover viewBox="0 0 {_W} {_H}" role=img '
        'aria-label="EKS share of traffic over time, with each gate evaluation" '
        'xmlns="http://www.w3.org/2000/svg" font-size="11" font-family="sans-serif">',
    ]
    out += _frame(top_5xx, top_p99)
    out += _share_line(steps, scale)
    out += _limit_line("5xx", limit_5xx, top_5xx, f"limit {_fmt(limit_5xx * 100)} %")
    out += _limit_line("p99", limit_p99, top_p99, f"limit {_fmt(limit_p99)}s")
    markers = sorted((m for s in steps for m in s.markers), key=lambda m: m.at)
    for index, m in enumerate(markers):
        x = scale.x(m.at)
        colour = _MARKS.get(m.kind, "#444")
        # Labels near the right edge read leftwards; successive ones step down.
        left = x > _W * 0.6
        tx, anchor = (x - 3, "end") if left else (x + 3, "start")
        ty = _BANDS["share"][0] + 12 + 13 * (index % 6)
        out.append(
            f'<g class="marker {m.kind}"><line x1="{x}" x2="{x}" y1="{_BANDS["share"][0]}" '
            f'y2="{_BANDS["p99"][1]}" stroke="{colour}" stroke-dasharray="4 3"/>'
            f'<text x="{tx}" y="{ty}" text-anchor="{anchor}" fill="{colour}">'
            f"{html.escape(m.text)}</text></g>"
        )
    for p in points:
        x = scale.x(p.at)
        colour = _COLOURS.get(p.result, "#444")
        out.append(
            f'<circle class=eval cx="{x}" cy="{_y("share", p.percent, 100)}" r="3.5" '
            f'fill="{colour}" data-result="{p.result}"><title>{_tip(p)}</title></circle>'
        )
        if p.rate_5xx is not None:
            bad = "eks-5xx" in p.failing
            out.append(
                f'<circle class=m5xx cx="{x}" cy="{_y("5xx", p.rate_5xx, top_5xx)}" r="2.5" '
                f'fill="{_COLOURS["fail" if bad else "pass"]}"><title>5xx '
                f"{_fmt(p.rate_5xx * 100)} %</title></circle>"
            )
        if p.p99 is not None:
            bad = "p99-latency" in p.failing
            out.append(
                f'<circle class=mp99 cx="{x}" cy="{_y("p99", p.p99, top_p99)}" r="2.5" '
                f'fill="{_COLOURS["fail" if bad else "pass"]}"><title>p99 '
                f"{_fmt(p.p99)}s</title></circle>"
            )
    first, last = min(times), max(times)
    for t, anchor in ((first, "start"), ((first + last) / 2, "middle"), (last, "end")):
        out.append(
            f'<text x="{scale.x(t)}" y="{_H - 8}" text-anchor="{anchor}" fill="#44546f">'
            f"{_clock(t)}Z</text>"
        )
    out.append("</svg>")
    return "\n".join(out)


def _frame(top_5xx: float, top_p99: float) -> list[str]:
    labels = {
        "share": ("EKS share", "100 %", "0 %"),
        "5xx": ("EKS 5xx rate", f"{_fmt(top_5xx * 100)} %", "0"),
        "p99": ("EKS p99", f"{_fmt(top_p99)}s", "0"),
    }
    out = []
    for band, (top, bottom) in _BANDS.items():
        title, high, low = labels[band]
        out.append(
            f'<rect x="{_LEFT}" y="{top}" width="{_W - _LEFT - _RIGHT}" height="{bottom - top}" '
            'fill="#f7f8f9" stroke="#dcdfe4"/>'
            f'<text x="{_LEFT}" y="{top - 6}" fill="#172b4d" font-weight="bold">{title}</text>'
            f'<text x="{_LEFT - 4}" y="{top + 10}" text-anchor="end" fill="#44546f">{high}</text>'
            f'<text x="{_LEFT - 4}" y="{bottom}" text-anchor="end" fill="#44546f">{low}</text>'
        )
    return out


def _share_line(steps: list[TrafficStep], scale: _Scale) -> list[str]:
    """EKS's share as a step line: each weight change, each restore."""
    changes: list[tuple[float, int]] = []
    first = steps[0]
    changes.append((first.shifted_at, first.before if first.before is not None else first.percent))
    for step in steps:
        changes.append((step.shifted_at, step.percent))
        changes += [(m.at, m.eks_percent) for m in step.markers if m.eks_percent is not None]
    changes.sort(key=lambda c: c[0])
    end = max([c[0] for c in changes] + [p.at for s in steps for p in s.points])
    path: list[str] = []
    level = changes[0][1]
    for t, percent in changes:
        x = scale.x(t)
        path.append(f"{'M' if not path else 'L'}{x},{_y('share', level, 100)}")
        path.append(f"L{x},{_y('share', percent, 100)}")
        level = percent
    path.append(f"L{scale.x(end)},{_y('share', level, 100)}")
    return [
        f'<path class=share d="{" ".join(path)}" fill="none" stroke="#0c66e4" stroke-width="2"/>'
    ]


def _limit_line(band: str, limit: float, top_value: float, label: str) -> list[str]:
    if limit <= 0:
        return []
    y = _y(band, limit, top_value)
    return [
        f'<g class="limit"><line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y}" y2="{y}" '
        f'stroke="#c9372c" stroke-dasharray="6 4"/><text x="{_W - _RIGHT - 4}" y="{y - 3}" '
        f'text-anchor="end" fill="#c9372c">{html.escape(label)}</text></g>'
    ]
