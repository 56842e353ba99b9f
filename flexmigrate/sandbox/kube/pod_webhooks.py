"""Mutating admission webhooks on Pod creation, and the one the migration depends on: the AWS
Load Balancer Controller's pod mutator, which adds its target-health readiness gate.

The API server calls each webhook of every MutatingWebhookConfiguration whose rules cover
``CREATE`` of ``pods`` (``v1``, core group), whose ``namespaceSelector`` matches the pod's
namespace's labels and whose ``objectSelector`` matches the pod's. The emulator cannot run a
webhook server, so it answers for the controller's: a webhook whose service path is
``/mutate-v1-pod`` (the controller's pod mutator, ``mpod.elbv2.k8s.aws``) is served when its
Service has a ready endpoint, i.e. once the controller runs. Like the controller (v3.2.2,
``pkg/inject/pod_readiness``), it lists the TargetGroupBindings of the pod's namespace whose
``targetType`` is ``ip`` and whose Service's selector matches the pod's labels, and adds one
readiness gate per binding, condition type ``target-health.elbv2.k8s.aws/<binding name>``.
Any other webhook served by a ready Service is answered "allowed", unchanged. A webhook
whose Service has no ready endpoint (or that names a URL) is not reachable, and its
``failurePolicy`` decides: ``Ignore`` creates the pod unmutated, ``Fail`` (the default)
refuses it as the API server does. TLS (``caBundle``) is not checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flexmigrate.sandbox.kube.errors import ApiError
from flexmigrate.sandbox.kube.label_selectors import match_label_selector
from flexmigrate.sandbox.kube.meta import labels_of

if TYPE_CHECKING:
    from flexmigrate.sandbox.kube.store import Store

Obj = dict[str, Any]
GATE_PREFIX = "target-health.elbv2.k8s.aws/"
POD_MUTATOR_PATH = "/mutate-v1-pod"
TGB_KEY = ("elbv2.k8s.aws", "targetgroupbindings")
_CONFIGS = ("admissionregistration.k8s.io", "mutatingwebhookconfigurations")
_NAMESPACES = ("", "namespaces")
_SERVICES = ("", "services")
_ENDPOINTS = ("", "endpoints")


def _covers_pod_create(webhook: Obj) -> bool:
    for rule in webhook.get("rules") or []:
        groups = rule.get("apiGroups") or []
        versions = rule.get("apiVersions") or []
        operations = rule.get("operations") or []
        resources = rule.get("resources") or []
        if (
            ("" in groups or "*" in groups)
            and ("v1" in versions or "*" in versions)
            and ("CREATE" in operations or "*" in operations)
            and ("pods" in resources or "*" in resources or "*/*" in resources)
        ):
            return True
    return False


def _namespace_labels(store: Store, namespace: str) -> dict[str, str]:
    found = store.get(_NAMESPACES, "", namespace)
    labels = dict(labels_of(found)) if found is not None else {}
    # The API server labels every namespace with its own name.
    labels.setdefault("kubernetes.io/metadata.name", namespace)
    return labels


def _served(store: Store, service_ref: Obj) -> bool:
    """Whether the webhook's Service has a ready endpoint to answer the call."""
    endpoints = store.get(
        _ENDPOINTS, str(service_ref.get("namespace") or ""), str(service_ref.get("name") or "")
    )
    if endpoints is None:
        return False
    return any(subset.get("addresses") for subset in endpoints.get("subsets") or [])


def _unreachable(webhook: Obj, service_ref: Obj | None) -> ApiError:
    name = webhook.get("name")
    if service_ref is None:
        why = "the sandbox cannot call a webhook by URL"
    else:
        svc, ns = service_ref.get("name"), service_ref.get("namespace")
        path = service_ref.get("path") or ""
        port = service_ref.get("port") or 443
        why = (
            f'Post "https://{svc}.{ns}.svc:{port}{path}?timeout=10s": '
            f'no endpoints available for service "{svc}"'
        )
    return ApiError(
        500,
        "InternalError",
        f'Internal error occurred: failed calling webhook "{name}": failed to call webhook: {why}',
        details={"causes": [{"message": f'failed calling webhook "{name}": {why}'}]},
    )


def call_pod_webhooks(store: Store, pod: Obj, namespace: str) -> None:
    """Run the mutating webhooks that apply to creating ``pod`` (mutated in place); raise
    the API server's error when a webhook that must answer cannot."""
    ns_labels: dict[str, str] | None = None
    for config in store.objects(_CONFIGS):
        for webhook in config.get("webhooks") or []:
            if not _covers_pod_create(webhook):
                continue
            if ns_labels is None:
                ns_labels = _namespace_labels(store, namespace)
            if not match_label_selector(webhook.get("namespaceSelector") or {}, ns_labels):
                continue
            if not match_label_selector(webhook.get("objectSelector") or {}, labels_of(pod)):
                continue
            service_ref = (webhook.get("clientConfig") or {}).get("service")
            if service_ref is None or not _served(store, service_ref):
                if webhook.get("failurePolicy", "Fail") == "Ignore":
                    continue
                raise _unreachable(webhook, service_ref)
            if service_ref.get("path") == POD_MUTATOR_PATH:
                inject_readiness_gates(store, pod, namespace)


def readiness_gate_types(store: Store, pod: Obj, namespace: str) -> list[str]:
    """The target-health condition types the controller's mutator gives ``pod``."""
    found = []
    for tgb in store.objects(TGB_KEY, namespace):
        spec = tgb.get("spec") or {}
        if spec.get("targetType") != "ip":
            continue  # the controller skips bindings whose target type is unset or instance
        service_name = str((spec.get("serviceRef") or {}).get("name") or "")
        service = store.get(_SERVICES, namespace, service_name)
        if service is None:
            continue
        selector = (service.get("spec") or {}).get("selector") or {}
        pod_labels = labels_of(pod)
        if selector and all(pod_labels.get(k) == v for k, v in selector.items()):
            found.append(GATE_PREFIX + tgb["metadata"]["name"])
    return found


def inject_readiness_gates(store: Store, pod: Obj, namespace: str) -> None:
    wanted = readiness_gate_types(store, pod, namespace)
    if not wanted:
        return
    spec = pod.setdefault("spec", {})
    gates = [
        g
        for g in spec.get("readinessGates") or []
        # The controller drops gates of its former name when it adds its own.
        if not str(g.get("conditionType", "")).startswith("target-health.alb.ingress.k8s.aws")
    ]
    present = {g.get("conditionType") for g in gates}
    gates += [{"conditionType": t} for t in wanted if t not in present]
    spec["readinessGates"] = gates
