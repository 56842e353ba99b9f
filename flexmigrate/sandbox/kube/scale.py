"""The ``scale`` subresource (what ``kubectl scale`` and the HPA controller write)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flexmigrate.sandbox.kube import errors as e
from flexmigrate.sandbox.kube.label_selectors import selector_string
from flexmigrate.sandbox.kube.meta import clone
from flexmigrate.sandbox.kube.options import Result, WriteOptions
from flexmigrate.sandbox.kube.resources import ResourceType

if TYPE_CHECKING:
    from flexmigrate.sandbox.kube.cluster import Cluster

Obj = dict[str, Any]


def scale_of(obj: Obj) -> Obj:
    """The ``autoscaling/v1`` Scale view of a Deployment or ReplicaSet."""
    meta = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": selector_string((obj.get("spec") or {}).get("selector")),
        },
    }


def set_scale(
    cluster: Cluster, rt: ResourceType, old: Obj, scale: Any, opts: WriteOptions
) -> Result:
    """Write the replica count a Scale carries into its object; answer with the new Scale."""
    if "scale" not in rt.subresources:
        raise e.not_found(rt.plural, rt.group, old["metadata"]["name"])
    replicas = ((scale or {}).get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise e.invalid(
            "Scale",
            "autoscaling",
            old["metadata"]["name"],
            [e.invalid_value("spec.replicas", replicas, "must be greater than or equal to 0")],
        )
    wanted = ((scale or {}).get("metadata") or {}).get("resourceVersion")
    if wanted and wanted != old["metadata"].get("resourceVersion"):
        raise e.stale(rt.plural, rt.group, old["metadata"]["name"])
    new = clone(old)
    new["spec"]["replicas"] = replicas
    new = cluster.finish_write(rt, new, old, opts, "scale")
    result = cluster.store_update(rt, new, old, opts, [])
    return Result(scale_of(result.obj), 200)
