"""Phase 3, app-deploy, end to end in the sandbox: the real command line, then the end state
read back with kubectl and boto3 as an operator would. The tests of this module build on
each other: plan, run, run again (verify), drift, rollback (with the answers to its AWS writes
lost)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from tests.conftest import SANDBOX_RUNBOOK, Sandbox, run_cli

IMAGE = "volttechafrica/flexdeskbackend:2026.11.1"
# The AWS writes of the rollback: the listener restored, the alarms, the target group, and
# the security-group rules phase 3 added.
LOST_ON_ROLLBACK = (
    "elbv2:ModifyListener",
    "cloudwatch:DeleteAlarms",
    "elbv2:DeleteTargetGroup",
    "ec2:RevokeSecurityGroupIngress",
)


def _tagged(tags: Any) -> dict[str, str]:
    if isinstance(tags, dict):
        return tags
    return {t["Key"]: t["Value"] for t in tags}


def _owned(tags: Any) -> bool:
    found = _tagged(tags)
    return (
        found.get("flexmigrate.io/managed-by") == "flexmigrate"
        and found.get("flexmigrate.io/runbook") == "flexdesk-sandbox"
    )


def _cluster_group(sandbox: Sandbox) -> str:
    eks = sandbox.client("eks")
    cluster = eks.describe_cluster(name="flexdesk-cluster")["cluster"]  # type: ignore[attr-defined]
    return str(cluster["resourcesVpcConfig"]["clusterSecurityGroupId"])


def _https_actions(sandbox: Sandbox) -> list[dict[str, Any]]:
    listener = sandbox.client("elbv2").describe_listeners(  # type: ignore[attr-defined]
        ListenerArns=[sandbox.world["https_listener_arn"]]
    )["Listeners"][0]
    return list(listener["DefaultActions"])


def test_plan_all_on_a_fresh_sandbox_reads_only(sandbox: Sandbox, aws_ledger: Any) -> None:
    ledger = aws_ledger(sandbox)
    mark = ledger.mark()
    done = run_cli(
        [
            *("--runbook", str(SANDBOX_RUNBOOK), "--state-dir", str(sandbox.state_dir)),
            *("plan", "all", "--report", str(sandbox.root / "plan.json")),
        ],
        env=sandbox.env,
        cwd=sandbox.root,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert ledger.mutations_since(mark) == []
    plan = json.loads((sandbox.root / "plan.json").read_text())
    phase3 = next(p for p in plan["phases"] if p["id"] == "phase-3")
    checks = {c["id"]: c for c in phase3["preflight"]}
    assert checks["previous-phase"]["status"] == "skip"
    assert checks["namespace"]["status"] == "skip"
    assert "does not exist yet" in checks["namespace"]["detail"]
    assert checks["overlay"]["status"] == "pass"
    assert checks["secret"]["status"] == "pass"
    steps = {s["id"]: s for s in phase3["steps"]}
    assert [c["resource"] for c in steps["target-group"]["changes"]] == [
        "target group flexdesk-eks"
    ]
    notes = " ".join(phase3["notes"])
    assert IMAGE in notes and "10 pods × 10 = 100, plus EC2 20 = 120" in notes


def test_full_phase(app_deploy_shared: Any, tmp_path: Path) -> None:
    harness = app_deploy_shared
    sandbox: Sandbox = harness.sandbox
    report = tmp_path / "report.json"
    done = harness.cli("run", "app-deploy", "--report", str(report))
    assert done.returncode == 0, done.stdout + done.stderr

    # The overlay's objects, with the overlay's values and flexmigrate's labels.
    listed = harness.kube_json(
        "deployment,hpa,pdb,configmap,secret,networkpolicy,targetgroupbinding,pods",
        "-n",
        "flexdesk",
        "--show-managed-fields",
    )["items"]
    objects = {(o["kind"], o["metadata"]["name"]): o for o in listed}
    deploy = objects["Deployment", "flexdesk-backend"]
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGE
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert deploy["spec"]["replicas"] == 3  # the HPA's minimum, not a manifest's count
    assert deploy["status"]["readyReplicas"] == 3
    assert deploy["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "flexmigrate"
    applied = next(m for m in deploy["metadata"]["managedFields"] if m["manager"] == "flexmigrate")
    assert "f:replicas" not in json.dumps(applied["fieldsV1"]["f:spec"])
    hpa = objects["HorizontalPodAutoscaler", "flexdesk-hpa"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 10)
    assert objects["PodDisruptionBudget", "flexdesk-pdb"]["spec"]["minAvailable"] == 2
    config = objects["ConfigMap", "flexdesk-config"]
    assert config["data"]["PORT"] == "8000"
    assert config["metadata"]["labels"]["environment"] == "production"
    assert ("NetworkPolicy", "flexdesk-netpol") in objects

    # The Secret holds exactly what Secrets Manager holds.
    answer = sandbox.client("secretsmanager").get_secret_value(  # type: ignore[attr-defined]
        SecretId="flexdesk/production"
    )
    expected = json.loads(answer["SecretString"])
    secret = objects["Secret", "flexdesk-secrets"]
    held = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert held == expected
    assert secret["metadata"]["annotations"]["flexmigrate.io/secret-source"] == answer["ARN"]

    # The target group: ip targets, healthy, exactly the ready pods.
    elbv2 = sandbox.client("elbv2")
    group = elbv2.describe_target_groups(Names=["flexdesk-eks"])["TargetGroups"][0]  # type: ignore[attr-defined]
    assert (group["TargetType"], group["Port"]) == ("ip", 8000)
    assert group["HealthCheckPath"] == "/api/v2/health"
    assert group["VpcId"] == sandbox.world["vpc_id"]
    tags = elbv2.describe_tags(ResourceArns=[group["TargetGroupArn"]])["TagDescriptions"]  # type: ignore[attr-defined]
    assert _owned(tags[0]["Tags"])
    health = elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])  # type: ignore[attr-defined]
    healthy = {
        d["Target"]["Id"]
        for d in health["TargetHealthDescriptions"]
        if d["TargetHealth"]["State"] == "healthy"
    }
    pods = [o for o in listed if o["kind"] == "Pod"]
    ready = {
        p["status"]["podIP"]
        for p in pods
        if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])
    }
    assert healthy == ready and len(ready) == 3
    binding = objects["TargetGroupBinding", "flexdesk-eks"]
    assert binding["spec"]["targetGroupARN"] == group["TargetGroupArn"]
    assert binding["spec"]["serviceRef"] == {"name": "flexdesk-backend-service", "port": 80}

    # Joined to the HTTPS listener at weight 0: EC2 keeps every request.
    forward = _https_actions(sandbox)[0]["ForwardConfig"]["TargetGroups"]
    weights = {g["TargetGroupArn"]: g["Weight"] for g in forward}
    assert weights == {sandbox.world["ec2_target_group_arn"]: 1, group["TargetGroupArn"]: 0}

    # Network paths: ALB → pods, pods → database and Redis, tagged.
    ec2 = sandbox.client("ec2")
    rules = ec2.describe_security_group_rules(  # type: ignore[attr-defined]
        Filters=[{"Name": "tag:flexmigrate.io/phase", "Values": ["phase-3"]}]
    )["SecurityGroupRules"]
    groups = sandbox.world["security_group_ids"]
    assert isinstance(groups, dict)
    cluster_group = _cluster_group(sandbox)
    found = {
        (r["GroupId"], r["FromPort"], r["ReferencedGroupInfo"]["GroupId"])
        for r in rules
        if _owned(r["Tags"])
    }
    # The database and Redis admit the application node group's own group, not the cluster's.
    (app_nodes,) = ec2.describe_security_groups(  # type: ignore[attr-defined]
        Filters=[{"Name": "group-name", "Values": ["flexdesk-cluster-application-nodes"]}]
    )["SecurityGroups"]
    assert found == {
        (cluster_group, 8000, groups["flexdesk-alb"]),
        (groups["flexdesk-db"], 5432, app_nodes["GroupId"]),
        (groups["flexdesk-redis"], 6379, app_nodes["GroupId"]),
    }

    # Alarms on the EKS target group for phase 4's gates.
    alarms = sandbox.client("cloudwatch").describe_alarms(  # type: ignore[attr-defined]
        AlarmNames=["flexdesk-eks-5xx", "flexdesk-eks-p99"]
    )["MetricAlarms"]
    by_name = {a["AlarmName"]: a for a in alarms}
    assert by_name["flexdesk-eks-p99"]["ExtendedStatistic"] == "p99"
    assert by_name["flexdesk-eks-5xx"]["MetricName"] == "HTTPCode_Target_5XX_Count"
    dimensions = {d["Name"]: d["Value"] for d in by_name["flexdesk-eks-5xx"]["Dimensions"]}
    assert dimensions["TargetGroup"] == group["TargetGroupArn"].split(":")[-1]
    assert dimensions["LoadBalancer"].startswith("app/flexdesk-alb/")

    # State: only references; traffic shown; and no secret value anywhere.
    status = harness.cli("--output", "json", "status")
    document = json.loads(status.stdout)
    phase3 = next(p for p in document["phases"] if p["id"] == "phase-3")
    assert phase3["status"] == "completed"
    assert document["traffic"]["ec2_percent"] == 100
    assert document["traffic"]["eks_percent"] == 0
    forms = harness.secret_forms()
    harness.assert_no_secrets(
        forms,
        texts=(done.stdout, done.stderr, status.stdout, status.stderr),
        dirs=(sandbox.state_dir, tmp_path),
    )
    assert report.exists()


def test_running_again_verifies_and_changes_nothing(app_deploy_shared: Any) -> None:
    harness = app_deploy_shared
    before = harness.kube_json("deployment", "flexdesk-backend", "-n", "flexdesk")
    done = harness.cli("run", "app-deploy")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no drift" in done.stdout
    after = harness.kube_json("deployment", "flexdesk-backend", "-n", "flexdesk")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_an_image_changed_behind_flexmigrates_back_shows_as_drift(app_deploy_shared: Any) -> None:
    """A runbook's new image is an update (planned, then applied by `run`); an image set with
    kubectl is drift, which `plan` names and `run --yes` puts back."""
    harness = app_deploy_shared
    changed = harness.sandbox.kubectl(
        "set",
        "image",
        "deployment/flexdesk-backend",
        "flexdesk-backend=volttechafrica/flexdeskbackend:2026.12.0",
        "-n",
        "flexdesk",
    )
    assert changed.returncode == 0, changed.stderr
    done = harness.cli("plan", "app-deploy")
    assert done.returncode == 0, done.stdout + done.stderr
    text = " ".join((done.stdout + done.stderr).split())
    assert "drift" in text
    assert IMAGE in text and "2026.12.0" in text
    restored = harness.cli("--yes", "run", "app-deploy")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    deployment = harness.kube_json("deployment", "flexdesk-backend", "-n", "flexdesk")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE


def test_rollback_leaves_nothing_behind(app_deploy_shared: Any) -> None:
    harness = app_deploy_shared
    sandbox: Sandbox = harness.sandbox
    # Every AWS write the rollback makes is carried out and its answer lost: botocore's retry
    # meets "not found" (or finds it done), and the rollback still completes in one run.
    dropped = sandbox.status()["aws_drops_injected"]["after"]  # type: ignore[index]
    sandbox.inject(*(f"aws-lose-answer={op}" for op in LOST_ON_ROLLBACK))
    done = harness.cli("--yes", "rollback", "app-deploy")
    assert done.returncode == 0, done.stdout + done.stderr
    status: Any = sandbox.status()
    assert status["faults"]["aws_lose_answer"] == []
    assert status["aws_drops_injected"]["after"] - dropped == len(LOST_ON_ROLLBACK)
    namespaces = harness.kube_json("namespaces")["items"]
    assert "flexdesk" not in {n["metadata"]["name"] for n in namespaces}
    groups = sandbox.client("elbv2").describe_target_groups()["TargetGroups"]  # type: ignore[attr-defined]
    assert [g["TargetGroupName"] for g in groups] == ["flexdesk-ec2"]
    alarms = sandbox.client("cloudwatch").describe_alarms()["MetricAlarms"]  # type: ignore[attr-defined]
    assert sorted(a["AlarmName"] for a in alarms) == ["flexdesk-ec2-5xx", "flexdesk-ec2-latency"]
    rules = sandbox.client("ec2").describe_security_group_rules(  # type: ignore[attr-defined]
        Filters=[{"Name": "tag:flexmigrate.io/phase", "Values": ["phase-3"]}]
    )["SecurityGroupRules"]
    assert rules == []
    # The listener's action is back exactly as the seed wrote it.
    assert _https_actions(sandbox) == [
        {"Type": "forward", "TargetGroupArn": sandbox.world["ec2_target_group_arn"]}
    ]
    # The EC2 side's paths are untouched.
    db = sandbox.client("ec2").describe_security_groups(  # type: ignore[attr-defined]
        GroupIds=[sandbox.world["security_group_ids"]["flexdesk-db"]]  # type: ignore[index]
    )["SecurityGroups"][0]
    assert [p["FromPort"] for p in db["IpPermissions"]] == [5432]
    harness.assert_no_secrets(
        harness.secret_forms(), texts=(done.stdout, done.stderr), dirs=(sandbox.state_dir,)
    )


def test_rollback_again_is_a_no_op(app_deploy_shared: Any) -> None:
    done = app_deploy_shared.cli("--yes", "rollback", "app-deploy")
    assert done.returncode == 0, done.stdout + done.stderr
