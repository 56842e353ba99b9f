"""The scheduler and kubelets of the simulated nodes: pods get a node, an IP, and readiness.

Pods are placed on one node per private subnet, alternating, so a Deployment spreads over
both availability zones as the VPC CNI would place it; each pod's IP comes from its node's
subnet (the VPC CNI gives pods VPC addresses, which is what ip-mode target groups register).
A pod turns Ready ``rollout_delay`` seconds after it starts, unless the ``rollout-stuck``
fault is on, in which case its readiness probe keeps failing (Warning events) until the
fault is cleared.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from flexmigrate.sandbox.kube.context import Context
from flexmigrate.sandbox.kube.meta import clone, is_deleting, name_of, timestamp, uid_of
from flexmigrate.sandbox.kube.readiness_gates import containers_ready, gate_problem

Obj = dict[str, Any]
REGION = "af-south-1"
_ZONES = ("a", "b", "c")
_NODE_OFFSET = 10
_POD_OFFSET = 20
_PROBE_PERIOD = 1.0  # how often a failing readiness probe is reported
_FAULT_POLL = 0.2  # how soon a stuck pod notices that the fault was cleared


class PodNetwork:
    """Hands out pod addresses from the private subnets, one node per subnet."""

    def __init__(self, cidrs: tuple[str, ...]) -> None:
        self._subnets = [ipaddress.ip_network(c) for c in cidrs]
        self._turn = 0
        self._cursor = [_POD_OFFSET for _ in self._subnets]

    def node(self, index: int) -> tuple[str, str, str]:
        """(node name, host IP, zone) of the node in subnet ``index``."""
        host = str(self._subnets[index].network_address + _NODE_OFFSET)
        name = f"ip-{host.replace('.', '-')}.{REGION}.compute.internal"
        return name, host, f"{REGION}{_ZONES[index % len(_ZONES)]}"

    def allocate(self, in_use: set[str]) -> tuple[str, int]:
        index = self._turn % len(self._subnets)
        self._turn += 1
        subnet = self._subnets[index]
        size = subnet.num_addresses
        for _ in range(size):
            offset = self._cursor[index]
            self._cursor[index] = offset + 1 if offset + 1 < size - 1 else _POD_OFFSET
            candidate = str(subnet.network_address + offset)
            if candidate not in in_use:
                return candidate, index
        raise RuntimeError(f"no free pod address left in {subnet}")


def _conditions(
    pod: Obj, ready: bool, containers: list[str], now: str, previous: list[Obj]
) -> list[Obj]:
    before = {c.get("type"): c for c in previous}

    def cond(kind: str, state: bool, reason: str = "", message: str = "") -> Obj:
        value = "True" if state else "False"
        old = before.get(kind) or {}
        out: Obj = {
            "type": kind,
            "status": value,
            "lastProbeTime": None,
            "lastTransitionTime": old.get("lastTransitionTime")
            if old.get("status") == value
            else now,
        }
        if reason:
            out["reason"] = reason
            out["message"] = message
        return out

    waiting = f"containers with unready status: [{' '.join(containers)}]"
    gated = gate_problem(pod) if ready else ""
    if not ready:
        pod_ready_cond = cond("Ready", False, "ContainersNotReady", waiting)
    elif gated:
        pod_ready_cond = cond("Ready", False, "ReadinessGatesNotReady", gated)
    else:
        pod_ready_cond = cond("Ready", True)
    own = [
        cond("PodReadyToStartContainers", True),
        cond("Initialized", True),
        pod_ready_cond,
        cond(
            "ContainersReady",
            ready,
            "" if ready else "ContainersNotReady",
            "" if ready else waiting,
        ),
        cond("PodScheduled", True),
    ]
    # Conditions others own (a readiness gate's, set by its controller) are kept.
    kinds = {c["type"] for c in own}
    return own + [c for c in previous if c.get("type") not in kinds]


def _container_statuses(pod: Obj, ready: bool, started: str) -> list[Obj]:
    out = []
    for container in (pod.get("spec") or {}).get("containers") or []:
        image = str(container.get("image", ""))
        digest = hashlib.sha256(image.encode()).hexdigest()
        container_id = hashlib.sha256(f"{uid_of(pod)}/{container.get('name')}".encode()).hexdigest()
        out.append(
            {
                "name": container.get("name"),
                "image": image,
                "imageID": f"{image.split(':')[0]}@sha256:{digest}",
                "containerID": f"containerd://{container_id}",
                "ready": ready,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": started}},
                "lastState": {},
            }
        )
    return out


def _status(pod: Obj, ready: bool, now: str) -> Obj:
    status = clone(pod.get("status") or {})
    names = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]
    status["phase"] = "Running"
    status["conditions"] = _conditions(pod, ready, names, now, status.get("conditions") or [])
    status["containerStatuses"] = _container_statuses(
        pod, ready, str(status.get("startTime") or now)
    )
    return status


def reconcile_pods(
    ctx: Context, network: PodNetwork, born: dict[str, float], probed: dict[str, float]
) -> None:
    pods = ctx.objects("pods")
    in_use = {
        str((p.get("status") or {}).get("podIP"))
        for p in pods
        if (p.get("status") or {}).get("podIP")
    }
    alive = set()
    for pod in pods:
        uid = uid_of(pod)
        alive.add(uid)
        if is_deleting(pod):
            continue
        first_seen = born.setdefault(uid, ctx.now)
        status = pod.get("status") or {}
        if not status.get("podIP"):
            started = _start(ctx, pod, network, in_use)
            if started is None:
                continue
            pod = started
        if containers_ready(pod):
            # Ready also waits for the pod's readiness gates; their conditions change later.
            ctx.set_status("pods", pod, _status(pod, True, timestamp(ctx.now)), "kubelet")
            continue
        due = first_seen + ctx.config.rollout_delay
        if ctx.now < due:
            ctx.wake_at(due)
            continue
        if ctx.faults().rollout_stuck:
            if ctx.now - probed.get(uid, 0.0) >= _PROBE_PERIOD:
                probed[uid] = ctx.now
                ctx.event(
                    pod,
                    "Unhealthy",
                    "Readiness probe failed: HTTP probe failed with statuscode: 503",
                    "kubelet",
                    warning=True,
                )
            ctx.wake_at(ctx.now + _FAULT_POLL)
            continue
        ctx.set_status("pods", pod, _status(pod, True, timestamp(ctx.now)), "kubelet")
    for uid in set(born) - alive:
        born.pop(uid, None)
        probed.pop(uid, None)


def _start(ctx: Context, pod: Obj, network: PodNetwork, in_use: set[str]) -> Obj | None:
    ip, index = network.allocate(in_use)
    in_use.add(ip)
    node, host, _zone = network.node(index)
    now = timestamp(ctx.now)
    if not (pod.get("spec") or {}).get("nodeName"):
        bound = clone(pod)
        bound["spec"]["nodeName"] = node
        updated = ctx.update("pods", bound, "kube-scheduler")
        if updated is None:
            return None
        pod = updated
        ns = pod["metadata"].get("namespace")
        ctx.event(
            pod,
            "Scheduled",
            f"Successfully assigned {ns}/{name_of(pod)} to {node}",
            "default-scheduler",
        )
    status = _status(pod, False, now)
    status.update(
        {
            "hostIP": host,
            "hostIPs": [{"ip": host}],
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": now,
        }
    )
    status["containerStatuses"] = _container_statuses(pod, False, now)
    started = ctx.set_status("pods", pod, status, "kubelet")
    for container in (pod.get("spec") or {}).get("containers") or []:
        image, name = container.get("image"), container.get("name")
        ctx.event(pod, "Pulled", f'Container image "{image}" already present on machine', "kubelet")
        ctx.event(pod, "Created", f"Created container: {name}", "kubelet")
        ctx.event(pod, "Started", f"Started container {name}", "kubelet")
    return started
