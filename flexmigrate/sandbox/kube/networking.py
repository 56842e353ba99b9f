"""Endpoints of Services, the targets of TargetGroupBindings, and PodDisruptionBudget status.

The endpoints controller lists a Service's ready and not-ready pod IPs; the TargetGroupBinding
controller works out, for each binding, the target group, the target port (the Service
port's ``targetPort``, named ports resolved through the pods' containers) and the ready pod
IPs, which the registrar then pushes to ELBv2 outside the store lock.
"""

from __future__ import annotations

from typing import Any

from flexmigrate.sandbox.kube.context import Context
from flexmigrate.sandbox.kube.endpointslices import sync_slice
from flexmigrate.sandbox.kube.label_selectors import match_label_selector
from flexmigrate.sandbox.kube.meta import (
    clone,
    is_deleting,
    labels_of,
    name_of,
    pod_ready,
    timestamp,
)
from flexmigrate.sandbox.kube.readiness_gates import containers_ready, waiting_for_health

Obj = dict[str, Any]
TGB_KEY = ("elbv2.k8s.aws", "targetgroupbindings")
_MANAGER = "kube-controller-manager"
Target = tuple[str, int]  # (target group ARN, port)


def _selected(service: Obj, pods: list[Obj]) -> list[Obj]:
    selector = (service.get("spec") or {}).get("selector") or {}
    ns = service["metadata"].get("namespace")
    return [
        p
        for p in pods
        if p["metadata"].get("namespace") == ns
        and not is_deleting(p)
        and (p.get("status") or {}).get("podIP")
        and all(labels_of(p).get(k) == v for k, v in selector.items())
    ]


def resolve_target_port(port: Obj, pods: list[Obj]) -> int | None:
    """A Service port's target port as a number, looking named ports up in the pods."""
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for pod in pods:
        for container in (pod.get("spec") or {}).get("containers") or []:
            for declared in container.get("ports") or []:
                if declared.get("name") == target and declared.get("protocol", "TCP") == port.get(
                    "protocol", "TCP"
                ):
                    return int(declared["containerPort"])
    return None


def _address(pod: Obj) -> Obj:
    meta = pod["metadata"]
    return {
        "ip": pod["status"]["podIP"],
        "nodeName": (pod.get("spec") or {}).get("nodeName"),
        "targetRef": {
            "kind": "Pod",
            "namespace": meta.get("namespace"),
            "name": meta["name"],
            "uid": meta.get("uid"),
        },
    }


def reconcile_endpoints(ctx: Context) -> None:
    pods = ctx.objects("pods")
    rt = ctx.rt("endpoints")
    services = {(s["metadata"].get("namespace"), name_of(s)): s for s in ctx.objects("services")}
    for service in services.values():
        spec = service.get("spec") or {}
        if not spec.get("selector") or is_deleting(service):
            continue
        chosen = sorted(_selected(service, pods), key=lambda p: str(p["status"]["podIP"]))
        ports = []
        for port in spec.get("ports") or []:
            number = resolve_target_port(port, chosen)
            if number is not None:
                entry = {"port": number, "protocol": port.get("protocol", "TCP")}
                if port.get("name"):
                    entry["name"] = port["name"]
                ports.append(entry)
        sync_slice(ctx, service, chosen, ports)
        subset: Obj = {}
        ready = [_address(p) for p in chosen if pod_ready(p)]
        unready = [_address(p) for p in chosen if not pod_ready(p)]
        if ready:
            subset["addresses"] = ready
        if unready:
            subset["notReadyAddresses"] = unready
        body: Obj = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {
                "name": name_of(service),
                "namespace": service["metadata"].get("namespace"),
                "labels": labels_of(service),
            },
        }
        if subset and ports:
            subset["ports"] = ports
            body["subsets"] = [subset]
        existing = ctx.cluster.store.get(
            rt.key, body["metadata"]["namespace"], body["metadata"]["name"]
        )
        if existing is None:
            ctx.create("endpoints", body, "endpoint-controller")
        elif (
            existing.get("subsets") != body.get("subsets")
            or labels_of(existing) != body["metadata"]["labels"]
        ):
            updated = clone(existing)
            updated["metadata"]["labels"] = body["metadata"]["labels"]
            updated.pop("subsets", None)
            if "subsets" in body:
                updated["subsets"] = body["subsets"]
            ctx.update("endpoints", updated, "endpoint-controller")
    for endpoints in ctx.objects("endpoints"):
        key = (endpoints["metadata"].get("namespace"), name_of(endpoints))
        owner = services.get(key)
        managed = any(
            m.get("manager") == "endpoint-controller"
            for m in endpoints["metadata"].get("managedFields") or []
        )
        if managed and (owner is None or not (owner.get("spec") or {}).get("selector")):
            ctx.delete(rt, endpoints)


def binding_targets(
    ctx: Context, gated: dict[str, list[tuple[Obj, str, int]]] | None = None
) -> dict[Target, list[str]]:
    """Desired registered IPs per (target group, port), from every TargetGroupBinding.

    As the controller resolves endpoints, a pod counts once its containers are ready, even
    while its readiness gates keep it un-Ready; such pods waiting on a binding's gate are
    added to ``gated`` (``namespace/binding`` -> (pod, target group ARN, port))."""
    tgb_type = ctx.cluster.registry.storage_type(TGB_KEY)
    if tgb_type is None:
        return {}
    pods = ctx.objects("pods")
    desired: dict[Target, list[str]] = {}
    for tgb in ctx.cluster.store.objects(TGB_KEY):
        spec = tgb.get("spec") or {}
        if spec.get("targetType", "ip") != "ip" or is_deleting(tgb):
            continue
        arn = str(spec.get("targetGroupARN") or "")
        ref = spec.get("serviceRef") or {}
        ns = tgb["metadata"].get("namespace", "")
        service = ctx.cluster.store.get(ctx.rt("services").key, ns, str(ref.get("name")))
        if not arn or service is None:
            continue
        wanted = ref.get("port")
        port = next(
            (
                p
                for p in (service.get("spec") or {}).get("ports") or []
                if p.get("port") == wanted or (p.get("name") and p.get("name") == wanted)
            ),
            None,
        )
        chosen = _selected(service, pods) if (service.get("spec") or {}).get("selector") else []
        number = resolve_target_port(port, chosen) if port is not None else None
        if number is None:
            continue
        ips = desired.setdefault((arn, number), [])
        ips.extend(str(p["status"]["podIP"]) for p in chosen if containers_ready(p))
        if gated is not None:
            waiting = [
                (p, arn, number)
                for p in chosen
                if containers_ready(p) and waiting_for_health(p, name_of(tgb))
            ]
            if waiting:
                gated.setdefault(f"{ns}/{name_of(tgb)}", []).extend(waiting)
        if (tgb.get("status") or {}).get("observedGeneration") != tgb["metadata"].get("generation"):
            status = {
                **(tgb.get("status") or {}),
                "observedGeneration": tgb["metadata"].get("generation"),
            }
            sub = "status" if tgb_type.has_status else ""
            ctx.write(tgb_type, {**tgb, "status": status}, "aws-load-balancer-controller", sub)
    return {target: sorted(set(ips)) for target, ips in desired.items()}


def reconcile_pdbs(ctx: Context) -> None:
    pods = ctx.objects("pods")
    for pdb in ctx.objects("poddisruptionbudgets"):
        spec = pdb.get("spec") or {}
        ns = pdb["metadata"].get("namespace")
        chosen = (
            [
                p
                for p in pods
                if p["metadata"].get("namespace") == ns
                and not is_deleting(p)
                and match_label_selector(spec.get("selector"), labels_of(p))
            ]
            if spec.get("selector")
            else []
        )
        expected = len(chosen)
        healthy = sum(1 for p in chosen if pod_ready(p))
        if "minAvailable" in spec:
            wanted = _scaled(spec["minAvailable"], expected)
        elif "maxUnavailable" in spec:
            wanted = max(0, expected - _scaled(spec["maxUnavailable"], expected))
        else:
            wanted = expected
        allowed = max(0, healthy - wanted)
        previous = {c.get("type"): c for c in (pdb.get("status") or {}).get("conditions") or []}
        state = "True" if allowed > 0 else "False"
        old = previous.get("DisruptionAllowed") or {}
        status = {
            "observedGeneration": pdb["metadata"].get("generation", 1),
            "currentHealthy": healthy,
            "desiredHealthy": wanted,
            "expectedPods": expected,
            "disruptionsAllowed": allowed,
            "conditions": [
                {
                    "type": "DisruptionAllowed",
                    "status": state,
                    "reason": "SufficientPods" if allowed > 0 else "InsufficientPods",
                    "message": "",
                    "observedGeneration": pdb["metadata"].get("generation", 1),
                    "lastTransitionTime": old.get("lastTransitionTime")
                    if old.get("status") == state
                    else timestamp(ctx.now),
                }
            ],
        }
        ctx.set_status("poddisruptionbudgets", pdb, status, "kube-controller-manager")


def _scaled(value: Any, total: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return -(-total * int(value[:-1]) // 100)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
