"""Deletion: preconditions, finalizers, propagation policies and namespaces.

An object without finalizers is removed at once (background propagation leaves its
dependents to the garbage collector); with finalizers, or with foreground propagation, it
is only marked (``deletionTimestamp``) until they are cleared. Namespaces are marked
Terminating and emptied by the namespace controller; the built-in ones cannot be deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flexmigrate.sandbox.kube import errors as e
from flexmigrate.sandbox.kube.meta import clone, is_deleting, timestamp
from flexmigrate.sandbox.kube.options import DeleteOptions, Result
from flexmigrate.sandbox.kube.resources import ResourceType

if TYPE_CHECKING:
    from flexmigrate.sandbox.kube.cluster import Cluster

Obj = dict[str, Any]
PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_NAMESPACES = ("", "namespaces")


def delete(
    cluster: Cluster, rt: ResourceType, namespace: str, name: str, opts: DeleteOptions
) -> Result:
    """Delete now, or mark for deletion while finalizers (or foreground dependents) remain."""
    with cluster.store.lock:
        old = cluster.stored(rt, namespace, name)
        meta = old["metadata"]
        pre = opts.preconditions
        if pre.get("uid") and pre["uid"] != meta.get("uid"):
            raise e.conflict(
                rt.plural,
                rt.group,
                name,
                f"Precondition failed: UID in precondition: {pre['uid']}, "
                f"UID in object meta: {meta.get('uid')}",
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
            raise e.conflict(
                rt.plural,
                rt.group,
                name,
                "Precondition failed: ResourceVersion in precondition: "
                f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                f"{meta.get('resourceVersion')}",
            )
        if rt.key == _NAMESPACES:
            return _delete_namespace(cluster, rt, old, opts)
        finalizers = list(meta.get("finalizers") or [])
        if opts.propagation == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        if opts.dry_run:
            return Result(cluster.view(rt, old) if finalizers else _success(rt, old))
        if opts.propagation == "Orphan":
            orphan_dependents(cluster, meta.get("uid", ""))
        if finalizers:
            if is_deleting(old) and finalizers == list(meta.get("finalizers") or []):
                return Result(cluster.view(rt, old), 202)
            new = clone(old)
            new["metadata"].setdefault("deletionTimestamp", timestamp(cluster.clock()))
            new["metadata"].setdefault("deletionGracePeriodSeconds", 0)
            new["metadata"]["finalizers"] = finalizers
            return Result(cluster.view(rt, cluster.store.put(rt.key, new)), 202)
        gone = cluster.remove(rt, old)
        if rt.is_custom or rt.plural == "pods":
            return Result(cluster.view(rt, gone))
        return Result(_success(rt, gone))


def delete_collection(
    cluster: Cluster,
    rt: ResourceType,
    namespace: str | None,
    match: Callable[[Obj], bool],
    opts: DeleteOptions,
) -> list[Obj]:
    """Delete every matching object, one by one, as the API server's collection delete does."""
    with cluster.store.lock:
        items, _ = cluster.list_objects(rt, namespace)
        doomed = [o for o in items if match(o)]
        for obj in doomed:
            delete(cluster, rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"], opts)
    return doomed


def orphan_dependents(cluster: Cluster, owner_uid: str) -> None:
    """Drop references to a deleted owner, so its dependents outlive it."""
    for key in cluster.store.kinds():
        for obj in cluster.store.objects(key):
            refs = obj["metadata"].get("ownerReferences") or []
            if any(ref.get("uid") == owner_uid for ref in refs):
                new = clone(obj)
                kept = [ref for ref in refs if ref.get("uid") != owner_uid]
                if kept:
                    new["metadata"]["ownerReferences"] = kept
                else:
                    new["metadata"].pop("ownerReferences", None)
                cluster.store.put(key, new)


def _delete_namespace(cluster: Cluster, rt: ResourceType, old: Obj, opts: DeleteOptions) -> Result:
    name = old["metadata"]["name"]
    if name in PROTECTED_NAMESPACES:
        raise e.forbidden(
            f'namespaces "{name}" is forbidden: this namespace may not be deleted',
            "namespaces",
            "",
            name,
        )
    if opts.dry_run or is_deleting(old):
        return Result(cluster.view(rt, old))
    new = clone(old)
    new["metadata"]["deletionTimestamp"] = timestamp(cluster.clock())
    new["status"] = {"phase": "Terminating"}
    cluster.namespace_deleted_at[name] = cluster.clock()
    return Result(cluster.view(rt, cluster.store.put(rt.key, new)))


def _success(rt: ResourceType, obj: Obj) -> Obj:
    meta = obj["metadata"]
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {
            "name": meta["name"],
            "group": rt.group,
            "kind": rt.plural,
            "uid": meta.get("uid"),
        },
    }
