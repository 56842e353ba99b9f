"""The simulated controllers: rollouts, faults, HPA bounds, endpoints, target registration, GC."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import yaml
from kube_helpers import MANIFESTS, api_client, make_token, wait_for
from kubernetes import client, watch

from flexmigrate.sandbox.faults import FaultBoard, Faults
from flexmigrate.sandbox.kube import KubeEmulator

Start = Callable[..., KubeEmulator]
PODS = ("10.0.16.0/20", "10.0.32.0/20")
TARGET_GROUP = (
    "arn:aws:elasticloadbalancing:af-south-1:123456789012:targetgroup/flexdesk-eks/0123456789abcdef"
)


class RecordingRegistrar:
    """The emulator's extension point, implemented by the test: it records what it is told."""

    def __init__(self, failures: int = 0) -> None:
        self._lock = threading.Lock()
        self._failures = failures
        self.calls: list[tuple[str, int, tuple[str, ...]]] = []
        self.failed = 0

    def sync(self, target_group_arn: str, port: int, ips: Sequence[str]) -> None:
        with self._lock:
            if self._failures:
                self._failures -= 1
                self.failed += 1
                raise ConnectionError("elbv2 endpoint unavailable")
            self.calls.append((target_group_arn, port, tuple(ips)))

    def last(self) -> tuple[str, int, tuple[str, ...]] | None:
        with self._lock:
            return self.calls[-1] if self.calls else None


def _deployment(
    name: str, replicas: int | None, image: str = "flexdesk/backend:1.0"
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": image,
                        "ports": [{"name": "http", "containerPort": 8000}],
                    }
                ]
            },
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


def _condition(deploy: client.V1Deployment, kind: str) -> client.V1DeploymentCondition | None:
    return next((c for c in deploy.status.conditions or [] if c.type == kind), None)


def _ready_pods(core: client.CoreV1Api, app: str) -> list[client.V1Pod]:
    pods = core.list_namespaced_pod("default", label_selector=f"app={app}").items
    return [
        p
        for p in pods
        if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    ]


def test_deployment_gets_ready_pods_with_vpc_addresses(start_emulator: Start) -> None:
    emulator = start_emulator(pod_cidrs=PODS)
    with api_client(emulator, make_token()) as api:
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        apps.create_namespaced_deployment("default", _deployment("web", 3))
        core.create_namespaced_service(
            "default",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web"},
                "spec": {
                    "selector": {"app": "web"},
                    "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
                },
            },
        )
        deploy = wait_for(
            lambda: (
                (d := apps.read_namespaced_deployment("web", "default")).status.available_replicas
                == 3
                and d
            )
        )
        available = _condition(deploy, "Available")
        assert available is not None and (available.status, available.reason) == (
            "True",
            "MinimumReplicasAvailable",
        )
        progressing = _condition(deploy, "Progressing")
        assert progressing is not None and progressing.reason == "NewReplicaSetAvailable"
        assert (
            deploy.status.replicas,
            deploy.status.updated_replicas,
            deploy.status.ready_replicas,
        ) == (3, 3, 3)
        assert deploy.status.observed_generation == deploy.metadata.generation

        (rs,) = apps.list_namespaced_replica_set("default", label_selector="app=web").items
        assert rs.metadata.owner_references[0].uid == deploy.metadata.uid
        assert rs.metadata.name == f"web-{rs.metadata.labels['pod-template-hash']}"
        pods = _ready_pods(core, "web")
        assert len(pods) == 3
        networks = [ipaddress.ip_network(c) for c in PODS]
        subnets = set()
        for pod in pods:
            assert pod.metadata.owner_references[0].uid == rs.metadata.uid
            assert pod.status.phase == "Running"
            address = ipaddress.ip_address(pod.status.pod_ip)
            subnets.add(next(i for i, net in enumerate(networks) if address in net))
            assert pod.spec.node_name.endswith(".af-south-1.compute.internal")
        assert subnets == {0, 1}

        endpoints = wait_for(
            lambda: (e := core.read_namespaced_endpoints("web", "default")).subsets and e
        )
        (subset,) = endpoints.subsets
        assert sorted(a.ip for a in subset.addresses) == sorted(p.status.pod_ip for p in pods)
        assert [(p.name, p.port) for p in subset.ports] == [("http", 8000)]
        events = core.list_namespaced_event(
            "default", field_selector="involvedObject.name=web"
        ).items
        assert any(
            e.reason == "ScalingReplicaSet" and e.message.startswith("Scaled up replica set web-")
            for e in events
        )


def test_stuck_rollout_exceeds_its_deadline_and_recovers_when_the_fault_clears(
    start_emulator: Start,
) -> None:
    board = FaultBoard(Faults(rollout_stuck=True))
    emulator = start_emulator(faults=board, progress_deadline_cap=0.5)
    with api_client(emulator, make_token()) as api:
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        apps.create_namespaced_deployment("default", _deployment("stuck", 2))

        def timed_out() -> client.V1Deployment | None:
            deploy = apps.read_namespaced_deployment("stuck", "default")
            cond = _condition(deploy, "Progressing")
            return (
                deploy if cond is not None and cond.reason == "ProgressDeadlineExceeded" else None
            )

        started = time.monotonic()
        deploy = wait_for(timed_out, timeout=5)
        assert time.monotonic() - started < 3
        progressing = _condition(deploy, "Progressing")
        assert progressing is not None and progressing.status == "False"
        (rs,) = apps.list_namespaced_replica_set("default").items
        assert progressing.message == f'ReplicaSet "{rs.metadata.name}" has timed out progressing.'
        assert not deploy.status.available_replicas
        assert _ready_pods(core, "stuck") == []
        warnings = core.list_namespaced_event("default", field_selector="type=Warning").items
        assert any(
            e.reason == "Unhealthy" and e.message.startswith("Readiness probe failed")
            for e in warnings
        )

        board.clear()
        recovered = wait_for(
            lambda: (
                (d := apps.read_namespaced_deployment("stuck", "default")).status.available_replicas
                == 2
                and d
            )
        )
        assert _condition(recovered, "Progressing").reason == "NewReplicaSetAvailable"  # type: ignore[union-attr]
        assert _condition(recovered, "Available").status == "True"  # type: ignore[union-attr]


def test_hpa_keeps_replicas_within_its_bounds(start_emulator: Start) -> None:
    emulator = start_emulator()
    with api_client(emulator, make_token()) as api:
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        apps.create_namespaced_deployment("default", _deployment("scaled", None))
        client.AutoscalingV2Api(api).create_namespaced_horizontal_pod_autoscaler(
            "default",
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "scaled"},
                "spec": {
                    "scaleTargetRef": {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": "scaled",
                    },
                    "minReplicas": 3,
                    "maxReplicas": 5,
                },
            },
        )
        wait_for(lambda: len(_ready_pods(core, "scaled")) == 3)
        assert apps.read_namespaced_deployment("scaled", "default").spec.replicas == 3
        hpa = wait_for(
            lambda: (
                (
                    h := client.AutoscalingV2Api(api).read_namespaced_horizontal_pod_autoscaler(
                        "scaled", "default"
                    )
                ).status.current_replicas
                == 3
                and h
            )
        )
        assert hpa.status.desired_replicas == 3
        apps.patch_namespaced_deployment_scale(
            "scaled",
            "default",
            {"spec": {"replicas": 9}},
            _content_type="application/merge-patch+json",
        )
        wait_for(lambda: apps.read_namespaced_deployment("scaled", "default").spec.replicas == 5)


def test_target_group_binding_registers_ready_pod_ips(start_emulator: Start) -> None:
    registrar = RecordingRegistrar(failures=1)
    emulator = start_emulator(target_registrar=registrar)
    arn = TARGET_GROUP
    with api_client(emulator, make_token()) as api:
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        crd = yaml.safe_load((MANIFESTS / "crds" / "targetgroupbindings.yaml").read_text())
        client.ApiextensionsV1Api(api).create_custom_resource_definition(crd)
        apps.create_namespaced_deployment("default", _deployment("backend", 2))
        core.create_namespaced_service(
            "default",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "backend"},
                "spec": {
                    "selector": {"app": "backend"},
                    "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
                },
            },
        )
        custom = client.CustomObjectsApi(api)
        tgb_args = ("elbv2.k8s.aws", "v1beta1", "default", "targetgroupbindings")
        custom.create_namespaced_custom_object(
            *tgb_args,
            {
                "apiVersion": "elbv2.k8s.aws/v1beta1",
                "kind": "TargetGroupBinding",
                "metadata": {"name": "backend"},
                "spec": {
                    "serviceRef": {"name": "backend", "port": 80},
                    "targetGroupARN": arn,
                    "targetType": "ip",
                },
            },
        )

        def registered(count: int) -> bool:
            ips = sorted(p.status.pod_ip for p in _ready_pods(core, "backend"))
            return len(ips) == count and registrar.last() == (arn, 8000, tuple(ips))

        wait_for(lambda: registered(2))
        assert registrar.failed == 1
        binding = custom.get_namespaced_custom_object(*tgb_args, "backend")
        assert binding["status"]["observedGeneration"] == binding["metadata"]["generation"] == 1

        apps.patch_namespaced_deployment_scale(
            "backend",
            "default",
            {"spec": {"replicas": 3}},
            _content_type="application/merge-patch+json",
        )
        wait_for(lambda: registered(3))
        custom.delete_namespaced_custom_object(*tgb_args, "backend")
        wait_for(lambda: registrar.last() == (arn, 8000, ()))


def test_background_and_foreground_deletion_collect_dependents(start_emulator: Start) -> None:
    emulator = start_emulator()
    with api_client(emulator, make_token()) as api:
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        for name in ("bg", "fg"):
            apps.create_namespaced_deployment("default", _deployment(name, 2))
            wait_for(lambda name=name: len(_ready_pods(core, name)) == 2)
        apps.delete_namespaced_deployment("bg", "default")
        wait_for(lambda: not core.list_namespaced_pod("default", label_selector="app=bg").items)
        assert apps.list_namespaced_replica_set("default", label_selector="app=bg").items == []

        held = apps.delete_namespaced_deployment("fg", "default", propagation_policy="Foreground")
        assert held["metadata"]["deletionTimestamp"]
        assert held["metadata"]["finalizers"] == ["foregroundDeletion"]

        def gone() -> bool:
            try:
                apps.read_namespaced_deployment("fg", "default")
            except client.ApiException as err:
                return err.status == 404
            return False

        wait_for(gone)
        assert core.list_namespaced_pod("default", label_selector="app=fg").items == []


def test_rolling_update_replaces_every_pod(start_emulator: Start) -> None:
    emulator = start_emulator()
    with api_client(emulator, make_token()) as api:
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        apps.create_namespaced_deployment("default", _deployment("roll", 3))
        wait_for(lambda: len(_ready_pods(core, "roll")) == 3)
        apps.patch_namespaced_deployment(
            "roll",
            "default",
            {
                "spec": {
                    "template": {
                        "spec": {"containers": [{"name": "app", "image": "flexdesk/backend:2.0"}]}
                    }
                }
            },
            _content_type="application/strategic-merge-patch+json",
        )

        def rolled() -> bool:
            deploy = apps.read_namespaced_deployment("roll", "default")
            pods = core.list_namespaced_pod("default", label_selector="app=roll").items
            done = _condition(deploy, "Progressing")
            return (
                deploy.status.observed_generation == 2
                and deploy.status.updated_replicas == 3
                and deploy.status.available_replicas == 3
                and len(pods) == 3
                and all(p.spec.containers[0].image == "flexdesk/backend:2.0" for p in pods)
                and done is not None
                and done.reason == "NewReplicaSetAvailable"
            )

        wait_for(rolled)
        sets = {
            rs.metadata.annotations["deployment.kubernetes.io/revision"]: rs.spec.replicas
            for rs in apps.list_namespaced_replica_set("default", label_selector="app=roll").items
        }
        assert sets == {"1": 0, "2": 3}


def test_stop_ends_watches_and_leaves_no_threads(start_emulator: Start) -> None:
    emulator = start_emulator()
    before = {t.ident for t in threading.enumerate()}
    seen: list[str] = []

    def follow() -> None:
        with api_client(emulator, make_token()) as api:
            # With a timeout the client does not reconnect when the stream ends: a stop that
            # ends the stream cleanly lets this loop finish on its own.
            for event in watch.Watch().stream(
                client.CoreV1Api(api).list_namespace, timeout_seconds=60
            ):
                seen.append(event["type"])

    watcher = threading.Thread(target=follow, daemon=True)
    watcher.start()
    wait_for(lambda: len(seen) >= 4)
    stopped = time.monotonic()
    emulator.stop()
    watcher.join(timeout=5)
    assert not watcher.is_alive()
    assert time.monotonic() - stopped < 3
    leftovers = [
        t
        for t in threading.enumerate()
        if t.ident not in before and t.is_alive() and t is not watcher
    ]
    assert leftovers == [], leftovers


def test_stop_joins_connection_threads_still_closing_their_sockets(
    start_emulator: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection thread closes its socket after its last request ends; on a loaded machine
    that can outlast the request by a moment (CI's floors pass caught one left behind by the
    test above). Stop waits for the thread, not only for its requests: made slow here."""
    from flexmigrate.sandbox.kube import server as kube_server

    closing = kube_server._Server.shutdown_request

    def slow_close(self: Any, request: Any) -> None:
        time.sleep(0.5)
        closing(self, request)

    monkeypatch.setattr(kube_server._Server, "shutdown_request", slow_close)
    emulator = start_emulator()
    before = {t.ident for t in threading.enumerate()}
    with api_client(emulator, make_token()) as api:
        client.CoreV1Api(api).list_namespace()
    emulator.stop()
    leftovers = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
    assert leftovers == [], leftovers


@pytest.mark.parametrize("delay", [0.2])
def test_deleted_namespace_is_gone_within_the_finalize_delay(
    start_emulator: Start, delay: float
) -> None:
    emulator = start_emulator(namespace_finalize_delay=delay)
    with api_client(emulator, make_token()) as api:
        core = client.CoreV1Api(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="brief")))
        client.AppsV1Api(api).create_namespaced_deployment(
            "brief", {**_deployment("web", 1), "metadata": {"name": "web"}}
        )
        asked = time.monotonic()
        core.delete_namespace("brief")

        def gone() -> bool:
            return "brief" not in {n.metadata.name for n in core.list_namespace().items}

        wait_for(gone, timeout=5)
        assert delay <= time.monotonic() - asked < delay + 1.0
