"""CloudWatch percentiles (p99) through the front, from the data points moto holds."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode

import urllib3
from front_helpers import ClientFactory, unique

from flexmigrate.sandbox.aws import AwsFront

NS = "AWS/ApplicationELB"


def _metric(group: str) -> dict[str, Any]:
    return {
        "Namespace": NS,
        "MetricName": "TargetResponseTime",
        "Dimensions": [
            {"Name": "TargetGroup", "Value": group},
            {"Name": "LoadBalancer", "Value": "app/flexdesk-alb/1"},
        ],
    }


def _publish(aws: ClientFactory, group: str, at: dt.datetime) -> None:
    """100 response times: 1..98 ms once, then 500 ms and 900 ms (the slow tail)."""
    metric = _metric(group)
    data = [
        {
            "MetricName": metric["MetricName"],
            "Dimensions": metric["Dimensions"],
            "Timestamp": at,
            "Values": [n / 1000 for n in range(1, 99)],
            "Unit": "Seconds",
        },
        {
            "MetricName": metric["MetricName"],
            "Dimensions": metric["Dimensions"],
            "Timestamp": at,
            "Value": 0.5,
            "Unit": "Seconds",
        },
        {
            "MetricName": metric["MetricName"],
            "Dimensions": metric["Dimensions"],
            "Timestamp": at,
            "Values": [0.9],
            "Counts": [1],
            "Unit": "Seconds",
        },
    ]
    aws("cloudwatch").put_metric_data(Namespace=NS, MetricData=data)


def test_p99_is_computed_and_other_statistics_are_moto_s(aws: ClientFactory) -> None:
    group = unique("targetgroup/flexdesk-eks")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    _publish(aws, group, now - dt.timedelta(seconds=30))
    queries = [
        {"Id": "avg", "MetricStat": {"Metric": _metric(group), "Period": 60, "Stat": "Average"}},
        {"Id": "p99", "MetricStat": {"Metric": _metric(group), "Period": 60, "Stat": "p99"}},
        {"Id": "p50", "MetricStat": {"Metric": _metric(group), "Period": 60, "Stat": "p50.0"}},
        {"Id": "max", "MetricStat": {"Metric": _metric(group), "Period": 60, "Stat": "Maximum"}},
    ]
    answer = aws("cloudwatch").get_metric_data(
        MetricDataQueries=queries,
        StartTime=now - dt.timedelta(minutes=1),
        EndTime=now + dt.timedelta(minutes=1),
    )
    results = answer["MetricDataResults"]
    assert [r["Id"] for r in results] == ["avg", "p99", "p50", "max"]
    by_id = {r["Id"]: r for r in results}
    assert by_id["p99"]["Values"] == [0.5]
    assert by_id["p50"]["Values"] == [0.05]
    assert by_id["max"]["Values"] == [0.9]
    assert by_id["avg"]["Values"][0] == sum([n / 1000 for n in range(1, 99)] + [0.5, 0.9]) / 100
    assert by_id["p99"]["Label"] == "TargetResponseTime p99"
    assert by_id["p99"]["Timestamps"] == by_id["avg"]["Timestamps"]
    assert by_id["p99"]["StatusCode"] == "Complete"


def test_p99_without_data_is_empty(aws: ClientFactory) -> None:
    now = dt.datetime.now(dt.UTC)
    answer = aws("cloudwatch").get_metric_data(
        MetricDataQueries=[
            {
                "Id": "p99",
                "MetricStat": {"Metric": _metric("nothing-here"), "Period": 60, "Stat": "p99"},
            }
        ],
        StartTime=now - dt.timedelta(minutes=5),
        EndTime=now,
    )
    assert answer["MetricDataResults"][0]["Values"] == []


def test_query_protocol_clients_get_percentiles_too(aws: ClientFactory, front: AwsFront) -> None:
    group = unique("targetgroup/query")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    _publish(aws, group, now - dt.timedelta(seconds=20))
    form = {
        "Action": "GetMetricData",
        "Version": "2010-08-01",
        "StartTime": (now - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "EndTime": (now + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    for number, stat in ((1, "Sum"), (2, "p99")):
        prefix = f"MetricDataQueries.member.{number}"
        form[f"{prefix}.Id"] = stat.lower()
        form[f"{prefix}.MetricStat.Metric.Namespace"] = NS
        form[f"{prefix}.MetricStat.Metric.MetricName"] = "TargetResponseTime"
        for index, dimension in enumerate(_metric(group)["Dimensions"], start=1):
            form[f"{prefix}.MetricStat.Metric.Dimensions.member.{index}.Name"] = dimension["Name"]
            form[f"{prefix}.MetricStat.Metric.Dimensions.member.{index}.Value"] = dimension["Value"]
        form[f"{prefix}.MetricStat.Period"] = "60"
        form[f"{prefix}.MetricStat.Stat"] = stat
    scope = "TESTFRONTKEY00000001/20261127/af-south-1/monitoring/aws4_request"
    with urllib3.PoolManager() as http:
        response = http.request(
            "POST",
            front.url + "/",
            body=urlencode(form),
            headers={
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                "Authorization": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, "
                "Signature=0",
            },
        )
    assert response.status == 200
    ns = "{http://monitoring.amazonaws.com/doc/2010-08-01/}"
    root = ET.fromstring(response.data)  # noqa: S314 - the front's answer in a test
    container = root.find(f".//{ns}MetricDataResults")
    assert container is not None
    results = {
        member.findtext(f"{ns}Id"): [
            float(value.text or 0) for value in member.findall(f"{ns}Values/{ns}member")
        ]
        for member in container.findall(f"{ns}member")
    }
    assert list(results) == ["sum", "p99"]
    assert results["p99"] == [0.5]
    assert abs(results["sum"][0] - sum([n / 1000 for n in range(1, 99)] + [0.5, 0.9])) < 1e-9
