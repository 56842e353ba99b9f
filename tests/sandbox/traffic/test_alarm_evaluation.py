"""Alarm states follow CloudWatch's rules, including its table for missing data.

These cases need no AWS: the evaluator takes an alarm as DescribeAlarms returns it and the
datapoints the simulator published. Datapoints are written newest last; ``None`` is a
window without data, ``X`` a breaching value (5.0) and ``G`` a good one (0.0), like the
rows of CloudWatch's documentation.
"""

from __future__ import annotations

from typing import Any

import pytest

from flexmigrate.sandbox.traffic.alarms import AlarmSpec, evaluate
from flexmigrate.sandbox.traffic.series import Datapoint, Distribution, MetricStore, SeriesKey

DIMENSIONS = {"LoadBalancer": "app/flexdesk-alb/1", "TargetGroup": "targetgroup/flexdesk-eks/2"}
NOW = 1_800_000_000.0  # a whole minute
X, G = 5.0, 0.0  # breaching, good


def alarm(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "AlarmName": "eks-5xx",
        "StateValue": "OK",
        "Namespace": "AWS/ApplicationELB",
        "MetricName": "HTTPCode_Target_5XX_Count",
        "Dimensions": [{"Name": k, "Value": v} for k, v in DIMENSIONS.items()],
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 3,
        "DatapointsToAlarm": 3,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "missing",
    }
    base.update(overrides)
    return base


def store_with(
    values: list[float | None], metric: str = "HTTPCode_Target_5XX_Count"
) -> MetricStore:
    store = MetricStore()
    key = SeriesKey.of(metric, DIMENSIONS)
    for age, value in enumerate(reversed(values), start=1):
        if value is not None:
            start = NOW - 60 * age
            store.record(key, Datapoint(start, 60, "Count", Distribution({value: 1})))
    return store


def state(values: list[float | None], treat: str, current: str = "OK") -> str | None:
    spec = AlarmSpec.from_api(alarm(TreatMissingData=treat, StateValue=current))
    assert spec is not None
    verdict = evaluate(spec, store_with(values), NOW)
    return None if verdict is None else verdict.state


@pytest.mark.parametrize(
    ("values", "missing", "ignore", "breaching", "not_breaching"),
    [
        ([G, X, X], "OK", "OK", "OK", "OK"),
        ([G, None, None], "OK", "OK", "OK", "OK"),
        ([None, None, None], "INSUFFICIENT_DATA", None, "ALARM", "OK"),
        ([G, X, None], "OK", "OK", "OK", "OK"),
        ([X, X, None], "ALARM", None, "ALARM", "OK"),
        ([None, None, X], "ALARM", None, "ALARM", "OK"),
        ([X, X, X], "ALARM", "ALARM", "ALARM", "ALARM"),
    ],
)
def test_missing_data_table(
    values: list[float | None],
    missing: str,
    ignore: str | None,
    breaching: str,
    not_breaching: str,
) -> None:
    assert state(values, "missing") == missing
    assert state(values, "ignore") == ignore  # None: the alarm keeps its state
    assert state(values, "breaching") == breaching
    assert state(values, "notBreaching") == not_breaching


def test_m_out_of_n_and_reason_text() -> None:
    spec = AlarmSpec.from_api(alarm(DatapointsToAlarm=2))
    assert spec is not None
    verdict = evaluate(spec, store_with([X, G, 7.0]), NOW)
    assert verdict is not None and verdict.state == "ALARM"
    assert verdict.reason == (
        "Threshold Crossed: 2 out of the last 3 datapoints "
        "[7.0 (15/01/27 07:59:00), 5.0 (15/01/27 07:57:00)] were greater than the threshold "
        "(1.0) (minimum 2 datapoints for OK -> ALARM transition)."
    )


def test_percentiles_come_from_the_whole_distribution() -> None:
    store = MetricStore()
    key = SeriesKey.of("TargetResponseTime", DIMENSIONS)
    slow_tail = Distribution({0.08: 97, 2.5: 3})
    store.record(key, Datapoint(NOW - 60, 60, "Seconds", slow_tail))
    p99 = AlarmSpec.from_api(
        alarm(
            MetricName="TargetResponseTime",
            Statistic=None,
            ExtendedStatistic="p99",
            Threshold=1.5,
            EvaluationPeriods=1,
            DatapointsToAlarm=1,
        )
    )
    p95 = AlarmSpec.from_api(
        alarm(
            MetricName="TargetResponseTime",
            Statistic=None,
            ExtendedStatistic="p95",
            Threshold=1.5,
            EvaluationPeriods=1,
            DatapointsToAlarm=1,
        )
    )
    assert p99 is not None and p95 is not None
    assert evaluate(p99, store, NOW).state == "ALARM"  # type: ignore[union-attr]
    assert evaluate(p95, store, NOW).state == "OK"  # type: ignore[union-attr]


def test_a_unit_that_does_not_match_the_data_finds_nothing() -> None:
    spec = AlarmSpec.from_api(alarm(Unit="Seconds", EvaluationPeriods=1, DatapointsToAlarm=1))
    assert spec is not None
    verdict = evaluate(spec, store_with([X]), NOW)
    assert verdict is not None
    assert verdict.state == "INSUFFICIENT_DATA"
    assert verdict.reason == "Insufficient Data: 1 datapoint was unknown."


def test_lagging_data_is_evaluated_late_rather_than_never() -> None:
    spec = AlarmSpec.from_api(alarm(EvaluationPeriods=1, DatapointsToAlarm=1))
    assert spec is not None
    store = store_with([X, None])  # the newest minute has not arrived yet
    assert evaluate(spec, store, NOW).state == "INSUFFICIENT_DATA"  # type: ignore[union-attr]
    assert evaluate(spec, store, NOW, delay=60).state == "ALARM"  # type: ignore[union-attr]


def test_alarms_outside_the_alb_namespace_or_with_metric_math_are_left_alone() -> None:
    assert AlarmSpec.from_api(alarm(Namespace="AWS/EC2")) is None
    math_alarm = alarm(MetricName=None, Metrics=[{"Id": "e", "Expression": "m1 / m2"}])
    assert AlarmSpec.from_api(math_alarm) is None
    single_query = alarm(
        MetricName=None,
        Metrics=[
            {
                "Id": "m1",
                "ReturnData": True,
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/ApplicationELB",
                        "MetricName": "HTTPCode_Target_5XX_Count",
                        "Dimensions": [{"Name": k, "Value": v} for k, v in DIMENSIONS.items()],
                    },
                    "Period": 10,
                    "Stat": "Sum",
                },
            }
        ],
    )
    spec = AlarmSpec.from_api(single_query)
    assert spec is not None and spec.period == 10
