"""Metric data the simulator has published, kept so alarms can be evaluated as CloudWatch would.

moto stores metric data but cannot compute percentiles, and it expands every counted value
into one stored object (200 requests a second would grow it by hundreds of megabytes an
hour). So the simulator keeps its own exact record here — one value-to-count histogram per
series and period — evaluates alarms from it, and sends moto a compact form (see
``moto_values``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")

# moto stores one object (about 400 bytes) per counted value; a period's histogram is sent
# as at most this many values spanning it from minimum to maximum, exact when it has fewer
# samples. With one-second periods that keeps moto's growth near 60 MB an hour.
MOTO_SAMPLES_PER_DATUM = 10


@dataclass(frozen=True)
class SeriesKey:
    """A metric as CloudWatch identifies it: name plus the exact set of dimensions."""

    metric: str
    dimensions: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, metric: str, dimensions: Mapping[str, str]) -> SeriesKey:
        return cls(metric, tuple(sorted(dimensions.items())))

    def api_dimensions(self) -> list[dict[str, str]]:
        return [{"Name": name, "Value": value} for name, value in self.dimensions]


@dataclass
class Distribution:
    """Values with how often each occurred: enough for every CloudWatch statistic."""

    counts: dict[float, int] = field(default_factory=dict)

    def add(self, value: float, count: int = 1) -> None:
        if count > 0:
            self.counts[value] = self.counts.get(value, 0) + count

    def merge(self, other: Distribution) -> None:
        for value, count in other.counts.items():
            self.add(value, count)

    @property
    def sample_count(self) -> int:
        return sum(self.counts.values())

    @property
    def total(self) -> float:
        return sum(value * count for value, count in self.counts.items())

    def statistic(self, name: str) -> float | None:
        """``Sum``, ``Average``, ``Minimum``, ``Maximum``, ``SampleCount`` or ``pNN``."""
        n = self.sample_count
        if n == 0:
            return None
        if name == "Sum":
            return self.total
        if name == "SampleCount":
            return float(n)
        if name == "Average":
            return self.total / n
        if name == "Minimum":
            return min(self.counts)
        if name == "Maximum":
            return max(self.counts)
        match = _PERCENTILE.match(name)
        if match:
            return self.percentile(float(match.group(1)))
        return None

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile: the smallest value with at least p % of samples at or below."""
        rank = max(1, math.ceil(p / 100.0 * self.sample_count))
        seen = 0
        for value in sorted(self.counts):
            seen += self.counts[value]
            if seen >= rank:
                return value
        return max(self.counts)

    def moto_values(self) -> list[float]:
        """At most ``MOTO_SAMPLES_PER_DATUM`` values whose spread matches this histogram.

        Evenly spaced quantiles from the minimum to the maximum: averages stay close, and a
        percentile computed later from the stored values errs high rather than hiding a tail.
        """
        n = self.sample_count
        ordered = sorted(self.counts)
        if n <= MOTO_SAMPLES_PER_DATUM:
            return [value for value in ordered for _ in range(self.counts[value])]
        k = MOTO_SAMPLES_PER_DATUM
        return [self.percentile(100.0 * i / (k - 1)) for i in range(k)]


def metric_dimension(arn: str, marker: str) -> str:
    """The part of an ELB ARN that CloudWatch uses as a dimension value.

    ``...:loadbalancer/app/name/id`` gives ``app/name/id``; ``...:targetgroup/name/id``
    gives ``targetgroup/name/id`` — exactly what real ALB metrics carry.
    """
    _, _, rest = arn.partition(f":{marker}/")
    if not rest:
        raise ValueError(f"{arn!r} is not an ELB {marker} ARN")
    return rest if marker == "loadbalancer" else f"{marker}/{rest}"


def is_supported_statistic(name: str) -> bool:
    return name in ("Sum", "Average", "Minimum", "Maximum", "SampleCount") or bool(
        _PERCENTILE.match(name)
    )


def allocate(total: int, shares: Mapping[K, float]) -> dict[K, int]:
    """Split ``total`` whole requests by ``shares`` (largest remainder, so 90/10 is exact)."""
    weight = sum(max(0.0, s) for s in shares.values())
    if total <= 0 or weight <= 0:
        return {key: 0 for key in shares}
    exact = {key: total * max(0.0, s) / weight for key, s in shares.items()}
    result = {key: math.floor(value) for key, value in exact.items()}
    left = total - sum(result.values())
    by_remainder = sorted(exact, key=lambda key: exact[key] - result[key], reverse=True)
    for key in by_remainder[:left]:
        result[key] += 1
    return result


@dataclass(frozen=True)
class Datapoint:
    start: float
    period: int
    unit: str
    values: Distribution


class MetricStore:
    """Published datapoints per series, pruned to a retention window."""

    def __init__(self, retention: float = 3600.0) -> None:
        self._retention = retention
        self._series: dict[SeriesKey, list[Datapoint]] = {}

    def record(self, key: SeriesKey, point: Datapoint) -> None:
        self._series.setdefault(key, []).append(point)

    def prune(self, now: float) -> None:
        horizon = now - self._retention
        for key in list(self._series):
            kept = [p for p in self._series[key] if p.start + p.period > horizon]
            if kept:
                self._series[key] = kept
            else:
                del self._series[key]

    def window(
        self, key: SeriesKey, start: float, end: float, unit: str | None = None
    ) -> Distribution | None:
        """All data of a series whose timestamp lies in [start, end), or None if there is none.

        As in CloudWatch, a datapoint belongs to the window holding its timestamp, and an
        alarm's unit, when given, must match the unit the data was published with.
        """
        merged = Distribution()
        found = False
        for point in self._series.get(key, ()):
            if start <= point.start < end and (unit is None or unit == point.unit):
                merged.merge(point.values)
                found = True
        return merged if found else None

    def keys(self) -> Iterable[SeriesKey]:
        return self._series.keys()
