"""The resource Metrics API (``metrics.k8s.io/v1beta1``) that metrics-server adds to a cluster.

EKS serves no Metrics API of its own. metrics-server registers the APIService
``v1beta1.metrics.k8s.io`` pointing at its Service in kube-system, and the API server proxies
``/apis/metrics.k8s.io/v1beta1`` to it; the group is discovered from then on, and answered
while the Service has a ready endpoint (otherwise 503, as an unavailable aggregated API is).
The emulator answers for metrics-server: ``PodMetrics`` per running pod and ``NodeMetrics``
per node that runs pods, usage over a 15 s window.

Usage comes from the simulated load, as the app would spend it: a pod registered in a target
group (through a TargetGroupBinding) takes an equal share of the requests per second the
traffic simulator sends to that group (``EmulatorConfig.load``), and each request costs
``CPU_PER_REQUEST`` of CPU on top of an idle ``CPU_IDLE``; memory is a steady share of the
container's request. These costs are assumptions of the model, not measurements.
"""

from __future__ import annotations

from typing import Any

from flexmigrate.sandbox.kube import errors as e
from flexmigrate.sandbox.kube.context import Context
from flexmigrate.sandbox.kube.label_selectors import match_label_selector
from flexmigrate.sandbox.kube.meta import is_deleting, labels_of, name_of, timestamp
from flexmigrate.sandbox.kube.pod_webhooks import TGB_KEY
from flexmigrate.sandbox.kube.readiness_gates import containers_ready

Obj = dict[str, Any]
GROUP = "metrics.k8s.io"
VERSION = "v1beta1"
API_SERVICE = f"{VERSION}.{GROUP}"
APISERVICES_KEY = ("apiregistration.k8s.io", "apiservices")
CPU_IDLE = 0.005  # cores a pod spends with no traffic
CPU_PER_REQUEST = 0.0006  # core-seconds one request costs the app
MEMORY_SHARE = 0.45  # of the container's memory request (256 Mi when it requests none)
_MEMORY_DEFAULT = 256 * 2**20
_NODE_OVERHEAD_CPU = 0.08
_NODE_OVERHEAD_MEMORY = 600 * 2**20
_WINDOW = "15s"
_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}


def resource_list() -> Obj:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{GROUP}/{VERSION}",
        "resources": [
            {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics",
             "verbs": ["get", "list"]},
            {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics",
             "verbs": ["get", "list"]},
        ],
    }  # fmt: skip


def api_group() -> Obj:
    version = {"groupVersion": f"{GROUP}/{VERSION}", "version": VERSION}
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": GROUP,
        "versions": [version],
        "preferredVersion": version,
    }


def add_to_discovery(listing: Obj, aggregated: bool) -> None:
    """Put the group into ``/apis`` (plain or aggregated), as a registered APIService is."""
    if not aggregated:
        listing.setdefault("groups", []).append(
            {k: v for k, v in api_group().items() if k not in ("kind", "apiVersion")}
        )
        return
    resources = [
        {
            "resource": r["name"],
            "responseKind": {"group": GROUP, "version": VERSION, "kind": r["kind"]},
            "scope": "Namespaced" if r["namespaced"] else "Cluster",
            "singularResource": "",
            "verbs": r["verbs"],
        }
        for r in resource_list()["resources"]
    ]
    listing.setdefault("items", []).append(
        {
            "metadata": {"name": GROUP, "creationTimestamp": None},
            "versions": [{"version": VERSION, "resources": resources, "freshness": "Current"}],
        }
    )


def registered(store: Any) -> Obj | None:
    """The metrics APIService, when metrics-server (or anyone) has registered it."""
    found: Obj | None = store.get(APISERVICES_KEY, "", API_SERVICE)
    return found


def available(store: Any) -> bool:
    service = registered(store)
    if service is None:
        return False
    ref = (service.get("spec") or {}).get("service") or {}
    endpoints = store.get(("", "endpoints"), str(ref.get("namespace")), str(ref.get("name")))
    return endpoints is not None and any(
        subset.get("addresses") for subset in endpoints.get("subsets") or []
    )


def quantity(value: Any) -> float:
    """A Kubernetes quantity as a number (cores, bytes)."""
    text = str(value).strip()
    if text.endswith("m"):
        return float(text[:-1]) / 1000
    if text.endswith("n"):
        return float(text[:-1]) / 1e9
    for suffix, factor in _SUFFIXES.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def _requests_per_pod(ctx: Context) -> dict[str, float]:
    """Requests per second each pod serves (by uid), from its target groups' load."""
    load = ctx.config.load
    if load is None or ctx.cluster.registry.storage_type(TGB_KEY) is None:
        return {}
    pods = ctx.objects("pods")
    share: dict[str, float] = {}
    for tgb in ctx.cluster.store.objects(TGB_KEY):
        spec = tgb.get("spec") or {}
        ns = tgb["metadata"].get("namespace", "")
        ref = str((spec.get("serviceRef") or {}).get("name") or "")
        service = ctx.cluster.store.get(ctx.rt("services").key, ns, ref)
        selector = ((service or {}).get("spec") or {}).get("selector") or {}
        if service is None or not selector:
            continue
        members = [
            p
            for p in pods
            if p["metadata"].get("namespace") == ns
            and not is_deleting(p)
            and containers_ready(p)
            and match_label_selector({"matchLabels": selector}, labels_of(p))
        ]
        if not members:
            continue
        each = load(str(spec.get("targetGroupARN") or "")) / len(members)
        for pod in members:
            uid = str(pod["metadata"].get("uid"))
            share[uid] = share.get(uid, 0.0) + each
    return share


def _container_usage(container: Obj, rps: float, count: int) -> tuple[float, float]:
    requests = (container.get("resources") or {}).get("requests") or {}
    memory = quantity(requests["memory"]) if "memory" in requests else _MEMORY_DEFAULT
    return CPU_IDLE + CPU_PER_REQUEST * rps / max(1, count), MEMORY_SHARE * memory


def usage_by_pod(ctx: Context) -> dict[str, list[tuple[str, float, float]]]:
    """uid -> [(container, cpu cores, memory bytes)] for every running pod."""
    rates = _requests_per_pod(ctx)
    found: dict[str, list[tuple[str, float, float]]] = {}
    for pod in ctx.objects("pods"):
        if is_deleting(pod) or not (pod.get("status") or {}).get("podIP"):
            continue
        uid = str(pod["metadata"].get("uid"))
        containers = (pod.get("spec") or {}).get("containers") or []
        found[uid] = [
            (str(c.get("name")), *_container_usage(c, rates.get(uid, 0.0), len(containers)))
            for c in containers
        ]
    return found


def _cpu(cores: float) -> str:
    return f"{round(cores * 1e9)}n"


def _memory(size: float) -> str:
    return f"{round(size / 1024)}Ki"


def pod_metrics(ctx: Context, namespace: str | None, name: str | None) -> Obj:
    usage = usage_by_pod(ctx)
    now = timestamp(ctx.clock())
    items = []
    for pod in ctx.objects("pods", namespace):
        uid = str(pod["metadata"].get("uid"))
        if uid not in usage or (name is not None and name_of(pod) != name):
            continue
        items.append(
            {
                "kind": "PodMetrics",
                "apiVersion": f"{GROUP}/{VERSION}",
                "metadata": {
                    "name": name_of(pod),
                    "namespace": pod["metadata"].get("namespace"),
                    "creationTimestamp": now,
                    "labels": labels_of(pod),
                },
                "timestamp": now,
                "window": _WINDOW,
                "containers": [
                    {"name": c, "usage": {"cpu": _cpu(cpu), "memory": _memory(mem)}}
                    for c, cpu, mem in usage[uid]
                ],
            }
        )
    if name is not None:
        if not items:
            raise e.not_found("pods", GROUP, name)
        return items[0]
    return {"kind": "PodMetricsList", "apiVersion": f"{GROUP}/{VERSION}", "metadata": {},
            "items": items}  # fmt: skip


def node_metrics(ctx: Context, name: str | None) -> Obj:
    usage = usage_by_pod(ctx)
    now = timestamp(ctx.clock())
    nodes: dict[str, list[float]] = {}
    for pod in ctx.objects("pods"):
        node = (pod.get("spec") or {}).get("nodeName")
        uid = str(pod["metadata"].get("uid"))
        if not node or uid not in usage:
            continue
        total = nodes.setdefault(str(node), [_NODE_OVERHEAD_CPU, _NODE_OVERHEAD_MEMORY])
        total[0] += sum(cpu for _, cpu, _ in usage[uid])
        total[1] += sum(mem for _, _, mem in usage[uid])
    items = [
        {
            "kind": "NodeMetrics",
            "apiVersion": f"{GROUP}/{VERSION}",
            "metadata": {"name": node, "creationTimestamp": now},
            "timestamp": now,
            "window": "20s",
            "usage": {"cpu": _cpu(cpu), "memory": _memory(mem)},
        }
        for node, (cpu, mem) in sorted(nodes.items())
        if name is None or node == name
    ]
    if name is not None:
        if not items:
            raise e.not_found("nodes", GROUP, name)
        return items[0]
    return {"kind": "NodeMetricsList", "apiVersion": f"{GROUP}/{VERSION}", "metadata": {},
            "items": items}  # fmt: skip


def serve(ctx: Context, parts: list[str]) -> Obj:
    """Answer ``/apis/metrics.k8s.io/...`` (``parts`` after ``apis``)."""
    store = ctx.cluster.store
    if registered(store) is None:
        raise e.not_found("", "", "/".join(parts))
    if len(parts) == 1:
        return api_group()
    if parts[1] != VERSION:
        raise e.not_found("", "", "/".join(parts))
    if not available(store):
        raise e.ApiError(
            503, "ServiceUnavailable", "the server is currently unable to handle the request"
        )
    rest = parts[2:]
    with store.lock:
        if not rest:
            return resource_list()
        if rest[0] == "nodes" and len(rest) <= 2:
            return node_metrics(ctx, rest[1] if len(rest) == 2 else None)
        if rest[0] == "pods" and len(rest) == 1:
            return pod_metrics(ctx, None, None)
        if rest[0] == "namespaces" and len(rest) in (3, 4) and rest[2] == "pods":
            return pod_metrics(ctx, rest[1], rest[3] if len(rest) == 4 else None)
    raise e.not_found("", "", "/".join(parts))


def reconcile_apiservices(ctx: Context) -> None:
    """The APIService's Available condition, as kube-aggregator reports it."""
    service = registered(ctx.cluster.store)
    rt = ctx.cluster.registry.storage_type(APISERVICES_KEY)
    if service is None or rt is None:
        return
    up = available(ctx.cluster.store)
    state = "True" if up else "False"
    conditions = (service.get("status") or {}).get("conditions") or []
    old: Obj = next((c for c in conditions if c.get("type") == "Available"), {})
    ref = (service.get("spec") or {}).get("service") or {}
    missing = (
        f'endpoints for service/{ref.get("name")} in "{ref.get("namespace")}" '
        'have no addresses with port name "https"'
    )
    condition = {
        "type": "Available",
        "status": state,
        "lastTransitionTime": old.get("lastTransitionTime")
        if old.get("status") == state
        else timestamp(ctx.now),
        "reason": "Passed" if up else "MissingEndpoints",
        "message": "all checks passed" if up else missing,
    }
    if conditions != [condition]:
        status = {"conditions": [condition]}
        ctx.write(rt, {**service, "status": status}, "kube-apiserver", "status")
