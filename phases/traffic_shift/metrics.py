"""The ALB's own CloudWatch metrics for both target groups over one evaluation window.

Only datapoints whose period *began* at or after the cutoff (the moment the new weights were
read back) are kept: CloudWatch stamps a datapoint with the start of its period, so one that
began earlier mixes requests served under the previous weights. The query starts at the
period boundary at or before the cutoff, so CloudWatch's buckets line up with the ALB's.
A zero count is never published by an ALB: a missing 5xx series means no 5xx, but a missing
RequestCount means there is no data to judge.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from phases.traffic_shift.topology import Topology, metric_dimension

if TYPE_CHECKING:
    from phases.shared.sections import StepContext

_NAMESPACE = "AWS/ApplicationELB"
_QUERIES = (
    # (id, side, metric, statistic, unit)
    ("eks_requests", "eks", "RequestCount", "Sum", "Count"),
    ("eks_5xx", "eks", "HTTPCode_Target_5XX_Count", "Sum", "Count"),
    ("eks_p99", "eks", "TargetResponseTime", "p99", "Seconds"),
    ("ec2_requests", "ec2", "RequestCount", "Sum", "Count"),
    ("ec2_5xx", "ec2", "HTTPCode_Target_5XX_Count", "Sum", "Count"),
)


@dataclass
class Series:
    """Datapoints of one query: period start (epoch seconds) → value."""

    points: dict[float, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.points.values())

    @property
    def stamps(self) -> list[float]:
        return sorted(self.points)

    def worst(self) -> float | None:
        return max(self.points.values()) if self.points else None


@dataclass
class Window:
    """What CloudWatch holds for one evaluation: [start, end) and every series in it."""

    cutoff: float
    start: float
    end: float
    period: int
    series: dict[str, Series]

    def __getitem__(self, key: str) -> Series:
        return self.series.get(key) or Series()

    def evidence(self) -> dict[str, Any]:
        return {
            "cutoff": _iso(self.cutoff),
            "window": [_iso(self.start), _iso(self.end)],
            "period_seconds": self.period,
            "datapoints": {
                key: [[_iso(t), round(v, 6)] for t, v in sorted(s.points.items())]
                for key, s in self.series.items()
                if s.points
            },
        }


def fetch(
    ctx: StepContext, topo: Topology, *, cutoff: float, since: float, now: float, period: int
) -> Window:
    """Both sides' request, 5xx and latency datapoints that began in [max(cutoff, since), now)."""
    start = max(cutoff, since)
    query_start = math.floor(start / period) * period
    query_end = math.ceil(now / period) * period + period
    lb = metric_dimension(topo.lb_arn, "loadbalancer")
    groups = {"ec2": topo.ec2_tg_arn, "eks": topo.eks}
    queries = [
        {
            "Id": query_id,
            "MetricStat": {
                "Metric": {
                    "Namespace": _NAMESPACE,
                    "MetricName": metric,
                    "Dimensions": [
                        {"Name": "LoadBalancer", "Value": lb},
                        {
                            "Name": "TargetGroup",
                            "Value": metric_dimension(groups[side], "targetgroup"),
                        },
                    ],
                },
                "Period": period,
                "Stat": stat,
                "Unit": unit,
            },
            "ReturnData": True,
        }
        for query_id, side, metric, stat, unit in _QUERIES
    ]
    series: dict[str, Series] = {query_id: Series() for query_id, *_ in _QUERIES}
    pages = ctx.aws("cloudwatch").paginate(
        "get_metric_data",
        MetricDataQueries=queries,
        StartTime=dt.datetime.fromtimestamp(query_start, dt.UTC),
        EndTime=dt.datetime.fromtimestamp(query_end, dt.UTC),
        ScanBy="TimestampAscending",
    )
    for page in pages:
        for result in page.get("MetricDataResults") or []:
            found = series.setdefault(str(result["Id"]), Series())
            stamps = result.get("Timestamps") or []
            values = result.get("Values") or []
            for stamp, value in zip(stamps, values, strict=False):
                began = _epoch(stamp)
                if start <= began < now:
                    found.points[began] = float(value)
    return Window(cutoff=cutoff, start=start, end=now, period=period, series=series)


def _epoch(stamp: Any) -> float:
    if isinstance(stamp, dt.datetime):
        moment = stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
        return moment.timestamp()
    return float(stamp)


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"
