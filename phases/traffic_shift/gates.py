"""Health gates: each evaluation of each gate is pass, fail, inconclusive or error.

Missing data is never a pass. The metric gates read the datapoints of the last ``lookback``
(default five metric periods) whose period began after the weights were read back. The
judgements are pure functions of what was read, so the rules are visible in one place:

- ``healthy-targets``: the EKS target group has at least ``min_healthy_targets`` healthy
  targets, read directly from DescribeTargetHealth — an ALB whose targets are all unhealthy
  sends them traffic anyway, so no request metric would show it first.
- ``alarms``: none of the EKS target group's CloudWatch alarms (those phase 3 created, found
  by their TargetGroup dimension) or the ones the runbook names is in ALARM; an alarm with
  INSUFFICIENT_DATA is inconclusive.
- ``eks-5xx``: the EKS side's target 5xx rate, counted only once it has ``min_requests``
  requests, must stay at or below ``max_5xx_rate`` and at or below ``max_5xx_ratio_vs_ec2``
  times the EC2 side's rate over the same window. The relative rule ignores differences
  under a tenth of ``max_5xx_rate``, so one error on a quiet side does not fail it.
- ``p99-latency``: the worst per-period p99 TargetResponseTime of the EKS side stays at or
  below ``max_p99_latency``.
- ``eks-connection-errors`` and ``elb-5xx``: the errors the load balancer makes itself when
  it cannot reach the pods, which the target 5xx rate never shows (see ``elb_errors``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from flexmigrate.durations import format_duration
from flexmigrate.errors import CloudError
from phases.shared.alarms import alarms_by_name
from phases.traffic_shift import metrics
from phases.traffic_shift.topology import Topology, metric_dimension, target_health

if TYPE_CHECKING:
    from phases.shared.sections import Gates, StepContext


class Result(StrEnum):
    PASS = "pass"  # noqa: S105 - a gate result, not a password
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


@dataclass(frozen=True)
class Reading:
    gate: str
    result: Result
    detail: str
    values: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, str]:
        return {"gate": self.gate, "result": self.result.value, "detail": self.detail}


@dataclass(frozen=True)
class Evaluation:
    """All gates at one moment (``at``: epoch seconds)."""

    at: float
    readings: tuple[Reading, ...]
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def result(self) -> Result:
        found = {r.result for r in self.readings}
        for result in (Result.FAIL, Result.ERROR, Result.INCONCLUSIVE):
            if result in found:
                return result
        return Result.PASS

    def failing(self) -> list[Reading]:
        return [r for r in self.readings if r.result is Result.FAIL]

    def short(self) -> str:
        return ", ".join(f"{r.gate} {r.result.value}" for r in self.readings) or "no gates"

    def summaries(self) -> list[dict[str, str]]:
        return [r.summary() for r in self.readings]


# -- judgements (pure) ------------------------------------------------------------------------


def judge_targets(states: Sequence[tuple[str, str, str]], minimum: int) -> Reading:
    healthy = [t for t, state, _ in states if state == "healthy"]
    values = {"healthy": len(healthy), "registered": len(states), "minimum": minimum}
    if len(healthy) >= minimum:
        return Reading(
            "healthy-targets",
            Result.PASS,
            f"{len(healthy)} of {len(states)} targets healthy (minimum {minimum})",
            values,
        )
    if not states:
        detail = f"no targets registered (minimum {minimum} healthy)"
    else:
        unhealthy = [(t, state, why) for t, state, why in states if state != "healthy"]
        listed = "; ".join(
            f"{t} {state}" + (f" ({why})" if why else "") for t, state, why in unhealthy[:5]
        )
        detail = f"{len(healthy)} of {len(states)} targets healthy, fewer than {minimum}: {listed}"
    return Reading("healthy-targets", Result.FAIL, detail, values)


def judge_alarms(alarms: Sequence[dict[str, Any]], missing: Sequence[str]) -> Reading:
    values = {str(a["AlarmName"]): str(a.get("StateValue")) for a in alarms}
    if missing:
        return Reading("alarms", Result.ERROR, f"alarm(s) not found: {', '.join(missing)}", values)
    firing = [a for a in alarms if a.get("StateValue") == "ALARM"]
    if firing:
        detail = "; ".join(
            f"{a['AlarmName']} in ALARM: {a.get('StateReason', '')}".rstrip(": ") for a in firing
        )
        return Reading("alarms", Result.FAIL, detail, values)
    waiting = [str(a["AlarmName"]) for a in alarms if a.get("StateValue") != "OK"]
    if waiting:
        return Reading(
            "alarms", Result.INCONCLUSIVE, f"insufficient data: {', '.join(waiting)}", values
        )
    if not alarms:
        return Reading("alarms", Result.PASS, "no alarms to watch", values)
    return Reading("alarms", Result.PASS, f"{len(alarms)} OK: {', '.join(values)}", values)


def judge_5xx(window: metrics.Window, gates: Gates) -> Reading:
    requests = window["eks_requests"]
    since = _clock(window.start)
    if not requests.points:
        return Reading("eks-5xx", Result.INCONCLUSIVE, f"no EKS request data since {since}")
    eks_requests = int(requests.total)
    eks_errors = int(window["eks_5xx"].total)
    values: dict[str, Any] = {"eks_requests": eks_requests, "eks_5xx": eks_errors}
    if eks_requests < gates.min_requests:
        return Reading(
            "eks-5xx",
            Result.INCONCLUSIVE,
            f"{eks_requests} EKS requests since {since}, fewer than the {gates.min_requests} "
            "needed to judge a rate",
            values,
        )
    rate = eks_errors / eks_requests
    values["eks_rate"] = round(rate, 6)
    ec2_requests = int(window["ec2_requests"].total)
    ec2_errors = int(window["ec2_5xx"].total)
    values.update(ec2_requests=ec2_requests, ec2_5xx=ec2_errors)
    shown = f"EKS 5xx {_pct(rate)} ({eks_errors} of {eks_requests} requests)"
    if rate > gates.max_5xx_rate:
        return Reading(
            "eks-5xx", Result.FAIL, f"{shown} above the limit {_pct(gates.max_5xx_rate)}", values
        )
    if ec2_requests >= gates.min_requests:
        ec2_rate = ec2_errors / ec2_requests
        values["ec2_rate"] = round(ec2_rate, 6)
        floor = gates.max_5xx_rate / 10
        if rate > gates.max_5xx_ratio_vs_ec2 * ec2_rate and rate - ec2_rate > floor:
            return Reading(
                "eks-5xx",
                Result.FAIL,
                f"{shown} is more than {gates.max_5xx_ratio_vs_ec2:g}× EC2's {_pct(ec2_rate)} "
                f"({ec2_errors} of {ec2_requests})",
                values,
            )
        shown += f"; EC2 {_pct(ec2_rate)} of {ec2_requests}"
    return Reading("eks-5xx", Result.PASS, shown, values)


def judge_p99(window: metrics.Window, limit: float) -> Reading:
    series = window["eks_p99"]
    worst = series.worst()
    if worst is None:
        return Reading(
            "p99-latency",
            Result.INCONCLUSIVE,
            f"no EKS response-time data since {_clock(window.start)}",
        )
    at = max(series.points, key=lambda t: series.points[t])
    values = {"worst_p99": worst, "at": _clock(at), "periods": len(series.points)}
    if worst > limit:
        return Reading(
            "p99-latency",
            Result.FAIL,
            f"EKS p99 {_secs(worst)} at {_clock(at)} above the limit {_secs(limit)}",
            values,
        )
    return Reading(
        "p99-latency",
        Result.PASS,
        f"EKS p99 at most {_secs(worst)} over {len(series.points)} periods (limit {_secs(limit)})",
        values,
    )


# -- reading AWS --------------------------------------------------------------------------------


def gate_alarm_names(ctx: StepContext, topo: Topology) -> list[str]:
    """The alarms the gate watches: those on the EKS target group, plus the runbook's."""
    named = [*ctx.runbook.app.alarms.existing, *ctx.runbook.traffic.gates.extra_alarms]
    found: list[str] = []
    if topo.eks_tg_arn:
        wanted = metric_dimension(topo.eks_tg_arn, "targetgroup")
        for page in ctx.aws("cloudwatch").paginate("describe_alarms", AlarmTypes=["MetricAlarm"]):
            for alarm in page.get("MetricAlarms") or []:
                if wanted in _alarm_target_groups(alarm):
                    found.append(str(alarm["AlarmName"]))
    return list(dict.fromkeys([*found, *named]))


def read_alarms(ctx: StepContext, names: Sequence[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """(alarms found, names not found); metric and composite alarms alike."""
    found = alarms_by_name(ctx, names)
    missing = [n for n in names if n not in found]
    return [found[n] for n in dict.fromkeys(names) if n in found], missing


class GateSet:
    """The gates of one bake, bound to what they read."""

    def __init__(
        self, ctx: StepContext, topo: Topology, alarms: Sequence[str], cutoff: float
    ) -> None:
        self.ctx = ctx
        self.topo = topo
        self.gates = ctx.runbook.traffic.gates
        self.alarms = list(alarms)
        self.cutoff = cutoff
        interval = ctx.runbook.traffic.interval
        self.period = max(1, round(self.gates.metric_period))
        self.lookback = self.gates.lookback or max(5 * self.period, interval)

    def describe(self) -> str:
        gates = self.gates
        parts = [
            f"healthy targets ≥ {gates.min_healthy_targets}",
            f"5xx ≤ {_pct(gates.max_5xx_rate)} and ≤ {gates.max_5xx_ratio_vs_ec2:g}× EC2 "
            f"(from {gates.min_requests} requests)",
            f"p99 ≤ {_secs(gates.max_p99_latency)}",
            f"failed connections to EKS ≤ {_pct(gates.max_5xx_rate)}",
            f"the load balancer's own 5xx above its level before ≤ {_pct(gates.max_5xx_rate)} "
            "of EKS requests",
        ]
        if gates.alarms:
            parts.insert(1, f"alarms not in ALARM ({', '.join(self.alarms) or 'none found'})")
        return "; ".join(parts)

    def evaluate(self, now: float) -> Evaluation:
        readings: list[Reading] = [
            self._guard("healthy-targets", self._targets),
        ]
        if self.gates.alarms or self.alarms:
            readings.append(self._guard("alarms", self._alarms))
        evidence: dict[str, Any] = {}
        eks_requests: int | None = None
        try:
            window = metrics.fetch(
                self.ctx,
                self.topo,
                cutoff=self.cutoff,
                since=now - self.lookback,
                now=now,
                period=self.period,
            )
        except CloudError as exc:
            readings += [
                Reading("eks-5xx", Result.ERROR, f"could not read metrics: {exc}"),
                Reading("p99-latency", Result.ERROR, f"could not read metrics: {exc}"),
            ]
        else:
            readings += [
                judge_5xx(window, self.gates),
                judge_p99(window, self.gates.max_p99_latency),
            ]
            evidence = window.evidence()
            if window["eks_requests"].points:
                eks_requests = int(window["eks_requests"].total)
        readings += self._elb_errors(eks_requests, now)
        return Evaluation(now, tuple(readings), evidence)

    def _elb_errors(self, eks_requests: int | None, now: float) -> list[Reading]:
        from phases.traffic_shift import elb_errors

        try:
            elb = elb_errors.fetch(
                self.ctx,
                self.topo,
                cutoff=self.cutoff,
                since=now - self.lookback,
                now=now,
                period=self.period,
                lookback=self.lookback,
            )
        except CloudError as exc:
            return [
                Reading(gate, Result.ERROR, f"could not read metrics: {exc}")
                for gate in ("eks-connection-errors", "elb-5xx")
            ]
        return [
            elb_errors.judge_connection_errors(eks_requests, elb, self.gates),
            elb_errors.judge_elb_5xx(eks_requests, elb, self.gates),
        ]

    def _targets(self) -> Reading:
        return judge_targets(target_health(self.ctx, self.topo.eks), self.gates.min_healthy_targets)

    def _alarms(self) -> Reading:
        found, missing = read_alarms(self.ctx, self.alarms)
        return judge_alarms(found, missing)

    @staticmethod
    def _guard(gate: str, read: Callable[[], Reading]) -> Reading:
        try:
            return read()
        except CloudError as exc:
            return Reading(gate, Result.ERROR, f"could not read: {exc}")


def _alarm_target_groups(alarm: dict[str, Any]) -> set[str]:
    dimensions = list(alarm.get("Dimensions") or [])
    for query in alarm.get("Metrics") or []:
        dimensions += query.get("MetricStat", {}).get("Metric", {}).get("Dimensions") or []
    return {str(d.get("Value")) for d in dimensions if d.get("Name") == "TargetGroup"}


def _pct(rate: float) -> str:
    return f"{100 * rate:.2f} %"


def _secs(seconds: float) -> str:
    return f"{seconds:.3g}s" if seconds < 10 else format_duration(seconds)


def _clock(epoch: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%H:%M:%SZ")
