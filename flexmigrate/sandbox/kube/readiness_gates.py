"""Pod readiness gates: the kubelet's half (Ready waits for every gate's condition) and the AWS
Load Balancer Controller's half (it sets its gate's condition from the target's health).

The kubelet reports a pod Ready only when its containers are ready and, for every entry of
``spec.readinessGates``, the pod has a condition of that type with status ``True``
(otherwise Ready is False, reason ``ReadinessGatesNotReady``). The controller (v3.2.2,
``pkg/targetgroupbinding/resource_manager.go``) registers a gated pod's IP as soon as its
containers are ready, then reads the target group's health and writes the condition
``target-health.elbv2.k8s.aws/<binding>``: ``True`` once the target is ``healthy``, ``False``
while it is ``initial`` or ``unhealthy`` (reason and message from the target's health),
``Unknown`` while it is not registered yet; it probes again until every gated pod is True.
When a binding is deleted, its pods' conditions are set True ("Target Group Binding is
deleted"). Health is read over the network by :class:`TargetHealthProbe`'s thread, outside
the store lock; the reconcile pass writes the conditions.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from flexmigrate.sandbox.kube.meta import is_deleting, name_of, timestamp
from flexmigrate.sandbox.kube.pod_webhooks import GATE_PREFIX, TGB_KEY

Obj = dict[str, Any]
# (target group ARN, target IP, port) -> (state, reason, description)
Health = dict[tuple[str, str, int], tuple[str, str, str]]
_LOG = logging.getLogger("flexmigrate.sandbox.kube")
_PROBE_INTERVAL = 0.25
_MANAGER = "aws-load-balancer-controller"


@runtime_checkable
class HealthSource(Protocol):
    def target_health(self, target_group_arn: str) -> list[tuple[str, int, str, str, str]]:
        """(ip, port, state, reason, description) of each target of the group."""
        ...


def _condition(pod: Obj, kind: str) -> Obj | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return dict(c)
    return None


def containers_ready(pod: Obj) -> bool:
    found = _condition(pod, "ContainersReady")
    return found is not None and found.get("status") == "True"


def gate_types(pod: Obj) -> list[str]:
    return [
        str(g.get("conditionType"))
        for g in (pod.get("spec") or {}).get("readinessGates") or []
        if g.get("conditionType")
    ]


def gate_problem(pod: Obj) -> str:
    """Why the readiness gates hold the pod back, as the kubelet words it; "" when they pass."""
    for kind in gate_types(pod):
        found = _condition(pod, kind)
        if found is None:
            return f'corresponding condition of pod readiness gate "{kind}" does not exist.'
        if found.get("status") != "True":
            return (
                f'the status of pod readiness gate "{kind}" is not "True", '
                f"but {found.get('status')}"
            )
    return ""


def waiting_for_health(pod: Obj, binding: str) -> bool:
    """Whether ``pod`` carries ``binding``'s gate and its condition is not True yet."""
    kind = GATE_PREFIX + binding
    if kind not in gate_types(pod) or is_deleting(pod):
        return False
    found = _condition(pod, kind)
    return found is None or found.get("status") != "True"


def _with_condition(pod: Obj, kind: str, state: str, reason: str, message: str, now: str) -> Obj:
    status = dict(pod.get("status") or {})
    conditions = [dict(c) for c in status.get("conditions") or []]
    old = next((c for c in conditions if c.get("type") == kind), None)
    if old is not None and (old.get("status"), old.get("reason", ""), old.get("message", "")) == (
        state,
        reason,
        message,
    ):
        return status
    new: Obj = {"type": kind, "status": state, "lastProbeTime": None}
    if reason:
        new["reason"] = reason
    if message:
        new["message"] = message
    same = old is not None and old.get("status") == state
    new["lastTransitionTime"] = old.get("lastTransitionTime") if same and old else now
    status["conditions"] = [c for c in conditions if c.get("type") != kind] + [new]
    return status


def sync_gate_conditions(
    ctx: Any, gated: dict[str, list[tuple[Obj, str, int]]], health: Health
) -> None:
    """Write each gated pod's target-health condition from the latest ``health`` read, and
    release gates whose binding is gone. ``gated``: binding key -> (pod, ARN, port)."""
    now = timestamp(ctx.now)
    bindings = {
        f"{t['metadata'].get('namespace')}/{name_of(t)}" for t in ctx.cluster.store.objects(TGB_KEY)
    }
    for key, members in gated.items():
        binding = key.split("/", 1)[1]
        for pod, arn, port in members:
            ip = str((pod.get("status") or {}).get("podIP") or "")
            found = health.get((arn, ip, port))
            if found is None:
                state, reason, message = "Unknown", "", ""
            else:
                target_state, reason, message = found
                state = "True" if target_state == "healthy" else "False"
            status = _with_condition(pod, GATE_PREFIX + binding, state, reason, message, now)
            ctx.set_status("pods", pod, status, _MANAGER)
    for pod in ctx.objects("pods"):
        ns = pod["metadata"].get("namespace")
        for kind in gate_types(pod):
            if not kind.startswith(GATE_PREFIX) or is_deleting(pod):
                continue
            if f"{ns}/{kind[len(GATE_PREFIX) :]}" in bindings:
                continue
            current = _condition(pod, kind)
            if current is not None and current.get("status") == "True":
                continue
            status = _with_condition(pod, kind, "True", "", "Target Group Binding is deleted", now)
            pod = ctx.set_status("pods", pod, status, _MANAGER)


class TargetHealthProbe:
    """Reads the health of the target groups that gated pods wait on, until none waits."""

    def __init__(self, source: HealthSource, stop: threading.Event, wake: Callable[[], None]):
        self._source = source
        self._stop = stop
        self._wake = wake
        self._lock = threading.Condition()
        self._groups: set[str] = set()
        self._health: Health = {}
        self._thread = threading.Thread(target=self._run, name="kube-target-health", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._lock.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def want(self, groups: set[str]) -> None:
        with self._lock:
            if groups != self._groups:
                self._groups = set(groups)
                self._lock.notify_all()

    def health(self) -> Health:
        with self._lock:
            return dict(self._health)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if not self._groups:
                    self._lock.wait(0.5)
                    continue
                groups = sorted(self._groups)
            read: Health = {}
            for arn in groups:
                try:
                    for ip, port, state, reason, text in self._source.target_health(arn):
                        read[(arn, ip, port)] = (state, reason, text)
                except Exception:  # noqa: BLE001 - a failed read is retried on the next probe
                    _LOG.exception("target health of %s could not be read; retrying", arn)
            with self._lock:
                changed = read != {k: v for k, v in self._health.items() if k[0] in groups}
                self._health = read
            if changed:
                self._wake()
            self._stop.wait(_PROBE_INTERVAL)
