"""What an EKS add-on puts into the cluster, for the add-ons whose objects the emulator models.

EKS applies an add-on's manifests when CreateAddon is called and removes them on DeleteAddon.
Only metrics-server is modelled here: its ServiceAccount, Deployment (two replicas, as the
community add-on ships it) and Service in kube-system, and the APIService
``v1beta1.metrics.k8s.io`` that makes the API server proxy the Metrics API to it (see
``metrics_api``). The other add-ons' effects are modelled elsewhere or not needed.
"""

from __future__ import annotations

from typing import Any

from flexmigrate.sandbox.kube import errors as e
from flexmigrate.sandbox.kube.cluster import Cluster
from flexmigrate.sandbox.kube.options import DeleteOptions, WriteOptions

Obj = dict[str, Any]
_MANAGER = "eks"
_NS = "kube-system"
_LABELS = {
    "app.kubernetes.io/name": "metrics-server",
    "app.kubernetes.io/instance": "metrics-server",
}
_IMAGE = "602401143452.dkr.ecr.af-south-1.amazonaws.com/eks/metrics-server:{version}"


def _metrics_server(version: str) -> list[Obj]:
    labels = dict(_LABELS)
    meta = {"name": "metrics-server", "namespace": _NS, "labels": labels}
    container = {
        "name": "metrics-server",
        "image": _IMAGE.format(version=version),
        "args": [
            "--secure-port=10251",
            "--cert-dir=/tmp",
            "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
            "--kubelet-use-node-status-port",
            "--metric-resolution=15s",
        ],
        "ports": [{"name": "https", "containerPort": 10251, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "100m", "memory": "200Mi"}},
    }
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(meta)},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": dict(meta),
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": dict(labels)},
                "template": {
                    "metadata": {"labels": dict(labels)},
                    "spec": {
                        "serviceAccountName": "metrics-server",
                        "priorityClassName": "system-cluster-critical",
                        "containers": [container],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": dict(meta),
            "spec": {
                "selector": dict(labels),
                "ports": [{"name": "https", "port": 443, "targetPort": "https"}],
            },
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": "v1beta1.metrics.k8s.io", "labels": dict(labels)},
            "spec": {
                "group": "metrics.k8s.io",
                "version": "v1beta1",
                "service": {"name": "metrics-server", "namespace": _NS, "port": 443},
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
                "insecureSkipTLSVerify": True,
            },
        },
    ]


_OBJECTS = {"metrics-server": _metrics_server}


def _type(cluster: Cluster, obj: Obj) -> Any:
    group, _, version = str(obj["apiVersion"]).rpartition("/")
    for rt in cluster.registry.all():
        if rt.group == group and rt.version == version and rt.kind == obj["kind"]:
            return rt
    raise KeyError(obj["kind"])


def install(cluster: Cluster, addon: str, version: str) -> None:
    """Create (or keep) the add-on's objects, as EKS does when the add-on is created."""
    make = _OBJECTS.get(addon)
    for obj in make(version) if make else []:
        rt = _type(cluster, obj)
        ns = obj["metadata"].get("namespace", "")
        try:
            cluster.create(rt, ns, obj, WriteOptions(manager=_MANAGER))
        except e.ApiError as err:
            if err.code != 409:
                raise


def remove(cluster: Cluster, addon: str) -> None:
    """Delete the add-on's objects, as EKS does when the add-on is deleted."""
    make = _OBJECTS.get(addon)
    for obj in reversed(make("") if make else []):
        rt = _type(cluster, obj)
        meta = obj["metadata"]
        try:
            cluster.delete(rt, meta.get("namespace", ""), meta["name"], DeleteOptions())
        except e.ApiError as err:
            if err.code != 404:
                raise
