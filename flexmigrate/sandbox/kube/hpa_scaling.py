"""The HPA's replica calculation on resource metrics, as the Kubernetes documentation gives it.

For each ``Resource`` metric with a ``Utilization`` target: utilization is the pods' summed
usage over their summed requests (ready pods with metrics only), the ratio is
utilization / target, and within the tolerance (0.1) nothing changes; otherwise
``desired = ceil(ratio * ready pods)``. ``AverageValue`` targets divide the average usage by
the target value the same way. The largest proposal of all metrics wins, then the default
behaviour limits it: a scale-up to at most ``max(2 * current, current + 4)`` per step, a
scale-down only to the highest recommendation of the stabilization window (300 s unless
``behavior.scaleDown.stabilizationWindowSeconds`` says otherwise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from flexmigrate.sandbox.kube.label_selectors import match_label_selector
from flexmigrate.sandbox.kube.meta import is_deleting, labels_of, pod_ready
from flexmigrate.sandbox.kube.metrics_api import quantity

Obj = dict[str, Any]
TOLERANCE = 0.1
_DOWN_WINDOW = 300.0


@dataclass
class Proposal:
    replicas: int
    metrics: list[Obj] = field(default_factory=list)
    reason: str = ""


def _requests(pod: Obj, resource: str) -> float | None:
    total = 0.0
    for container in (pod.get("spec") or {}).get("containers") or []:
        wanted = ((container.get("resources") or {}).get("requests") or {}).get(resource)
        if wanted is None:
            return None
        total += quantity(wanted)
    return total


def propose(
    hpa: Obj, deploy: Obj, pods: list[Obj], usage: dict[str, list[tuple[str, float, float]]]
) -> Proposal | None:
    """The replicas the metrics ask for, or None when no metric could be computed."""
    selector = (deploy.get("spec") or {}).get("selector")
    ns = deploy["metadata"].get("namespace")
    ready = [
        p
        for p in pods
        if p["metadata"].get("namespace") == ns
        and not is_deleting(p)
        and pod_ready(p)
        and match_label_selector(selector, labels_of(p))
        and str(p["metadata"].get("uid")) in usage
    ]
    current = int((deploy.get("spec") or {}).get("replicas", 1))
    best: Proposal | None = None
    for metric in (hpa.get("spec") or {}).get("metrics") or []:
        if metric.get("type") != "Resource" or not ready:
            continue
        resource = str((metric.get("resource") or {}).get("name"))
        target = (metric.get("resource") or {}).get("target") or {}
        index = 1 if resource == "cpu" else 2 if resource == "memory" else 0
        if not index:
            continue
        used = 0.0
        for pod in ready:
            for _name, cpu, memory in usage[str(pod["metadata"]["uid"])]:
                used += cpu if index == 1 else memory
        status: Obj = {"name": resource, "current": {}}
        if target.get("type") == "Utilization":
            requested = [_requests(p, resource) for p in ready]
            if any(r is None or r == 0 for r in requested):
                continue  # utilization needs a request on every container
            utilization = used / sum(r for r in requested if r)
            percent = round(100 * utilization)
            ratio = utilization * 100 / float(target.get("averageUtilization", 80))
            status["current"] = {
                "averageUtilization": percent,
                "averageValue": _format(resource, used / len(ready)),
            }
            why = f"{resource} resource utilization (percentage of request)"
        elif target.get("type") == "AverageValue":
            ratio = (used / len(ready)) / quantity(target.get("averageValue"))
            status["current"] = {"averageValue": _format(resource, used / len(ready))}
            why = f"{resource} resource"
        else:
            continue
        replicas = current if abs(ratio - 1) <= TOLERANCE else math.ceil(ratio * len(ready))
        proposal = Proposal(replicas, reason=f"{why} {'above' if ratio > 1 else 'below'} target")
        if best is None or proposal.replicas > best.replicas:
            best = Proposal(proposal.replicas, best.metrics if best else [], proposal.reason)
        best.metrics.append({"type": "Resource", "resource": status})
    return best


def _format(resource: str, value: float) -> str:
    return f"{round(value * 1000)}m" if resource == "cpu" else f"{round(value)}"


def limit(hpa: Obj, current: int, wanted: int, history: list[tuple[float, int]], now: float) -> int:
    """``wanted`` after the default scale-up rate and the scale-down stabilization window;
    ``history`` holds (time, recommendation) and is pruned here."""
    behavior = ((hpa.get("spec") or {}).get("behavior") or {}).get("scaleDown") or {}
    window = float(behavior.get("stabilizationWindowSeconds", _DOWN_WINDOW))
    history.append((now, wanted))
    history[:] = [(t, r) for t, r in history if now - t <= window]
    if wanted > current:
        return min(wanted, max(2 * current, current + 4))
    return min(current, max(r for _, r in history))
