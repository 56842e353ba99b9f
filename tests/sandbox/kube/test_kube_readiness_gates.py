"""The load balancer controller's pod webhook and readiness gates, as the emulator models them:
the gate is injected only in labelled namespaces while the webhook configuration exists and
the controller serves it, the pod's IP is registered once its containers are ready, and the
pod turns Ready only when its target is healthy."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube_helpers import MANIFESTS, api_client, make_token, wait_for
from kubernetes import client
from kubernetes.client.rest import ApiException

from flexmigrate.sandbox.kube import KubeEmulator

Start = Callable[..., KubeEmulator]
ARN = "arn:aws:elasticloadbalancing:af-south-1:123456789012:targetgroup/shop/0123456789abcdef"
GATE = "target-health.elbv2.k8s.aws/backend"
WEBHOOK = Path(__file__).parents[3] / "runbooks" / "lb-controller" / "sandbox" / "40-webhook.yaml"


class TargetGroup:
    """Registered targets stay ``initial`` until the test declares them healthy."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.ips: tuple[str, ...] = ()
        self.healthy = False

    def sync(self, target_group_arn: str, port: int, ips: Sequence[str]) -> None:
        with self._lock:
            self.ips = tuple(sorted(ips))

    def target_health(self, target_group_arn: str) -> list[tuple[str, int, str, str, str]]:
        with self._lock:
            if self.healthy:
                return [(ip, 8000, "healthy", "", "") for ip in self.ips]
            return [
                (
                    ip,
                    8000,
                    "initial",
                    "Elb.RegistrationInProgress",
                    "Target registration is in progress",
                )
                for ip in self.ips
            ]


def _pods(core: client.CoreV1Api, ns: str) -> list[Any]:
    return list(core.list_namespaced_pod(ns, label_selector="app=backend").items)


def _ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def _controller(api: client.ApiClient) -> None:
    """The controller's pods and webhook Service in kube-system, then its webhook."""
    labels = {
        "app.kubernetes.io/name": "aws-load-balancer-controller",
        "app.kubernetes.io/instance": "aws-load-balancer-controller",
    }
    client.AppsV1Api(api).create_namespaced_deployment(
        "kube-system",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "aws-load-balancer-controller"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "controller",
                                "image": "public.ecr.aws/eks/aws-load-balancer-controller:v3.2.2",
                                "ports": [{"name": "webhook-server", "containerPort": 9443}],
                            }
                        ]
                    },
                },
            },
        },
    )
    client.CoreV1Api(api).create_namespaced_service(
        "kube-system",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "aws-load-balancer-webhook-service"},
            "spec": {
                "selector": labels,
                "ports": [{"port": 443, "targetPort": "webhook-server"}],
            },
        },
    )


def _app(api: client.ApiClient, ns: str, labelled: bool) -> None:
    core = client.CoreV1Api(api)
    labels = {"elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"} if labelled else {}
    core.create_namespace({"metadata": {"name": ns, "labels": labels}})
    core.create_namespaced_service(
        ns,
        {
            "metadata": {"name": "backend"},
            "spec": {"selector": {"app": "backend"}, "ports": [{"port": 80, "targetPort": 8000}]},
        },
    )
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        "elbv2.k8s.aws",
        "v1beta1",
        ns,
        "targetgroupbindings",
        {
            "apiVersion": "elbv2.k8s.aws/v1beta1",
            "kind": "TargetGroupBinding",
            "metadata": {"name": "backend"},
            "spec": {
                "serviceRef": {"name": "backend", "port": 80},
                "targetGroupARN": ARN,
                "targetType": "ip",
            },
        },
    )
    client.AppsV1Api(api).create_namespaced_deployment(
        ns,
        {
            "metadata": {"name": "backend"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "backend"}},
                "template": {
                    "metadata": {"labels": {"app": "backend"}},
                    "spec": {"containers": [{"name": "app", "image": "shop:1"}]},
                },
            },
        },
    )


@pytest.fixture
def cluster(start_emulator: Start) -> tuple[KubeEmulator, TargetGroup]:
    group = TargetGroup()
    return start_emulator(target_registrar=group), group


def test_gated_pods_are_registered_but_ready_only_once_healthy(
    cluster: tuple[KubeEmulator, TargetGroup],
) -> None:
    emulator, group = cluster
    with api_client(emulator, make_token()) as api:
        crd = yaml.safe_load((MANIFESTS / "crds" / "targetgroupbindings.yaml").read_text())
        client.ApiextensionsV1Api(api).create_custom_resource_definition(crd)
        _controller(api)
        client.AdmissionregistrationV1Api(api).create_mutating_webhook_configuration(
            yaml.safe_load(WEBHOOK.read_text())
        )
        core = client.CoreV1Api(api)
        wait_for(
            lambda: any(
                s.addresses
                for s in core.read_namespaced_endpoints(
                    "aws-load-balancer-webhook-service", "kube-system"
                ).subsets
                or []
            )
        )
        _app(api, "shop", labelled=True)
        wait_for(lambda: len(group.ips) == 2)
        pods = _pods(core, "shop")
        assert all([g.condition_type for g in p.spec.readiness_gates or []] == [GATE] for p in pods)
        time.sleep(0.5)  # the registered targets stay `initial`: the pods stay un-Ready
        pods = _pods(core, "shop")
        assert sorted(p.status.pod_ip for p in pods) == list(group.ips)
        assert not any(_ready(p) for p in pods)
        ready = next(c for c in pods[0].status.conditions if c.type == "Ready")
        assert ready.reason == "ReadinessGatesNotReady"
        gate = next(c for c in pods[0].status.conditions if c.type == GATE)
        assert (gate.status, gate.reason) == ("False", "Elb.RegistrationInProgress")
        deploy = client.AppsV1Api(api).read_namespaced_deployment("backend", "shop")
        assert not deploy.status.available_replicas

        group.healthy = True
        wait_for(lambda: all(_ready(p) for p in _pods(core, "shop")))

        # Without the namespace label the webhook does not apply: no gate, Ready at once.
        _app(api, "plain", labelled=False)
        wait_for(lambda: len(_pods(core, "plain")) == 2)
        assert not any(p.spec.readiness_gates for p in _pods(core, "plain"))


def test_an_unserved_webhook_follows_its_failure_policy(
    cluster: tuple[KubeEmulator, TargetGroup],
) -> None:
    emulator, _ = cluster
    with api_client(emulator, make_token()) as api:
        hooks = client.AdmissionregistrationV1Api(api)
        config = yaml.safe_load(WEBHOOK.read_text())
        hooks.create_mutating_webhook_configuration(config)  # no controller runs
        core = client.CoreV1Api(api)
        core.create_namespace(
            {
                "metadata": {
                    "name": "shop",
                    "labels": {"elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"},
                }
            }
        )
        pod = {
            "metadata": {"name": "one", "labels": {"app": "backend"}},
            "spec": {"containers": [{"name": "app", "image": "shop:1"}]},
        }
        created = core.create_namespaced_pod("shop", pod)  # failurePolicy Ignore
        assert not created.spec.readiness_gates
        config["webhooks"][0]["failurePolicy"] = "Fail"
        hooks.replace_mutating_webhook_configuration(
            config["metadata"]["name"],
            {
                **config,
                "metadata": hooks.read_mutating_webhook_configuration(
                    config["metadata"]["name"]
                ).metadata,
            },
        )
        with pytest.raises(ApiException) as refused:
            core.create_namespaced_pod("shop", {**pod, "metadata": {"name": "two"}})
        assert refused.value.status == 500
        message = json.loads(refused.value.body)["message"]
        assert 'failed calling webhook "mpod.elbv2.k8s.aws"' in message
        assert 'no endpoints available for service "aws-load-balancer-webhook-service"' in message
