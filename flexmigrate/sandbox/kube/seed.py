"""What a fresh EKS cluster already holds before anyone applies anything.

The four standard namespaces, the ``kubernetes`` Service and its endpoints, CoreDNS (its
Deployment and the ``kube-dns`` Service) and the ``aws-auth`` ConfigMap in kube-system,
written through the normal API path so they carry uids, resourceVersions and field owners
like everything else.
"""

from __future__ import annotations

from typing import Any

from flexmigrate.sandbox.kube.admission import DNS_SERVICE_IP, KUBERNETES_SERVICE_IP
from flexmigrate.sandbox.kube.cluster import Cluster
from flexmigrate.sandbox.kube.options import WriteOptions

Obj = dict[str, Any]
_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_COREDNS_IMAGE = "602401143452.dkr.ecr.af-south-1.amazonaws.com/eks/coredns:v1.12.1-eksbuild.2"
_EKS_LABELS = {"eks.amazonaws.com/component": "coredns", "k8s-app": "kube-dns"}


def _coredns() -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": "kube-system", "labels": dict(_EKS_LABELS)},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": dict(_EKS_LABELS)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1},
            },
            "template": {
                "metadata": {"labels": dict(_EKS_LABELS)},
                "spec": {
                    "priorityClassName": "system-cluster-critical",
                    "serviceAccountName": "coredns",
                    "containers": [
                        {
                            "name": "coredns",
                            "image": _COREDNS_IMAGE,
                            "args": ["-conf", "/etc/coredns/Corefile"],
                            "ports": [
                                {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                                {"name": "metrics", "containerPort": 9153, "protocol": "TCP"},
                            ],
                            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}},
                            "resources": {
                                "limits": {"memory": "170Mi"},
                                "requests": {"cpu": "100m", "memory": "70Mi"},
                            },
                        }
                    ],
                },
            },
        },
    }


def _objects(api_address: str) -> list[tuple[str, str, str, Obj]]:
    host, _, port = api_address.rpartition(":")
    return [
        (
            "",
            "v1",
            "services",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": "kubernetes",
                    "namespace": "default",
                    "labels": {"component": "apiserver", "provider": "kubernetes"},
                },
                "spec": {
                    "clusterIP": KUBERNETES_SERVICE_IP,
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443}],
                },
            },
        ),
        (
            "",
            "v1",
            "endpoints",
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {
                    "name": "kubernetes",
                    "namespace": "default",
                    "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
                },
                "subsets": [
                    {
                        "addresses": [{"ip": host or "127.0.0.1"}],
                        "ports": [{"name": "https", "port": int(port or 443), "protocol": "TCP"}],
                    }
                ],
            },
        ),
        (
            "",
            "v1",
            "serviceaccounts",
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {
                    "name": "coredns",
                    "namespace": "kube-system",
                    "labels": dict(_EKS_LABELS),
                },
            },
        ),
        (
            "",
            "v1",
            "configmaps",
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "aws-auth", "namespace": "kube-system"},
                "data": {"mapRoles": ""},
            },
        ),
        (
            "",
            "v1",
            "services",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": "kube-dns",
                    "namespace": "kube-system",
                    "labels": {**_EKS_LABELS, "kubernetes.io/name": "CoreDNS"},
                },
                "spec": {
                    "clusterIP": DNS_SERVICE_IP,
                    "selector": {"k8s-app": "kube-dns"},
                    "ports": [
                        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                        {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                        {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
                    ],
                },
            },
        ),
        ("apps", "v1", "deployments", _coredns()),
    ]


def seed(cluster: Cluster, api_address: str) -> None:
    namespaces = cluster.registry.lookup("", "v1", "namespaces")
    assert namespaces is not None
    opts = WriteOptions(manager="kube-apiserver", validation="Strict")
    for name in _NAMESPACES:
        cluster.create(
            namespaces,
            "",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
            opts,
        )
    for group, version, plural, body in _objects(api_address):
        rt = cluster.registry.lookup(group, version, plural)
        assert rt is not None
        if plural == "services":
            cluster.admission.release(rt, body)
        manager = "eks" if body["metadata"]["namespace"] == "kube-system" else "kube-apiserver"
        cluster.create(
            rt,
            body["metadata"]["namespace"],
            body,
            WriteOptions(manager=manager, validation="Strict"),
        )
