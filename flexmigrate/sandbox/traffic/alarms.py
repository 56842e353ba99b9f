"""CloudWatch alarm evaluation over the data the simulator published.

moto stores alarms but never evaluates them, and the migration's health gates read alarm
states, so the sandbox evaluates every ``AWS/ApplicationELB`` metric alarm the way
CloudWatch does: the statistic (or ``pNN``) of each of the last ``EvaluationPeriods``
windows of ``Period`` seconds, ``DatapointsToAlarm`` of them breaching for ALARM, and
``TreatMissingData`` deciding what an empty window means — following the table in
CloudWatch's documentation on missing data (with ``missing``, fewer present datapoints
than needed that all breach still mean ALARM; ``ignore`` keeps the state instead).

Real ALB metrics arrive late; CloudWatch still alarms on them, only later. So the windows
end at the newest moment whose data can have arrived (now minus the publication lag), and
an injected lag delays alarm transitions by that lag instead of blinding the alarm.

Alarms this module cannot evaluate (metric math, anomaly bands, ``tm99``-style statistics)
are left alone.
"""

from __future__ import annotations

import datetime
import json
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flexmigrate.sandbox.traffic.series import MetricStore, SeriesKey, is_supported_statistic

NAMESPACE = "AWS/ApplicationELB"

_COMPARISONS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "GreaterThanThreshold": ("greater than", operator.gt),
    "GreaterThanOrEqualToThreshold": ("greater than or equal to", operator.ge),
    "LessThanThreshold": ("less than", operator.lt),
    "LessThanOrEqualToThreshold": ("less than or equal to", operator.le),
}
_TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")


@dataclass(frozen=True)
class AlarmSpec:
    """The parts of a metric alarm that decide its state."""

    name: str
    state: str
    series: SeriesKey
    statistic: str
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing: str
    unit: str | None

    @classmethod
    def from_api(cls, alarm: Mapping[str, Any]) -> AlarmSpec | None:
        """From DescribeAlarms output; None for alarms this evaluator does not handle."""
        metric = _single_metric(alarm)
        if metric is None or metric["namespace"] != NAMESPACE:
            return None
        comparison = alarm.get("ComparisonOperator", "")
        if comparison not in _COMPARISONS or "Threshold" not in alarm:
            return None
        statistic = str(metric["statistic"])
        if not is_supported_statistic(statistic):
            return None
        evaluation_periods = max(1, int(alarm.get("EvaluationPeriods") or 1))
        treat = str(alarm.get("TreatMissingData") or "missing")
        return cls(
            name=str(alarm["AlarmName"]),
            state=str(alarm.get("StateValue", "INSUFFICIENT_DATA")),
            series=SeriesKey.of(metric["name"], metric["dimensions"]),
            statistic=statistic,
            period=max(1, int(metric["period"])),
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=int(alarm.get("DatapointsToAlarm") or evaluation_periods),
            threshold=float(alarm["Threshold"]),
            comparison=comparison,
            treat_missing=treat if treat in _TREATMENTS else "missing",
            unit=metric["unit"],
        )


@dataclass(frozen=True)
class Verdict:
    """A state with CloudWatch-style reason text and reason data."""

    state: str
    reason: str
    reason_data: str


def evaluate(spec: AlarmSpec, store: MetricStore, now: float, delay: float = 0.0) -> Verdict | None:
    """The state CloudWatch would give the alarm now; None means "keep the current state"."""
    period = spec.period
    end = float(math.floor((now - delay) / period) * period)
    windows = [end - (i + 1) * period for i in range(spec.evaluation_periods)]  # newest first
    present: list[tuple[float, float, int]] = []
    for start in windows:
        data = store.window(spec.series, start, start + period, spec.unit)
        value = data.statistic(spec.statistic) if data is not None else None
        if data is not None and value is not None:
            present.append((start, value, data.sample_count))
    word, compare = _COMPARISONS[spec.comparison]
    breaching = [p for p in present if compare(p[1], spec.threshold)]
    missing = spec.evaluation_periods - len(present)
    needed = spec.datapoints_to_alarm
    query = windows[0] + period

    if spec.treat_missing in ("breaching", "notBreaching"):
        counted = len(breaching) + (missing if spec.treat_missing == "breaching" else 0)
        state = "ALARM" if counted >= needed else "OK"
        if not present:
            label = "Breaching" if spec.treat_missing == "breaching" else "NonBreaching"
            reason = (
                f"Threshold Crossed: no datapoints were received for {_n(missing, 'period')} "
                f"and {_n(missing, 'missing datapoint')} {_was(missing)} treated as [{label}]."
            )
            return _verdict(spec, state, reason, present, windows, query)
    else:
        if not present:
            if spec.treat_missing == "ignore":
                return None
            reason = f"Insufficient Data: {_n(missing, 'datapoint')} {_was(missing)} unknown."
            return _verdict(spec, "INSUFFICIENT_DATA", reason, present, windows, query)
        if len(breaching) >= needed:
            state = "ALARM"
        elif len(present) < needed and len(breaching) == len(present):
            if spec.treat_missing == "ignore":
                return None
            state = "ALARM"
        else:
            state = "OK"
    shown = breaching if state == "ALARM" else [p for p in present if p not in breaching]
    return _verdict(spec, state, _crossed(spec, state, shown, word), present, windows, query)


def _crossed(spec: AlarmSpec, state: str, shown: list[tuple[float, float, int]], word: str) -> str:
    points = ", ".join(f"{_number(v)} ({_stamp(start)})" for start, v, _ in shown)
    relation = word if state == "ALARM" else f"not {word}"
    threshold = _number(spec.threshold)
    if spec.evaluation_periods == 1 and len(shown) == 1:
        return (
            f"Threshold Crossed: 1 datapoint [{points}] was {relation} the threshold ({threshold})."
        )
    transition = "OK -> ALARM" if state == "ALARM" else "ALARM -> OK"
    minimum = spec.datapoints_to_alarm if state == "ALARM" else 1
    return (
        f"Threshold Crossed: {len(shown)} out of the last {spec.evaluation_periods} datapoints "
        f"[{points}] {'was' if len(shown) == 1 else 'were'} {relation} the threshold "
        f"({threshold}) (minimum {_n(minimum, 'datapoint')} for {transition} transition)."
    )


def _verdict(
    spec: AlarmSpec,
    state: str,
    reason: str,
    present: list[tuple[float, float, int]],
    windows: list[float],
    query: float,
) -> Verdict:
    data: dict[str, Any] = {
        "version": "1.0",
        "queryDate": _iso(query),
        "startDate": _iso(windows[-1]),
        "period": spec.period,
        "recentDatapoints": [v for _, v, _ in reversed(present)],
        "threshold": spec.threshold,
        "evaluatedDatapoints": [
            {"timestamp": _iso(start), "sampleCount": float(n), "value": v}
            for start, v, n in present
        ],
    }
    key = "statistic" if spec.statistic[0].isupper() else "extendedStatistic"
    data[key] = spec.statistic
    if spec.unit:
        data["unit"] = spec.unit
    return Verdict(state=state, reason=reason[:1023], reason_data=json.dumps(data))


def _single_metric(alarm: Mapping[str, Any]) -> dict[str, Any] | None:
    """The one metric an alarm watches, from either the classic or the ``Metrics`` form."""
    if alarm.get("MetricName"):
        return {
            "namespace": alarm.get("Namespace"),
            "name": alarm["MetricName"],
            "dimensions": {d["Name"]: d["Value"] for d in alarm.get("Dimensions", ())},
            "statistic": alarm.get("Statistic") or alarm.get("ExtendedStatistic") or "",
            "period": alarm.get("Period", 60),
            "unit": alarm.get("Unit"),
        }
    queries = [q for q in alarm.get("Metrics", ()) if q.get("ReturnData", True)]
    if len(queries) != 1 or "MetricStat" not in queries[0]:
        return None
    stat = queries[0]["MetricStat"]
    metric = stat["Metric"]
    return {
        "namespace": metric.get("Namespace"),
        "name": metric["MetricName"],
        "dimensions": {d["Name"]: d["Value"] for d in metric.get("Dimensions", ())},
        "statistic": stat.get("Stat", ""),
        "period": stat.get("Period", 60),
        "unit": stat.get("Unit"),
    }


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _was(count: int) -> str:
    return "was" if count == 1 else "were"


def _number(value: float) -> str:
    return repr(round(float(value), 6))


def _stamp(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%d/%m/%y %H:%M:%S")


def _iso(epoch: float) -> str:
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
