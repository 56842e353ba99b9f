"""app-deploy's preflight refuses what cannot be deployed — a broken overlay, a secret that
lacks a key, a namespace someone else owns — with exit 3, the file or key named, and nothing
changed in AWS or the cluster."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, Sandbox

MANIFESTS = REPO / "runbooks" / "flexdesk" / "k8s"


def _text(done: Any) -> str:
    return " ".join((done.stdout + done.stderr).split())


def _manifests(tmp_path: Path) -> Path:
    copy = tmp_path / "k8s"
    shutil.copytree(MANIFESTS, copy)
    return copy


def _refused(harness: Any, aws_ledger: Any, runbook: Path | None, tmp_path: Path) -> str:
    """Run the phase; assert exit 3 and that nothing changed; return what the failed checks
    said (from the JSON report, which keeps each detail whole) and the console output."""
    sandbox: Sandbox = harness.sandbox
    ledger = aws_ledger(sandbox)
    mark = ledger.mark()
    report = tmp_path / "report.json"
    done = harness.cli("run", "app-deploy", "--report", str(report), runbook=runbook)
    assert done.returncode == 3, done.stdout + done.stderr
    assert ledger.mutations_since(mark) == []
    namespaces = harness.kube_json("namespaces")["items"]
    assert "flexdesk" not in {n["metadata"]["name"] for n in namespaces}
    phase = next(p for p in json.loads(report.read_text())["phases"] if p["id"] == "phase-3")
    failed = [
        f"{c['detail']} {c['fix'] or ''}" for c in phase["preflight"] if c["status"] == "fail"
    ]
    return " | ".join(failed) + " | " + _text(done)


def test_unknown_field_in_a_manifest(
    app_deploy_shared: Any, runbook_variant: Any, aws_ledger: Any, tmp_path: Path
) -> None:
    manifests = _manifests(tmp_path)
    deployment = manifests / "base" / "deployment.yaml"
    text = deployment.read_text().replace(
        "  revisionHistoryLimit: 10", "  revisionHistoryLimit: 10\n  replicaz: 3"
    )
    deployment.write_text(text)
    runbook = runbook_variant({"app": {"manifests": str(manifests)}})
    output = _refused(app_deploy_shared, aws_ledger, runbook, tmp_path)
    assert "base/deployment.yaml" in output
    assert "spec.replicaz: unknown field" in output


def test_missing_file(
    app_deploy_shared: Any, runbook_variant: Any, aws_ledger: Any, tmp_path: Path
) -> None:
    manifests = _manifests(tmp_path)
    (manifests / "base" / "pdb.yaml").unlink()
    runbook = runbook_variant({"app": {"manifests": str(manifests)}})
    output = _refused(app_deploy_shared, aws_ledger, runbook, tmp_path)
    assert "base/kustomization.yaml: resource 'pdb.yaml' does not exist" in output


def test_unknown_field_in_a_kustomization(
    app_deploy_shared: Any, runbook_variant: Any, aws_ledger: Any, tmp_path: Path
) -> None:
    manifests = _manifests(tmp_path)
    overlay = manifests / "overlays" / "production" / "kustomization.yaml"
    overlay.write_text(overlay.read_text().replace("\nimages:", "\nimagez:"))
    runbook = runbook_variant({"app": {"manifests": str(manifests)}})
    output = _refused(app_deploy_shared, aws_ledger, runbook, tmp_path)
    assert "overlays/production/kustomization.yaml: unknown field 'imagez'" in output
    assert "did you mean 'images'" in output


def test_a_secret_in_git_is_refused(
    app_deploy_shared: Any, runbook_variant: Any, aws_ledger: Any, tmp_path: Path
) -> None:
    manifests = _manifests(tmp_path)
    (manifests / "base" / "secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: flexdesk-secrets\n"
        "data:\n  JWT_SECRET: Y2hhbmdlbWU=\n"
    )
    base = manifests / "base" / "kustomization.yaml"
    base.write_text(
        base.read_text().replace("  - configmap.yaml", "  - configmap.yaml\n  - secret.yaml")
    )
    runbook = runbook_variant({"app": {"manifests": str(manifests)}})
    output = _refused(app_deploy_shared, aws_ledger, runbook, tmp_path)
    assert "base/secret.yaml: Secret/flexdesk-secrets: a Secret with data" in output


def test_a_namespace_without_the_readiness_gate_label_is_refused(
    app_deploy_shared: Any, runbook_variant: Any, aws_ledger: Any, tmp_path: Path
) -> None:
    manifests = _manifests(tmp_path)
    namespace = manifests / "base" / "namespace.yaml"
    text = namespace.read_text()
    assert "elbv2.k8s.aws/pod-readiness-gate-inject: enabled" in text
    namespace.write_text(text.replace("pod-readiness-gate-inject: enabled", "team: desk"))
    runbook = runbook_variant({"app": {"manifests": str(manifests)}})
    output = _refused(app_deploy_shared, aws_ledger, runbook, tmp_path)
    assert "base/namespace.yaml (Namespace flexdesk, metadata.labels) lacks" in output
    assert "elbv2.k8s.aws/pod-readiness-gate-inject: enabled" in output


def test_missing_secret_key_is_named_not_its_values(
    app_deploy_shared: Any, runbook_variant: Any, aws_ledger: Any, tmp_path: Path
) -> None:
    keys = ["DB_CONNECTION_STRING", "JWT_SECRET", "REDIS_PASSWORD", "SMTP_PASSWORD"]
    runbook = runbook_variant({"app": {"secret": {"keys": keys}}})
    output = _refused(app_deploy_shared, aws_ledger, runbook, tmp_path)
    assert "lacks SMTP_PASSWORD" in output
    app_deploy_shared.assert_no_secrets(
        app_deploy_shared.secret_forms(),
        texts=(output,),
        dirs=(app_deploy_shared.sandbox.state_dir,),
    )


def test_namespace_owned_by_someone_else(app_deploy_shared: Any, aws_ledger: Any) -> None:
    harness = app_deploy_shared
    sandbox: Sandbox = harness.sandbox
    created = sandbox.kubectl("create", "namespace", "flexdesk")
    assert created.returncode == 0, created.stderr
    labelled = sandbox.kubectl(
        "label", "namespace", "flexdesk", "app.kubernetes.io/managed-by=Helm"
    )
    assert labelled.returncode == 0, labelled.stderr
    try:
        done = harness.cli("run", "app-deploy")
        assert done.returncode == 3, done.stdout + done.stderr
        assert "namespace flexdesk is managed by Helm" in _text(done)
    finally:
        sandbox.kubectl("delete", "namespace", "flexdesk", "--wait=true")


@pytest.mark.parametrize(
    "image", ["volttechafrica/flexdeskbackend:latest", "volttechafrica/flexdeskbackend"]
)
def test_an_unpinned_image_is_a_warning_in_the_plan(
    app_deploy_shared: Any, runbook_variant: Any, image: str
) -> None:
    runbook = runbook_variant({"app": {"image": image}})
    done = app_deploy_shared.cli("plan", "app-deploy", runbook=runbook)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is not pinned" in _text(done)


def test_an_hpa_on_cpu_without_a_metrics_api_is_a_warning_in_the_plan(
    app_deploy_shared: Any, tmp_path: Path
) -> None:
    # The sandbox runbook's metrics-server add-on serves metrics.k8s.io: the check passes.
    # Without the add-on the cluster, like an EKS cluster without metrics-server, serves no
    # metrics.k8s.io, and the shipped HPA scales on CPU and memory: a warning.
    def check() -> dict[str, Any]:
        report = tmp_path / "plan.json"
        done = app_deploy_shared.cli("plan", "app-deploy", "--report", str(report))
        assert done.returncode == 0, done.stdout + done.stderr
        phases = json.loads(report.read_text())["phases"]
        phase = next(p for p in phases if p["id"] == "phase-3")
        found: dict[str, Any] = next(c for c in phase["preflight"] if c["id"] == "resource-metrics")
        return found

    assert check()["status"] == "pass"
    eks: Any = app_deploy_shared.sandbox.client("eks")
    eks.delete_addon(clusterName="flexdesk-cluster", addonName="metrics-server")
    try:
        found = check()
        assert found["status"] == "warn", found
        assert "HorizontalPodAutoscaler/flexdesk-hpa" in found["detail"]
        assert "serves no metrics.k8s.io/v1beta1" in found["detail"]
        assert "metrics-server" in found["fix"]
    finally:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                eks.create_addon(clusterName="flexdesk-cluster", addonName="metrics-server")
                break
            except eks.exceptions.ResourceInUseException:  # still being deleted
                time.sleep(0.5)


def test_ssm_parameters_as_the_secret_source(
    app_deploy_shared: Any, runbook_variant: Any, aws_ledger: Any, tmp_path: Path
) -> None:
    harness = app_deploy_shared
    ssm = harness.sandbox.client("ssm")
    keys = ("DB_CONNECTION_STRING", "JWT_SECRET", "REDIS_PASSWORD")
    values = {k: f"ssm-value-of-{k.lower()}-7f3a9c" for k in keys}
    for key in keys[:2]:
        ssm.put_parameter(Name=f"/flexdesk/{key}", Value=values[key], Type="SecureString")
    source = {"secrets_manager": None, "ssm": {k: f"/flexdesk/{k}" for k in keys}}
    runbook = runbook_variant({"app": {"secret": {"source": source}}})
    output = _refused(harness, aws_ledger, runbook, tmp_path)
    assert "SSM parameter /flexdesk/REDIS_PASSWORD (key REDIS_PASSWORD) does not exist" in output

    ssm.put_parameter(
        Name="/flexdesk/REDIS_PASSWORD", Value=values["REDIS_PASSWORD"], Type="SecureString"
    )
    report = tmp_path / "plan.json"
    done = harness.cli("plan", "app-deploy", "--report", str(report), runbook=runbook)
    assert done.returncode == 0, done.stdout + done.stderr
    phase = next(p for p in json.loads(report.read_text())["phases"] if p["id"] == "phase-3")
    secret = next(c for c in phase["preflight"] if c["id"] == "secret")
    assert secret["status"] == "pass"
    assert "/flexdesk/JWT_SECRET" in secret["detail"]
    harness.assert_no_secrets(
        list(values.values()), texts=(output, done.stdout, done.stderr), dirs=(tmp_path,)
    )


def test_a_composite_alarm_can_be_one_of_the_existing_alarms(
    app_deploy_shared: Any, runbook_variant: Any, aws_ledger: Any, tmp_path: Path
) -> None:
    harness = app_deploy_shared
    cloudwatch = harness.sandbox.client("cloudwatch")
    composite = "flexdesk-backend-health"
    cloudwatch.put_composite_alarm(
        AlarmName=composite, AlarmRule='ALARM("flexdesk-ec2-5xx") OR ALARM(flexdesk-ec2-latency)'
    )
    try:
        runbook = runbook_variant({"app": {"alarms": {"existing": [composite]}}})
        ledger = aws_ledger(harness.sandbox)
        mark = ledger.mark()
        report = tmp_path / "plan.json"
        done = harness.cli("plan", "app-deploy", "--report", str(report), runbook=runbook)
        assert done.returncode == 0, done.stdout + done.stderr
        assert ledger.mutations_since(mark) == []
        phase = next(p for p in json.loads(report.read_text())["phases"] if p["id"] == "phase-3")
        alarms = next(c for c in phase["preflight"] if c["id"] == "alarms")
        assert alarms["status"] == "pass", alarms
        assert alarms["detail"] == f"using {composite}"
        planned = next(s for s in phase["steps"] if s["id"] == "alarms")
        assert [(c["resource"], c["current"]) for c in planned["changes"]] == [
            (f"alarm {composite}", "present")
        ]
    finally:
        cloudwatch.delete_alarms(AlarmNames=[composite])
