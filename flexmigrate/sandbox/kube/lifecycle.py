"""Garbage collection, namespace termination, and what every namespace gets on creation.

Background deletion removes an owner at once and its dependents shortly after (Deployment,
then its ReplicaSets, then their Pods); foreground deletion keeps the owner, marked with the
``foregroundDeletion`` finalizer, until its dependents are gone. A deleted namespace stays
``Terminating`` while its contents are removed and disappears ``namespace_finalize_delay``
seconds after the request at the earliest. Active namespaces get the ``default``
ServiceAccount and the ``kube-root-ca.crt`` ConfigMap, as on any cluster.
"""

from __future__ import annotations

from typing import Any

from flexmigrate.sandbox.kube.context import Context
from flexmigrate.sandbox.kube.meta import (
    clone,
    is_deleting,
    name_of,
    owner_uids,
    parse_timestamp,
    uid_of,
)

Obj = dict[str, Any]
_MANAGER = "kube-controller-manager"
_EVENT_TTL = 3600.0
_CONTENT_AFTER = 0.8  # share of the finalize delay before the contents are deleted
_ROOT_CA_NOTE = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
    "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
    "guaranteed across distributions of Kubernetes clusters."
)


def collect_garbage(ctx: Context) -> None:
    store = ctx.cluster.store
    registry = ctx.cluster.registry
    everything = [(key, obj) for key in store.kinds() for obj in store.objects(key)]
    alive = {uid_of(obj) for _key, obj in everything}
    dependents: dict[str, list[tuple[tuple[str, str], Obj]]] = {}
    for key, obj in everything:
        for owner in owner_uids(obj):
            dependents.setdefault(owner, []).append((key, obj))
    for key, obj in everything:
        owners = owner_uids(obj)
        if owners and not any(owner in alive for owner in owners) and not is_deleting(obj):
            rt = registry.storage_type(key)
            if rt is not None:
                ctx.delete(rt, obj)
    for key, obj in everything:
        finalizers = obj["metadata"].get("finalizers") or []
        if not is_deleting(obj) or "foregroundDeletion" not in finalizers:
            continue
        waiting = dependents.get(uid_of(obj), [])
        for dep_key, dep in waiting:
            dep_rt = registry.storage_type(dep_key)
            if dep_rt is not None and not is_deleting(dep):
                ctx.delete(dep_rt, dep, "Foreground")
        if not waiting:
            rt = registry.storage_type(key)
            if rt is None:
                continue
            released = clone(obj)
            released["metadata"]["finalizers"] = [
                f for f in finalizers if f != "foregroundDeletion"
            ]
            ctx.write(rt, released, _MANAGER)


def expire_events(ctx: Context) -> None:
    """Delete Events an hour after they last happened, as kube-apiserver's event TTL does."""
    rt = ctx.rt("events")
    for event in ctx.objects("events"):
        seen = parse_timestamp(
            event.get("lastTimestamp") or event["metadata"].get("creationTimestamp")
        )
        if seen is not None and ctx.now - seen > _EVENT_TTL:
            ctx.delete(rt, event)


def reconcile_namespaces(ctx: Context) -> None:
    cluster = ctx.cluster
    ns_rt = ctx.rt("namespaces")
    for namespace in ctx.objects("namespaces"):
        name = name_of(namespace)
        if not is_deleting(namespace):
            _populate(ctx, namespace)
            continue
        requested = cluster.namespace_deleted_at.setdefault(name, ctx.now)
        delay = ctx.config.namespace_finalize_delay
        if ctx.now < requested + delay * _CONTENT_AFTER:
            # The real namespace controller needs a moment (a discovery sync) before it
            # starts; clients deleting a namespace and then its contents rely on that.
            ctx.wake_at(requested + delay * _CONTENT_AFTER)
            continue
        remaining = 0
        for key in cluster.store.kinds():
            rt = cluster.registry.storage_type(key)
            if rt is None or not rt.namespaced:
                continue
            for obj in cluster.store.objects(key, name):
                remaining += 1
                if not is_deleting(obj):
                    ctx.delete(rt, obj)
        due = requested + delay
        if remaining:
            continue
        if ctx.now < due:
            ctx.wake_at(due)
            continue
        cluster.remove(ns_rt, namespace)


def _populate(ctx: Context, namespace: Obj) -> None:
    name = name_of(namespace)
    store = ctx.cluster.store
    if store.get(ctx.rt("serviceaccounts").key, name, "default") is None:
        ctx.create(
            "serviceaccounts",
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": name},
            },
            "kube-controller-manager",
        )
    if store.get(ctx.rt("configmaps").key, name, "kube-root-ca.crt") is None:
        ctx.create(
            "configmaps",
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": "kube-root-ca.crt",
                    "namespace": name,
                    "annotations": {
                        "kubernetes.io/description": _ROOT_CA_NOTE,
                    },
                },
                "data": {"ca.crt": ctx.ca_pem.decode()},
            },
            "kube-root-ca-cert-publisher",
        )
