"""Simulated Flexdesk traffic: the ALB metrics and alarm states a real estate would show.

Phase 4's health gates watch CloudWatch while weight moves from the EC2 target group to
the EKS one, so the sandbox must make those metrics move too. Each tick the simulator
sends ``requests_per_second`` worth of requests through the load balancers, listeners,
rules and target groups (see ``routing``), publishes what a real ALB would publish in
``AWS/ApplicationELB``, and evaluates the alarms on those metrics (see ``alarms``).

The migration changes weights, rules, targets and alarms between ticks. Without
``world_version`` every tick reads them all again. With it (the AWS front's count of calls
that may have changed the world), a tick reads them again only when the count moved, the
faults changed, or a target was last seen in a state it leaves with time alone
(``initial``, ``draining``) — otherwise what was read last still holds. A sandbox at
rest then makes no ELB or alarm reads at all, where it used to make a dozen a second.

What it publishes, per period of ``faults.metric_period`` seconds, once the period has
ended plus ``faults.metrics_lag`` seconds, timestamped at the period's start — with
``LoadBalancer`` + ``TargetGroup`` dimensions and again with ``LoadBalancer`` alone:
``RequestCount``, ``HTTPCode_Target_5XX_Count``, ``TargetConnectionErrorCount`` and
``TargetResponseTime``; per target group ``HealthyHostCount`` and ``UnHealthyHostCount``; per
load balancer ``HTTPCode_ELB_5XX_Count`` (and ``HTTPCode_ELB_502_Count`` for refused
connections). Like a real ALB, a count that is zero is not published (no
5xx means no 5xx datapoint) and a target group that served nothing has no request data.

The EKS side is any ``ip`` target group; the EC2 side is instance-type. Faults: EKS 5xx at
``eks_5xx_rate`` once its share of the load balancer's traffic is at least
``eks_5xx_from_percent``; ``eks_refuse_rate`` of the connections to EKS targets fail
once EKS has ``eks_refuse_from_percent`` of the traffic — those requests still count in the
group's ``RequestCount``, add to its ``TargetConnectionErrorCount`` and are answered 502 by
the load balancer itself (``HTTPCode_ELB_5XX_Count``), while health checks keep passing and
the target 5xx and latency series stay clean; EKS latency around ``eks_latency_ms``;
``metrics_missing`` drops the EKS target groups' own series (the load-balancer-wide series
still carry their requests); ``targets_unhealthy`` makes ip targets count as unhealthy.
Target health is read as the AWS front answers DescribeTargetHealth (a new target is
``initial`` for a while, a deregistered one ``draining``), not from moto, which reports every
registered target healthy. Requests to a target group with registered targets but none
healthy are sent to them anyway (ALBs fail open); the simulator assumes targets that fail
health checks, or are not checked yet, fail requests too, so those requests are all target
5xx. A target group with no registered targets gets the ALB's own 503s.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flexmigrate.sandbox.faults import FaultBoard, Faults
from flexmigrate.sandbox.traffic.alarms import NAMESPACE, AlarmSpec, evaluate
from flexmigrate.sandbox.traffic.routing import DEFAULT_HOST
from flexmigrate.sandbox.traffic.series import (
    Datapoint,
    Distribution,
    MetricStore,
    SeriesKey,
    allocate,
)
from flexmigrate.sandbox.traffic.topology import (
    LoadBalancerView,
    TargetGroupView,
    read_load_balancers,
)

__all__ = ["TrafficSimulator"]

_log = logging.getLogger(__name__)

_EC2_BASELINE_5XX = 0.0001  # one request in ten thousand: a healthy but real backend
_EC2_LATENCY_S = (0.080, 0.120)
_EKS_LATENCY_S = (0.050, 0.090)
_MAX_CATCH_UP_INTERVALS = 10  # after a pause, simulate at most this many intervals at once
_PUT_BATCH = 100
_ELB_5XX = "elb:5xx"
_ELSEWHERE = "elb:elsewhere"


@dataclass(frozen=True)
class _SeriesInfo:
    unit: str
    is_count: bool
    eks: bool
    target_group: str | None  # ARN, for series with a TargetGroup dimension


@dataclass
class _PeriodBuffer:
    start: float
    period: int
    info: dict[SeriesKey, _SeriesInfo] = field(default_factory=dict)
    counts: dict[SeriesKey, int] = field(default_factory=dict)
    dists: dict[SeriesKey, Distribution] = field(default_factory=dict)

    def count(self, key: SeriesKey, info: _SeriesInfo, amount: int) -> None:
        self.info.setdefault(key, info)
        self.counts[key] = self.counts.get(key, 0) + amount

    def distribution(self, key: SeriesKey, info: _SeriesInfo) -> Distribution:
        self.info.setdefault(key, info)
        return self.dists.setdefault(key, Distribution())


class TrafficSimulator:
    """Publishes ALB metrics for simulated traffic and keeps ALB alarms' states current."""

    def __init__(
        self,
        session: Any,
        endpoint_url: str,
        region: str,
        faults: FaultBoard,
        interval: float = 1.0,
        requests_per_second: float = 200,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
        host: str = DEFAULT_HOST,
        health_url: str | None = None,
        world_version: Callable[[], int] | None = None,
    ) -> None:
        self._elbv2 = session.client("elbv2", endpoint_url=endpoint_url, region_name=region)
        # Target health as the ALB sees it (``initial``, ``draining``, failed checks) is the
        # AWS front's; moto reports every registered target healthy.
        self._health = (
            session.client("elbv2", endpoint_url=health_url, region_name=region)
            if health_url
            else self._elbv2
        )
        self._cloudwatch = session.client(
            "cloudwatch", endpoint_url=endpoint_url, region_name=region
        )
        self._faults = faults
        self._interval = interval
        self._rps = requests_per_second
        self._rng = random.Random(seed)  # noqa: S311 - simulated latencies, not secrets
        self._clock = clock
        self._host = host
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_tick: float | None = None
        self._carry: dict[str, float] = {}
        self._world_version = world_version
        self._topology: tuple[tuple[int, Faults], list[LoadBalancerView]] | None = None
        self._alarms: tuple[int, list[AlarmSpec]] | None = None
        self._pending: dict[tuple[float, int], _PeriodBuffer] = {}
        self._store = MetricStore()
        self._published: dict[str, dict[str, Any]] = {}
        self._totals: dict[str, int] = {}
        self._snapshot: dict[str, Any] = {
            "at": None,
            "target_groups": {},
            "alarms": {},
            "last_error": None,
        }

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> None:
        """Tick every ``interval`` seconds on a daemon thread until ``stop``."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="traffic-simulator", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self.tick()
            # The simulator outlives a failed tick (moto busy, a resource deleted mid-read);
            # the error is kept for `sandbox status` and the next tick starts afresh.
            except Exception as exc:  # noqa: BLE001
                _log.warning("traffic tick failed: %s: %s", type(exc).__name__, exc)
                with self._lock:
                    self._snapshot["last_error"] = f"{type(exc).__name__}: {exc}"
            self._stop.wait(max(0.0, self._interval - (time.monotonic() - began)))

    # -- one step ---------------------------------------------------------------------

    def tick(self, now: float | None = None) -> None:
        """Simulate the requests since the last tick, publish due periods, evaluate alarms.

        Requests cover the time since the previous tick (``interval`` for the first), so a
        late tick loses no traffic; after a long pause at most ten intervals are made up.
        """
        with self._lock:
            now = self._clock() if now is None else now
            faults = self._faults.get()
            # Read before the world, so a change made during the reads moves it again.
            version = self._world_version() if self._world_version is not None else None
            load_balancers = self._load_balancers(version, faults)
            start = self._last_tick if self._last_tick is not None else now - self._interval
            start = max(start, now - _MAX_CATCH_UP_INTERVALS * self._interval)
            if now > start:
                for lb in load_balancers:
                    self._simulate(lb, start, now, faults)
                self._last_tick = now
            self._publish_due(now, faults)
            self._store.prune(now)
            alarms = self._evaluate_alarms(now, faults, version)
            self._snapshot = {
                "at": now,
                "target_groups": self._describe(load_balancers),
                "alarms": alarms,
                "last_error": None,
            }

    def _load_balancers(self, version: int | None, faults: Faults) -> list[LoadBalancerView]:
        if version is not None and self._topology is not None:
            (seen, seen_faults), views = self._topology
            settling = any(tg.settling for lb in views for tg in lb.target_groups.values())
            if seen == version and seen_faults == faults and not settling:
                return views
        views = read_load_balancers(self._elbv2, faults, self._host, self._health)
        self._topology = ((version, faults), views) if version is not None else None
        return views

    def snapshot(self) -> dict[str, Any]:
        """What was last published per target group, current shares and health, alarm states."""
        with self._lock:
            return copy.deepcopy(self._snapshot)

    def requests_per_second(self, target_group_arn: str) -> float:
        """The requests per second last sent to a target group (its share of the load)."""
        with self._lock:
            groups = self._snapshot.get("target_groups") or {}
            share = sum(
                float(g.get("traffic_percent", 0.0))
                for g in groups.values()
                if g.get("arn") == target_group_arn
            )
        return self._rps * share / 100.0

    # -- simulating -------------------------------------------------------------------

    def _simulate(self, lb: LoadBalancerView, start: float, end: float, faults: Faults) -> None:
        period = faults.metric_period
        exact = self._rps * (end - start) + self._carry.get(lb.arn, 0.0)
        total = math.floor(exact)
        self._carry[lb.arn] = exact - total
        shares: dict[str, float] = dict(lb.routing.target_groups)
        shares[_ELB_5XX] = lb.routing.elb_5xx
        shares[_ELSEWHERE] = max(0.0, 1.0 - sum(shares.values()))
        segments = dict(_segments(start, end, period))
        lb_dims = {"LoadBalancer": lb.dimension}
        for destination, count in allocate(total, shares).items():
            for segment_start, n in allocate(count, segments).items():
                if n <= 0 or destination == _ELSEWHERE:
                    continue
                buffer = self._buffer(segment_start, period)
                tg = lb.target_groups.get(destination)
                if tg is None or tg.registered == 0:
                    # No target to choose: the ALB answers 503 itself.
                    info = _SeriesInfo("Count", True, False, None)
                    buffer.count(SeriesKey.of("HTTPCode_ELB_5XX_Count", lb_dims), info, n)
                    continue
                share = 100.0 * lb.routing.target_groups.get(destination, 0.0)
                self._requests(buffer, lb, tg, n, share, faults)
        # Host counts are gauges: one observation per tick, in the period the tick ends in.
        last = self._buffer(max(segments), period)
        for tg in lb.target_groups.values():
            dims = {"LoadBalancer": lb.dimension, "TargetGroup": tg.dimension}
            info = _SeriesInfo("Count", False, tg.eks, tg.arn)
            last.distribution(SeriesKey.of("HealthyHostCount", dims), info).add(tg.healthy)
            unhealthy = tg.registered - tg.healthy
            last.distribution(SeriesKey.of("UnHealthyHostCount", dims), info).add(unhealthy)

    def _requests(
        self,
        buffer: _PeriodBuffer,
        lb: LoadBalancerView,
        tg: TargetGroupView,
        n: int,
        share_percent: float,
        faults: Faults,
    ) -> None:
        refused = 0
        refusing = faults.eks_refuse_rate > 0 and tg.eks and tg.healthy > 0
        if refusing and share_percent + 1e-6 >= faults.eks_refuse_from_percent:
            refused = math.floor(faults.eks_refuse_rate * n + 0.5)
        answered = n - refused
        if tg.healthy == 0:
            errors = answered
        elif tg.eks:
            hit = faults.eks_5xx_rate > 0 and share_percent + 1e-6 >= faults.eks_5xx_from_percent
            errors = math.floor(faults.eks_5xx_rate * answered + 0.5) if hit else 0
        else:
            errors = sum(1 for _ in range(answered) if self._rng.random() < _EC2_BASELINE_5XX)
        latencies = self._latencies(answered, tg.eks, faults.eks_latency_ms)
        for dims, eks, owner in (
            ({"LoadBalancer": lb.dimension, "TargetGroup": tg.dimension}, tg.eks, tg.arn),
            ({"LoadBalancer": lb.dimension}, False, None),
        ):
            counted = _SeriesInfo("Count", True, eks, owner)
            # A request whose connection the target refused still counts: the ALB chose it.
            buffer.count(SeriesKey.of("RequestCount", dims), counted, n)
            buffer.count(SeriesKey.of("HTTPCode_Target_5XX_Count", dims), counted, errors)
            buffer.count(SeriesKey.of("TargetConnectionErrorCount", dims), counted, refused)
            timed = _SeriesInfo("Seconds", False, eks, owner)
            buffer.distribution(SeriesKey.of("TargetResponseTime", dims), timed).merge(latencies)
        if refused:
            # The ALB answers a failed connection with its own 502, counted per load balancer
            # only: the ELB_* metrics have no TargetGroup dimension.
            lb_dims = {"LoadBalancer": lb.dimension}
            info = _SeriesInfo("Count", True, False, None)
            buffer.count(SeriesKey.of("HTTPCode_ELB_5XX_Count", lb_dims), info, refused)
            buffer.count(SeriesKey.of("HTTPCode_ELB_502_Count", lb_dims), info, refused)

    def _latencies(self, n: int, eks: bool, eks_latency_ms: int) -> Distribution:
        if eks and eks_latency_ms > 0:
            high = eks_latency_ms / 1000.0
            low = 0.6 * high
        else:
            low, high = _EKS_LATENCY_S if eks else _EC2_LATENCY_S
        dist = Distribution()
        for _ in range(n):
            # Three significant digits keep a period's histogram small at any latency.
            dist.add(float(f"{self._rng.uniform(low, high):.3g}"))
        return dist

    def _buffer(self, start: float, period: int) -> _PeriodBuffer:
        key = (start, period)
        if key not in self._pending:
            self._pending[key] = _PeriodBuffer(start, period)
        return self._pending[key]

    # -- publishing -------------------------------------------------------------------

    def _publish_due(self, now: float, faults: Faults) -> None:
        for key in sorted(self._pending):
            buffer = self._pending[key]
            if buffer.start + buffer.period + faults.metrics_lag > now:
                continue
            self._publish(buffer, faults)
            del self._pending[key]

    def _publish(self, buffer: _PeriodBuffer, faults: Faults) -> None:
        stamp = datetime.datetime.fromtimestamp(buffer.start, datetime.UTC)
        data: list[dict[str, Any]] = []
        points: list[tuple[SeriesKey, _SeriesInfo, Distribution]] = []
        for key, info in buffer.info.items():
            if info.eks and faults.metrics_missing:
                continue
            datum: dict[str, Any] = {
                "MetricName": key.metric,
                "Dimensions": key.api_dimensions(),
                "Timestamp": stamp,
                "Unit": info.unit,
            }
            if info.is_count:
                value = buffer.counts.get(key, 0)
                if value <= 0:
                    continue
                datum["Value"] = float(value)
                dist = Distribution({float(value): 1})
            else:
                dist = buffer.dists.get(key, Distribution())
                if dist.sample_count == 0:
                    continue
                datum["Values"] = dist.moto_values()
            data.append(datum)
            points.append((key, info, dist))
        for i in range(0, len(data), _PUT_BATCH):
            self._cloudwatch.put_metric_data(
                Namespace=NAMESPACE, MetricData=data[i : i + _PUT_BATCH]
            )
        for key, info, dist in points:
            self._store.record(key, Datapoint(buffer.start, buffer.period, info.unit, dist))
            if info.target_group is not None:
                self._remember(key, info.target_group, buffer, dist)

    def _remember(
        self, key: SeriesKey, tg_arn: str, buffer: _PeriodBuffer, dist: Distribution
    ) -> None:
        entry = self._published.get(tg_arn)
        if entry is None or entry["period_start"] != buffer.start:
            # Zero counts are not published, so they start at zero here.
            entry = {
                "period_start": buffer.start,
                "period": buffer.period,
                "RequestCount": 0,
                "HTTPCode_Target_5XX_Count": 0,
            }
            self._published[tg_arn] = entry
        if key.metric == "TargetResponseTime":
            entry["TargetResponseTime_p99"] = dist.percentile(99)
            entry["TargetResponseTime_average"] = dist.statistic("Average")
        elif key.metric in ("HealthyHostCount", "UnHealthyHostCount"):
            entry[key.metric] = dist.statistic("Average")
        else:
            entry[key.metric] = int(dist.total)
            if key.metric == "RequestCount":
                self._totals[tg_arn] = self._totals.get(tg_arn, 0) + int(dist.total)

    # -- alarms -----------------------------------------------------------------------

    def _evaluate_alarms(self, now: float, faults: Faults, version: int | None) -> dict[str, str]:
        specs = self._alarm_specs(version)
        states: dict[str, str] = {}
        for index, spec in enumerate(specs):
            verdict = evaluate(spec, self._store, now, delay=faults.metrics_lag)
            states[spec.name] = spec.state
            if verdict is None or verdict.state == spec.state:
                continue
            self._cloudwatch.set_alarm_state(
                AlarmName=spec.name,
                StateValue=verdict.state,
                StateReason=verdict.reason,
                StateReasonData=verdict.reason_data,
            )
            states[spec.name] = verdict.state
            # The simulator's own change, made past the front: what it read stays true.
            specs[index] = dataclasses.replace(spec, state=verdict.state)
        return states

    def _alarm_specs(self, version: int | None) -> list[AlarmSpec]:
        """The metric alarms this simulator evaluates, read again when the world moved."""
        if version is not None and self._alarms is not None and self._alarms[0] == version:
            return self._alarms[1]
        specs = [
            spec
            for page in self._cloudwatch.get_paginator("describe_alarms").paginate(
                AlarmTypes=["MetricAlarm"]
            )
            for alarm in page.get("MetricAlarms", ())
            if (spec := AlarmSpec.from_api(alarm)) is not None
        ]
        self._alarms = (version, specs) if version is not None else None
        return specs

    # -- status -----------------------------------------------------------------------

    def _describe(self, load_balancers: list[LoadBalancerView]) -> dict[str, Any]:
        described: dict[str, Any] = {}
        for lb in load_balancers:
            for tg in lb.target_groups.values():
                described[tg.name] = {
                    "arn": tg.arn,
                    "load_balancer": lb.name,
                    "target_type": tg.target_type,
                    "side": "eks" if tg.eks else "ec2",
                    "traffic_percent": round(100.0 * lb.routing.target_groups.get(tg.arn, 0.0), 3),
                    "registered_targets": tg.registered,
                    "healthy_targets": tg.healthy,
                    "requests_published": self._totals.get(tg.arn, 0),
                    "last_period": copy.deepcopy(self._published.get(tg.arn)),
                }
        return described


def _segments(start: float, end: float, period: int) -> Iterator[tuple[float, float]]:
    """(period start, fraction of [start, end)) for each metric period the span touches."""
    span = end - start
    t = start
    while t < end:
        period_start = math.floor(t / period) * period
        segment_end = min(end, period_start + period)
        yield float(period_start), (segment_end - t) / span
        t = segment_end
