"""Faults a rehearsal can switch on and off while the sandbox runs.

A spec is ``NAME`` or ``NAME=VALUE``; several are given one per ``--inject``. The board is
shared by every part of the sandbox (AWS front, Kubernetes emulator, traffic simulator) and
read on each request or tick, so a change made in the middle of a bake takes effect at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields, replace

# How long a role created through the front is refused by EKS creates in `flexmigrate
# rehearse` unless told otherwise: real IAM takes several seconds, and a rehearsal must meet
# that on every run.
REHEARSAL_IAM_PROPAGATION = 3.0

FAULT_HELP = {
    "eks-5xx": "RATE[@PERCENT]  fraction of EKS requests answered 5xx (from PERCENT % on EKS)",
    "eks-refuse": "RATE[@PERCENT]  fraction of connections to EKS targets refused (the ALB answers "
    "502; health checks still pass)",
    "eks-latency": "MS  p99 target response time of the EKS side",
    "rollout-stuck": "Deployments never become available (ProgressDeadlineExceeded)",
    "targets-unhealthy": "targets of ip target groups stay unhealthy",
    "metrics-missing": "the traffic simulator publishes no EKS metrics",
    "metrics-lag": "SECONDS  delay before a metric period is published",
    "metric-period": "SECONDS  period of published metrics (real ALB metrics: 60)",
    "aws-throttle": "RATE  fraction of AWS calls answered with a throttling error or 503",
    "aws-drop": "RATE  fraction of AWS calls whose connection closes without an answer: half "
    "before the service sees the call, half after it carried it out (the answer is lost)",
    "aws-lose-answer": "OPERATION  the next call of OPERATION (e.g. CreateRole, or "
    "ec2:CreateImage) is carried out and its answer lost, once (the SDK's retry of it is "
    "answered); several with one spec each",
    "kube-api-faults": "RATE  fraction of Kubernetes API requests answered 429, 500, 409 (updates) "
    "or with the connection closed",
    "iam-propagation": "SECONDS  a new IAM role is refused by EKS creates this long "
    f"(0 turns it off; {REHEARSAL_IAM_PROPAGATION:g} in rehearsals by default)",
}


class FaultSpecError(ValueError):
    """A fault spec that cannot be understood."""


@dataclass(frozen=True)
class Faults:
    eks_5xx_rate: float = 0.0
    eks_5xx_from_percent: int = 0
    eks_refuse_rate: float = 0.0
    eks_refuse_from_percent: int = 0
    eks_latency_ms: int = 0
    rollout_stuck: bool = False
    targets_unhealthy: bool = False
    metrics_missing: bool = False
    metrics_lag: float = 0.0
    metric_period: int = 1
    aws_throttle: float = 0.0
    aws_drop: float = 0.0
    aws_lose_answer: tuple[str, ...] = ()
    iam_propagation: float = 0.0
    kube_api_faults: float = 0.0

    def with_spec(self, spec: str) -> Faults:
        name, _, value = spec.strip().partition("=")
        name = name.strip()
        value = value.strip()
        try:
            if name == "eks-5xx":
                rate, _, at = value.partition("@")
                return replace(
                    self,
                    eks_5xx_rate=_fraction(rate),
                    eks_5xx_from_percent=int(at) if at else 0,
                )
            if name == "eks-refuse":
                rate, _, at = value.partition("@")
                return replace(
                    self,
                    eks_refuse_rate=_fraction(rate),
                    eks_refuse_from_percent=int(at) if at else 0,
                )
            if name == "eks-latency":
                return replace(self, eks_latency_ms=int(value))
            if name == "metrics-lag":
                return replace(self, metrics_lag=float(value))
            if name == "metric-period":
                period = int(value)
                if period < 1:
                    raise FaultSpecError("metric-period must be at least 1 second")
                return replace(self, metric_period=period)
            if name == "iam-propagation":
                delay = float(value)
                if delay < 0:
                    raise FaultSpecError("iam-propagation cannot be negative")
                return replace(self, iam_propagation=delay)
            if name == "aws-throttle":
                return replace(self, aws_throttle=_fraction(value))
            if name == "aws-drop":
                return replace(self, aws_drop=_fraction(value))
            if name == "aws-lose-answer":
                if not value:
                    raise FaultSpecError("aws-lose-answer needs an OPERATION")
                return replace(self, aws_lose_answer=(*self.aws_lose_answer, value))
            if name == "kube-api-faults":
                return replace(self, kube_api_faults=_fraction(value))
            on = value.lower() not in ("0", "false", "off", "no")
            if name == "rollout-stuck":
                return replace(self, rollout_stuck=on)
            if name == "targets-unhealthy":
                return replace(self, targets_unhealthy=on)
            if name == "metrics-missing":
                return replace(self, metrics_missing=on)
        except ValueError as exc:
            raise FaultSpecError(f"{spec!r}: {exc}") from exc
        known = ", ".join(sorted(FAULT_HELP))
        raise FaultSpecError(f"{spec!r}: unknown fault {name!r} (known: {known})")

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Faults:
        names = {f.name for f in fields(cls)}
        kept = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names}
        return cls(**kept)  # type: ignore[arg-type]


def _fraction(text: str) -> float:
    rate = float(text)
    if not 0.0 <= rate <= 1.0:
        raise FaultSpecError(f"{text} is not a fraction between 0 and 1")
    return rate


def parse_specs(specs: list[str] | tuple[str, ...], base: Faults | None = None) -> Faults:
    faults = base or Faults()
    for spec in specs:
        faults = faults.with_spec(spec)
    return faults


class FaultBoard:
    """Thread-safe holder of the current faults; readers take a consistent snapshot."""

    def __init__(self, faults: Faults | None = None) -> None:
        self._lock = threading.Lock()
        self._faults = faults or Faults()

    def get(self) -> Faults:
        with self._lock:
            return self._faults

    def set(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults

    def inject(self, specs: list[str] | tuple[str, ...]) -> Faults:
        with self._lock:
            self._faults = parse_specs(specs, self._faults)
            return self._faults

    def take_lost_answer(self, service: str, operation: str) -> bool:
        """True once for each armed ``aws-lose-answer`` naming this call (then disarmed)."""
        with self._lock:
            armed = self._faults.aws_lose_answer
            for name in (f"{service}:{operation}", operation):
                if name in armed:
                    rest = list(armed)
                    rest.remove(name)
                    self._faults = replace(self._faults, aws_lose_answer=tuple(rest))
                    return True
            return False

    def clear(self) -> None:
        with self._lock:
            self._faults = Faults()
