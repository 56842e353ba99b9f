"""metrics-server in the emulator: the Metrics API appears once the EKS add-on's objects run,
its CPU follows the load sent to the pods' target group, and the HPA scales on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml
from kube_helpers import MANIFESTS, api_client, make_token, wait_for
from kubernetes import client
from kubernetes.client.rest import ApiException

from flexmigrate.sandbox.kube import KubeEmulator

Start = Callable[..., KubeEmulator]
ARN = "arn:aws:elasticloadbalancing:af-south-1:123456789012:targetgroup/shop/0123456789abcdef"


def _shop(api: client.ApiClient) -> None:
    client.CoreV1Api(api).create_namespaced_service(
        "default",
        {
            "metadata": {"name": "shop"},
            "spec": {"selector": {"app": "shop"}, "ports": [{"port": 80, "targetPort": 8000}]},
        },
    )
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        "elbv2.k8s.aws",
        "v1beta1",
        "default",
        "targetgroupbindings",
        {
            "apiVersion": "elbv2.k8s.aws/v1beta1",
            "kind": "TargetGroupBinding",
            "metadata": {"name": "shop"},
            "spec": {
                "serviceRef": {"name": "shop", "port": 80},
                "targetGroupARN": ARN,
                "targetType": "ip",
            },
        },
    )
    container = {
        "name": "app",
        "image": "shop:1",
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}},
    }
    client.AppsV1Api(api).create_namespaced_deployment(
        "default",
        {
            "metadata": {"name": "shop"},
            "spec": {
                "selector": {"matchLabels": {"app": "shop"}},
                "template": {
                    "metadata": {"labels": {"app": "shop"}},
                    "spec": {"containers": [container]},
                },
            },
        },
    )
    client.AutoscalingV2Api(api).create_namespaced_horizontal_pod_autoscaler(
        "default",
        {
            "metadata": {"name": "shop"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop"},
                "minReplicas": 2,
                "maxReplicas": 8,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 70},
                        },
                    }
                ],
            },
        },
    )


def _condition(hpa: Any, kind: str) -> Any:
    return next((c for c in hpa.status.conditions or [] if c.type == kind), None)


def test_hpa_scales_on_the_metrics_api_under_load(start_emulator: Start) -> None:
    load = {"rps": 0.0}
    emulator = start_emulator(load=lambda arn: load["rps"] if arn == ARN else 0.0)
    with api_client(emulator, make_token()) as api:
        crd = yaml.safe_load((MANIFESTS / "crds" / "targetgroupbindings.yaml").read_text())
        client.ApiextensionsV1Api(api).create_custom_resource_definition(crd)
        _shop(api)
        scaler = client.AutoscalingV2Api(api)
        wait_for(lambda: scaler.read_namespaced_horizontal_pod_autoscaler("shop", "default").status)
        hpa = scaler.read_namespaced_horizontal_pod_autoscaler("shop", "default")
        wait_for(
            lambda: (
                _condition(
                    scaler.read_namespaced_horizontal_pod_autoscaler("shop", "default"),
                    "ScalingActive",
                )
                is not None
            )
        )
        hpa = scaler.read_namespaced_horizontal_pod_autoscaler("shop", "default")
        assert _condition(hpa, "ScalingActive").reason == "FailedGetResourceMetric"
        custom = client.CustomObjectsApi(api)
        with pytest.raises(ApiException) as absent:
            custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", "default", "pods")
        assert absent.value.status == 404

        emulator.install_addon("metrics-server", "v0.8.0-eksbuild.2")
        groups = client.ApisApi(api).get_api_versions().groups
        assert "metrics.k8s.io" in [g.name for g in groups]

        def pod_metrics() -> list[Any]:
            try:
                listing = custom.list_namespaced_custom_object(
                    "metrics.k8s.io", "v1beta1", "default", "pods"
                )
            except ApiException:
                return []  # 503 until metrics-server's pods are ready
            return list(listing["items"])

        wait_for(lambda: len(pod_metrics()) == 2)
        idle = pod_metrics()[0]["containers"][0]["usage"]["cpu"]
        assert idle.endswith("n") and int(idle[:-1]) < 50_000_000  # idle: a few millicores

        # 2000 requests per second over two pods: about 0.6 cores each, 240 % of the request.
        load["rps"] = 2000.0
        wait_for(
            lambda: (
                scaler.read_namespaced_horizontal_pod_autoscaler(
                    "shop", "default"
                ).status.desired_replicas
                > 2
            ),
            timeout=20,
        )
        hpa = scaler.read_namespaced_horizontal_pod_autoscaler("shop", "default")
        assert _condition(hpa, "ScalingActive").status == "True"
        # Spread over more pods, the utilization settles near the target.
        assert hpa.status.current_metrics[0].resource.current.average_utilization > 0
        deploy = client.AppsV1Api(api).read_namespaced_deployment("shop", "default")
        assert deploy.spec.replicas > 2
        events = client.CoreV1Api(api).list_namespaced_event(
            "default", field_selector="involvedObject.name=shop,reason=SuccessfulRescale"
        )
        assert any("above target" in ev.message for ev in events.items)
