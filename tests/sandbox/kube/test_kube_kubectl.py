"""The official kubectl binary, default flags, against the emulator: what an operator sees."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kube_helpers import MANIFESTS, Cli, exec_user, fast_config, make_cli, make_token

from flexmigrate.sandbox.kube import KubeEmulator


@pytest.fixture(scope="module")
def shared_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeEmulator]:
    """Like the suite's, but a namespace takes as long to go as kubectl needs to delete its
    contents one by one (on EKS the namespace controller takes seconds)."""
    emulator = KubeEmulator(
        fast_config(tmp_path_factory.mktemp("certs"), namespace_finalize_delay=1.0)
    )
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def cli(shared_emulator: KubeEmulator, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    return make_cli(tmp_path_factory.mktemp("kubectl"), shared_emulator, {"token": make_token()})


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_get_ns_lists_the_namespaces_of_a_fresh_cluster(cli: Cli) -> None:
    out = _ok(cli.kubectl("get", "ns"))
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "AGE"]
    names = {line.split()[0] for line in lines[1:]}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names
    assert all(line.split()[1] == "Active" for line in lines[1:])


def test_app_manifests_apply_wait_inspect_and_delete(cli: Cli) -> None:
    crds = _ok(cli.kubectl("apply", "--server-side", "-f", str(MANIFESTS / "crds")))
    crd = "customresourcedefinition.apiextensions.k8s.io/targetgroupbindings.elbv2.k8s.aws"
    assert f"{crd} serverside-applied" in crds

    applied = _ok(cli.kubectl("apply", "--server-side", "-f", str(MANIFESTS / "app")))
    for line in (
        "namespace/flexdesk serverside-applied",
        "configmap/flexdesk-config serverside-applied",
        "deployment.apps/flexdesk-backend serverside-applied",
        "service/flexdesk-backend serverside-applied",
        "horizontalpodautoscaler.autoscaling/flexdesk-backend serverside-applied",
        "poddisruptionbudget.policy/flexdesk-backend serverside-applied",
        "networkpolicy.networking.k8s.io/flexdesk-backend serverside-applied",
        "targetgroupbinding.elbv2.k8s.aws/flexdesk-backend serverside-applied",
    ):
        assert line in applied

    waited = _ok(
        cli.kubectl(
            "wait",
            "--for=condition=Available",
            "deploy/flexdesk-backend",
            "-n",
            "flexdesk",
            "--timeout=30s",
        )
    )
    assert "deployment.apps/flexdesk-backend condition met" in waited

    listed = yaml.safe_load(_ok(cli.kubectl("get", "deploy", "-n", "flexdesk", "-o", "yaml")))
    assert listed["kind"] == "List"
    (deploy,) = listed["items"]
    assert deploy["metadata"]["name"] == "flexdesk-backend"
    assert deploy["spec"]["replicas"] == 3
    assert deploy["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["readinessProbe"]["periodSeconds"] == 10
    assert deploy["status"]["availableReplicas"] == 3
    assert deploy["status"]["observedGeneration"] == deploy["metadata"]["generation"]
    assert "managedFields" not in deploy["metadata"]

    table = _ok(
        cli.kubectl("get", "deploy,svc,cm,secret,hpa,pdb,networkpolicy,targetgroupbindings", "-A")
    )
    rows = {
        line.split()[1]: line.split()
        for line in table.splitlines()
        if line and not line.startswith("NAMESPACE")
    }
    assert rows["deployment.apps/flexdesk-backend"][2] == "3/3"
    assert rows["service/flexdesk-backend"][2] == "ClusterIP"
    assert rows["service/flexdesk-backend"][3].startswith("172.20.")
    assert "configmap/flexdesk-config" in rows
    assert (
        rows["horizontalpodautoscaler.autoscaling/flexdesk-backend"][2]
        == "Deployment/flexdesk-backend"
    )
    assert "poddisruptionbudget.policy/flexdesk-backend" in rows
    assert "networkpolicy.networking.k8s.io/flexdesk-backend" in rows
    assert rows["targetgroupbinding.elbv2.k8s.aws/flexdesk-backend"][2:5] == [
        "flexdesk-backend",
        "80",
        "ip",
    ]

    deleted = _ok(cli.kubectl("delete", "-f", str(MANIFESTS / "app")))
    assert 'namespace "flexdesk" deleted' in deleted
    assert 'deployment.apps "flexdesk-backend" deleted' in deleted
    gone = cli.kubectl("get", "ns", "flexdesk")
    assert gone.returncode == 1
    assert 'namespaces "flexdesk" not found' in gone.stderr


def test_create_twice_says_already_exists(cli: Cli, tmp_path: Path) -> None:
    manifest = tmp_path / "secret.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: twice\n  namespace: default\n"
        "stringData:\n  password: hunter2\n"
    )
    first = cli.kubectl("create", "-f", str(manifest))
    assert first.returncode == 0, first.stderr
    assert "secret/twice created" in first.stdout
    second = cli.kubectl("create", "-f", str(manifest))
    assert second.returncode != 0
    assert "Error from server (AlreadyExists): error when creating" in second.stderr
    assert 'secrets "twice" already exists' in second.stderr
    stored = yaml.safe_load(_ok(cli.kubectl("get", "secret", "twice", "-o", "yaml")))
    assert stored["type"] == "Opaque"
    assert stored["data"] == {"password": "aHVudGVyMg=="}
    assert "stringData" not in stored


def test_unknown_fields_are_rejected_by_strict_validation(cli: Cli, tmp_path: Path) -> None:
    manifest = tmp_path / "typo.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: typo\n  namespace: default\n"
        "spec:\n  selector: {app: x}\n  prots: [{port: 80}]\n  ports: [{port: 80}]\n"
    )
    for verb in (["apply", "--server-side"], ["create"]):
        result = cli.kubectl(*verb, "-f", str(manifest))
        assert result.returncode != 0
        assert "Error from server (BadRequest)" in result.stderr
        assert 'strict decoding error: unknown field "spec.prots"' in result.stderr
    missing = cli.kubectl("get", "svc", "typo")
    assert missing.returncode == 1


def test_apply_conflict_names_the_other_manager_until_forced(cli: Cli, tmp_path: Path) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\n"
        "spec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n"
        "  template:\n    metadata: {labels: {app: web}}\n"
        "    spec:\n      containers: [{name: web, image: nginx:1.27}]\n"
    )
    _ok(cli.kubectl("apply", "--server-side", "-f", str(manifest)))
    _ok(cli.kubectl("scale", "deploy/web", "--replicas=4"))
    conflict = cli.kubectl("apply", "--server-side", "-f", str(manifest))
    assert conflict.returncode != 0
    scaler = '"kubectl" with subresource "scale" using apps/v1'
    assert f"Apply failed with 1 conflict: conflict with {scaler}" in conflict.stderr
    assert ": .spec.replicas" in conflict.stderr
    forced = _ok(cli.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(manifest)))
    assert "deployment.apps/web serverside-applied" in forced
    replicas = _ok(cli.kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"))
    assert replicas == "2"


def test_resource_of_a_missing_crd_tells_to_install_crds(
    shared_emulator: KubeEmulator, tmp_path: Path
) -> None:
    isolated = make_cli(tmp_path, shared_emulator, {"token": make_token()})
    binding = tmp_path / "tgb.yaml"
    binding.write_text(
        "apiVersion: example.com/v1\nkind: Gadget\n"
        "metadata:\n  name: g\n  namespace: default\nspec: {}\n"
    )
    result = isolated.kubectl("apply", "--server-side", "-f", str(binding))
    assert result.returncode != 0
    assert 'no matches for kind "Gadget" in version "example.com/v1"' in result.stderr
    assert "ensure CRDs are installed first" in result.stderr


def test_exec_plugin_kubeconfig_mints_eks_tokens(
    shared_emulator: KubeEmulator, tmp_path: Path
) -> None:
    operator = make_cli(tmp_path, shared_emulator, exec_user())
    namespaces = _ok(operator.kubectl("get", "ns", "-o", "name"))
    assert "namespace/kube-system" in namespaces.split()
    whoami = _ok(operator.kubectl("auth", "whoami"))
    assert "arn:aws:iam::123456789012:user/testing" in whoami
    assert _ok(operator.kubectl("auth", "can-i", "create", "deployments")).strip() == "yes"


def test_bad_token_is_unauthorized(shared_emulator: KubeEmulator, tmp_path: Path) -> None:
    stranger = make_cli(tmp_path, shared_emulator, {"token": "k8s-aws-v1.bm90LWEtdXJs"})
    result = stranger.kubectl("get", "ns")
    assert result.returncode == 1
    assert "error: You must be logged in to the server" in result.stderr
