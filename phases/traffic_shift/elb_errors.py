"""Gates on the errors the load balancer makes itself when it cannot reach the EKS pods.

A pod that refuses, resets or times out a connection does not answer 5xx: the ALB does,
with its own 502/503/504. Those are counted in ``HTTPCode_ELB_5XX_Count``, which has no
``TargetGroup`` dimension, and — for connections that failed — in the group's
``TargetConnectionErrorCount``; the requests still count in the group's ``RequestCount``, so
the target 5xx rate looks lower, not higher (CloudWatch metrics for Application Load
Balancers). Two gates read them:

- ``eks-connection-errors``: the EKS group's ``TargetConnectionErrorCount`` over its
  ``RequestCount`` since the read-back must stay at or below ``max_5xx_rate``; fewer than
  ``min_requests`` requests is inconclusive. No datapoint means no error (an ALB does not
  publish zero counts), once there are requests to judge.
- ``elb-5xx``: the load balancer's own 5xx since the read-back, against its level over the
  ``lookback`` before it. What exceeds that level is attributed to the step that raised it,
  i.e. to the EKS side's requests in the same window, and that share must stay at or below
  ``max_5xx_rate``. Without load-balancer request data since the read-back it is
  inconclusive; without any before it, the level before is taken as zero.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from phases.traffic_shift.gates import Reading, Result
from phases.traffic_shift.topology import Topology, metric_dimension

if TYPE_CHECKING:
    from phases.shared.sections import Gates, StepContext

_NAMESPACE = "AWS/ApplicationELB"


@dataclass(frozen=True)
class ElbWindow:
    """Totals of the ELB-side series, before the read-back and since it."""

    eks_connection_errors: float
    lb_requests: float
    lb_requests_seen: bool
    lb_elb_5xx: float
    before_requests: float
    before_elb_5xx: float


def fetch(
    ctx: StepContext,
    topo: Topology,
    *,
    cutoff: float,
    since: float,
    now: float,
    period: int,
    lookback: float,
) -> ElbWindow:
    """One GetMetricData for [cutoff − lookback, now): the baseline and the step's window."""
    start = max(cutoff, since)
    query_start = math.floor((cutoff - lookback) / period) * period
    query_end = math.ceil(now / period) * period + period
    lb = {"Name": "LoadBalancer", "Value": metric_dimension(topo.lb_arn, "loadbalancer")}
    eks = {"Name": "TargetGroup", "Value": metric_dimension(topo.eks, "targetgroup")}
    wanted = (
        ("conn", "TargetConnectionErrorCount", [lb, eks]),
        ("requests", "RequestCount", [lb]),
        ("elb5xx", "HTTPCode_ELB_5XX_Count", [lb]),
    )
    queries = [
        {
            "Id": query_id,
            "MetricStat": {
                "Metric": {"Namespace": _NAMESPACE, "MetricName": metric, "Dimensions": dims},
                "Period": period,
                "Stat": "Sum",
                "Unit": "Count",
            },
            "ReturnData": True,
        }
        for query_id, metric, dims in wanted
    ]
    during: dict[str, float] = {}
    before: dict[str, float] = {}
    seen: set[str] = set()
    pages = ctx.aws("cloudwatch").paginate(
        "get_metric_data",
        MetricDataQueries=queries,
        StartTime=dt.datetime.fromtimestamp(query_start, dt.UTC),
        EndTime=dt.datetime.fromtimestamp(query_end, dt.UTC),
        ScanBy="TimestampAscending",
    )
    for page in pages:
        for result in page.get("MetricDataResults") or []:
            key = str(result["Id"])
            for stamp, value in zip(
                result.get("Timestamps") or [], result.get("Values") or [], strict=False
            ):
                began = _epoch(stamp)
                if start <= began < now:
                    during[key] = during.get(key, 0.0) + float(value)
                    seen.add(key)
                elif cutoff - lookback <= began < cutoff:
                    before[key] = before.get(key, 0.0) + float(value)
    return ElbWindow(
        eks_connection_errors=during.get("conn", 0.0),
        lb_requests=during.get("requests", 0.0),
        lb_requests_seen="requests" in seen,
        lb_elb_5xx=during.get("elb5xx", 0.0),
        before_requests=before.get("requests", 0.0),
        before_elb_5xx=before.get("elb5xx", 0.0),
    )


def judge_connection_errors(eks_requests: int | None, elb: ElbWindow, gates: Gates) -> Reading:
    gate = "eks-connection-errors"
    errors = int(elb.eks_connection_errors)
    values: dict[str, Any] = {"eks_requests": eks_requests, "eks_connection_errors": errors}
    if not eks_requests or eks_requests < gates.min_requests:
        return Reading(
            gate,
            Result.INCONCLUSIVE,
            f"{eks_requests or 0} EKS requests, fewer than the {gates.min_requests} needed to "
            "judge connection errors",
            values,
        )
    rate = errors / eks_requests
    values["rate"] = round(rate, 6)
    shown = (
        f"connections to EKS targets failed for {_pct(rate)} of requests "
        f"({errors} of {eks_requests})"
    )
    if rate > gates.max_5xx_rate:
        return Reading(
            gate,
            Result.FAIL,
            f"{shown}, above the limit {_pct(gates.max_5xx_rate)}; the ALB answered them 502",
            values,
        )
    return Reading(gate, Result.PASS, shown, values)


def judge_elb_5xx(eks_requests: int | None, elb: ElbWindow, gates: Gates) -> Reading:
    gate = "elb-5xx"
    requests = int(elb.lb_requests)
    errors = int(elb.lb_elb_5xx)
    level = elb.before_elb_5xx / elb.before_requests if elb.before_requests else 0.0
    values: dict[str, Any] = {
        "lb_requests": requests,
        "lb_elb_5xx": errors,
        "level_before": round(level, 6),
        "eks_requests": eks_requests,
    }
    if not elb.lb_requests_seen or requests < gates.min_requests:
        return Reading(
            gate,
            Result.INCONCLUSIVE,
            f"{requests} load-balancer requests since the shift, fewer than the "
            f"{gates.min_requests} needed to judge its own 5xx",
            values,
        )
    excess = max(0.0, errors - level * requests)
    shown = (
        f"load balancer's own 5xx {_pct(errors / requests)} of {requests} requests since the "
        f"shift, {_pct(level)} before it"
    )
    if excess < 1:
        return Reading(gate, Result.PASS, shown, values)
    if not eks_requests:
        return Reading(
            gate,
            Result.FAIL,
            f"{shown}; {excess:.0f} more than its level, with no EKS requests to attribute them to",
            values,
        )
    rate = excess / eks_requests
    values["attributed_rate"] = round(rate, 6)
    shown += f"; the rise is {_pct(rate)} of the {eks_requests} EKS requests"
    if rate > gates.max_5xx_rate:
        return Reading(
            gate, Result.FAIL, f"{shown}, above the limit {_pct(gates.max_5xx_rate)}", values
        )
    return Reading(gate, Result.PASS, shown, values)


def _pct(rate: float) -> str:
    return f"{100 * rate:.2f} %"


def _epoch(stamp: Any) -> float:
    if isinstance(stamp, dt.datetime):
        moment = stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
        return moment.timestamp()
    return float(stamp)
