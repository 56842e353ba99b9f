"""Rehearsal speed: a runbook with only its time compressed.

A rehearsal runs the runbook the operator will run in production — its steps, names, gates,
thresholds and schedule — against a sandbox, so it must not take production's hours. Each
phase declares how its section's durations compress (``Phase.extras["rehearsal"]``, a list
of ``TimeRule``); this module applies them to a validated runbook's plain dump and says what
changed, for the start of a rehearsal and its report (``bake 5m → 5s``).

The rules, by kind:

- ``period``: the reference period (the gates' metric period) becomes ``limit`` seconds;
  its ratio to the production value is the rehearsal's time factor.
- ``scale``: divided by the time factor, never below ``limit`` (a floor for what the
  machine can do: a bake shorter than a few metric periods would decide on nothing).
- ``cap``: at most ``limit``. For waits and polls, which end as soon as what they wait for
  is ready: the cap only bounds how long a failure takes to show.
- ``alarm-period``: divided by the time factor, then rounded up to a period CloudWatch
  accepts (10, 20, 30 or a multiple of 60 seconds, as PutMetricAlarm documents).
- ``path``: not a time; a path relative to the runbook, made absolute, since the copy lives
  in the sandbox's directory.

A field the runbook leaves unset (``None``) stays unset.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from flexmigrate.durations import format_duration, parse_duration

Kind = Literal["period", "scale", "cap", "alarm-period", "path"]
_ALARM_PERIODS = (10, 20, 30)


@dataclass(frozen=True)
class TimeRule:
    path: str  # dotted, e.g. "traffic.bake"
    kind: Kind
    limit: float = 0.0  # seconds; meaning depends on the kind


@dataclass(frozen=True)
class Compression:
    """One row of the table shown at the start of a rehearsal and in its report."""

    path: str
    before: str
    after: str
    rule: str

    def line(self) -> str:
        return f"{self.path} {self.before} → {self.after}"


def alarm_period(seconds: float) -> int:
    """The shortest period CloudWatch accepts for an alarm that is at least ``seconds``."""
    for allowed in _ALARM_PERIODS:
        if seconds <= allowed:
            return allowed
    return 60 * math.ceil(seconds / 60)


def _lookup(data: dict[str, Any], path: str) -> tuple[dict[str, Any] | None, str]:
    *parents, leaf = path.split(".")
    node: Any = data
    for key in parents:
        node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            return None, leaf
    return (node if isinstance(node, dict) else None), leaf


def _describe(rule: TimeRule, factor: float) -> str:
    limit = format_duration(rule.limit)
    return {
        "period": f"the reference period, {limit}",
        "scale": f"÷{factor:g}, at least {limit}",
        "cap": f"at most {limit}",
        "alarm-period": f"÷{factor:g}, up to a CloudWatch period (10s, 20s, 30s, n×60s)",
        "path": "made absolute",
    }[rule.kind]


def compress(
    data: dict[str, Any], rules: Iterable[TimeRule], runbook_dir: Path
) -> tuple[dict[str, Any], list[Compression], float]:
    """``data`` (a runbook's plain dump, durations as strings) at rehearsal speed: the new
    dump, the rows of what changed, and the time factor."""
    rules = list(rules)
    factor = 1.0
    for rule in rules:
        node, leaf = _lookup(data, rule.path)
        if rule.kind == "period" and node is not None and node.get(leaf) is not None:
            factor = max(1.0, parse_duration(node[leaf]) / rule.limit)
    rows: list[Compression] = []
    for rule in rules:
        node, leaf = _lookup(data, rule.path)
        if node is None or node.get(leaf) is None:
            continue
        before = node[leaf]
        if rule.kind == "path":
            absolute = (runbook_dir / str(before)).resolve()
            node[leaf] = str(absolute)
            continue
        seconds = parse_duration(before)
        after = _compressed(rule, seconds, factor)
        node[leaf] = format_duration(after) if after >= 1 else f"{round(after * 1000)}ms"
        if after != seconds:
            shown = format_duration(seconds)
            rows.append(Compression(rule.path, shown, str(node[leaf]), _describe(rule, factor)))
    return data, rows, factor


def _compressed(rule: TimeRule, seconds: float, factor: float) -> float:
    if rule.kind == "period":
        return min(seconds, rule.limit)
    if rule.kind == "scale":
        return min(seconds, max(rule.limit, seconds / factor))
    if rule.kind == "cap":
        return min(seconds, rule.limit)
    if rule.kind == "alarm-period":
        return min(seconds, alarm_period(seconds / factor))
    raise ValueError(f"unknown rule kind {rule.kind!r}")


def rules_of(phases: Iterable[Any]) -> Sequence[TimeRule]:
    """The rules every phase of a registry declares, in phase order."""
    found: list[TimeRule] = []
    for phase in phases:
        found.extend(phase.extras.get("rehearsal", ()))
    return found
