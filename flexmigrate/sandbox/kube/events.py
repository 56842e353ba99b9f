"""Core v1 Events the simulated controllers emit, deduplicated as client-go's recorder does.

A repeated event (same object, reason and message) bumps ``count`` and ``lastTimestamp`` of
the existing Event instead of adding one, so ``kubectl get events`` and a tool showing "the
last events" of a failed rollout see what they would on EKS.
"""

from __future__ import annotations

import secrets
from typing import Any

from flexmigrate.sandbox.kube.cluster import Cluster
from flexmigrate.sandbox.kube.errors import ApiError
from flexmigrate.sandbox.kube.meta import is_deleting, timestamp
from flexmigrate.sandbox.kube.options import WriteOptions

Obj = dict[str, Any]
_HOST = "ip-10-0-16-10.af-south-1.compute.internal"


class EventRecorder:
    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self._seen: dict[tuple[str, str, str], str] = {}  # (uid, reason, message) -> event name

    def record(
        self,
        involved: Obj,
        reason: str,
        message: str,
        *,
        component: str,
        warning: bool = False,
        now: float,
    ) -> None:
        cluster = self._cluster
        rt = cluster.registry.lookup("", "v1", "events")
        ns_rt = cluster.registry.lookup("", "v1", "namespaces")
        meta = involved["metadata"]
        namespace = meta.get("namespace") or "default"
        if rt is None or ns_rt is None:
            return
        ns = cluster.store.get(ns_rt.key, "", namespace)
        if ns is None or is_deleting(ns):
            return
        key = (str(meta.get("uid")), reason, message)
        stamp = timestamp(now)
        opts = WriteOptions(manager=component, validation="Ignore")
        existing_name = self._seen.get(key)
        existing = cluster.store.get(rt.key, namespace, existing_name) if existing_name else None
        try:
            if existing is not None:
                body = {
                    **existing,
                    "count": int(existing.get("count", 1)) + 1,
                    "lastTimestamp": stamp,
                }
                cluster.update(rt, namespace, existing["metadata"]["name"], body, opts)
                return
            name = f"{meta.get('name')}.{secrets.token_hex(8)}"
            body = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": {
                    "apiVersion": involved.get("apiVersion"),
                    "kind": involved.get("kind"),
                    "name": meta.get("name"),
                    "namespace": meta.get("namespace"),
                    "uid": meta.get("uid"),
                    "resourceVersion": meta.get("resourceVersion"),
                },
                "reason": reason,
                "message": message,
                "source": {
                    "component": component,
                    **({"host": _HOST} if component == "kubelet" else {}),
                },
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "count": 1,
                "type": "Warning" if warning else "Normal",
                "eventTime": None,
                "reportingComponent": component,
                "reportingInstance": _HOST if component == "kubelet" else "",
            }
            cluster.create(rt, namespace, body, opts)
            self._seen[key] = name
        except ApiError:
            return
