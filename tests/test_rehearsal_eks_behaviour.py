"""Rehearsals where the cutover meets what EKS and the ALB do that a kinder sandbox would
hide: connections the ALB cannot make to the pods (its own 502s), IAM that is eventually
consistent, readiness gates that hold a rollout until the ALB finds the new pods healthy."""

from __future__ import annotations

import datetime
import json
import os
import time
from pathlib import Path
from typing import Any

import boto3

from flexmigrate.sandbox import manage
from tests.conftest import Sandbox, run_cli, start_sandbox, stop_sandbox


def _client(env: dict[str, str], service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def _rehearse(tmp_path: Path, *args: str) -> tuple[Any, dict[str, Any], Path]:
    report = tmp_path / "rehearsal.json"
    done = run_cli(
        ["rehearse", *args, "--keep", "--report", str(report)],
        env={"TMPDIR": str(tmp_path)},
        cwd=tmp_path,
        timeout=400,
    )
    document: dict[str, Any] = json.loads(report.read_text())
    return done, document, Path(str(document["summary"]["sandbox"]))


def test_a_new_role_is_waited_for_not_failed_on(sandbox: Sandbox) -> None:
    """EKS refuses the cluster role for a while after phase 1 creates it (3 s in every
    rehearsal, made longer here so the wait is plain to see); phase 1 waits it out. Before
    phase 1 retried, the rehearsal stopped in phase 1 with InvalidParameterException."""
    sandbox.inject("iam-propagation=5")
    done = sandbox.cli("--yes", "run", "phase-1")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert (
        "EKS to accept role flexdesk-cluster-cluster-role for cluster flexdesk-cluster: "
        "IAM role flexdesk-cluster-cluster-role not yet usable by EKS"
    ) in " ".join(output.split())
    state = json.loads((sandbox.state_dir / "flexdesk-sandbox" / "state.json").read_text())
    phase1 = next(p for p in state["phases"] if p["id"] == "phase-1")
    assert {s["id"]: s["status"] for s in phase1["steps"]}["cluster"] == "completed"


def test_refused_connections_to_eks_breach_the_cutover_while_targets_stay_healthy(
    tmp_path: Path,
) -> None:
    done, document, sandbox = _rehearse(tmp_path, "--inject", "eks-refuse=0.3@25")
    try:
        assert done.returncode == 4, done.stdout[-3000:] + done.stderr[-3000:]
        assert "EC2 100 % / EKS 0 %" in done.stderr
        # Only the gates on the ALB's own errors can see it: the target 5xx gate passes.
        assert "eks-connection-errors" in done.stderr or "elb-5xx" in done.stderr
        env = manage.environment(sandbox)
        world = json.loads((sandbox / "world.json").read_text())
        elbv2 = _client(env, "elbv2")
        listener = elbv2.describe_listeners(ListenerArns=[world["https_listener_arn"]])
        forward = next(
            a for a in listener["Listeners"][0]["DefaultActions"] if a["Type"] == "forward"
        )
        weights = {
            g["TargetGroupArn"]: g["Weight"] for g in forward["ForwardConfig"]["TargetGroups"]
        }
        assert weights[world["ec2_target_group_arn"]] == 100 and sum(weights.values()) == 100
        eks = elbv2.describe_target_groups(Names=["flexdesk-eks"])["TargetGroups"][0]
        health = elbv2.describe_target_health(TargetGroupArn=eks["TargetGroupArn"])
        states = [d["TargetHealth"]["State"] for d in health["TargetHealthDescriptions"]]
        assert states and set(states) == {"healthy"}
        alarms = _client(env, "cloudwatch").describe_alarms(AlarmNamePrefix="flexdesk-eks")
        assert {a["StateValue"] for a in alarms["MetricAlarms"]} == {"OK"}
        statuses = {p["id"]: p["status"] for p in document["phases"]}
        assert statuses["phase-4"] == "failed" and "phase-5" not in statuses
        phase4 = next(p for p in document["phases"] if p["id"] == "phase-4")
        steps = {s["id"]: s["status"] for s in phase4["steps"]}
        assert steps["shift-10"] == "completed"  # the fault starts at 25 %
    finally:
        manage.down(sandbox)


def _kubectl(env: dict[str, str], *args: str) -> str:
    import subprocess
    import sys

    kubectl = Path(sys.executable).parent / "kubectl"
    done = subprocess.run(
        [str(kubectl), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _rollout_5xx(env: dict[str, str], world: dict[str, Any]) -> tuple[int, list[list[str]]]:
    """Restart the app's Deployment under the simulator's traffic (all of it on EKS after a
    rehearsal), wait until the rollout is done and its targets are healthy, and return the
    5xx the load balancer answered meanwhile (its own and its targets') and each new pod's
    readiness gates."""
    elbv2, cloudwatch = _client(env, "elbv2"), _client(env, "cloudwatch")
    group = elbv2.describe_target_groups(Names=["flexdesk-eks"])["TargetGroups"][0]
    alb = elbv2.describe_load_balancers(Names=["flexdesk-alb"])["LoadBalancers"][0]
    balancer = alb["LoadBalancerArn"].split(":loadbalancer/", 1)[1]
    began = time.time()
    _kubectl(env, "-n", "flexdesk", "rollout", "restart", "deployment/flexdesk-backend")
    _kubectl(
        env, "-n", "flexdesk", "rollout", "status", "deployment/flexdesk-backend", "--timeout=90s"
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        health = elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
        states = [d["TargetHealth"]["State"] for d in health["TargetHealthDescriptions"]]
        if states and set(states) <= {"healthy", "draining"} and "draining" not in states:
            break
        time.sleep(0.5)
    time.sleep(3)  # the last periods' metrics are published
    errors = 0
    for metric in ("HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count"):
        stats = cloudwatch.get_metric_statistics(
            Namespace="AWS/ApplicationELB",
            MetricName=metric,
            Dimensions=[{"Name": "LoadBalancer", "Value": balancer}],
            StartTime=datetime.datetime.fromtimestamp(began - 1, datetime.UTC),
            EndTime=datetime.datetime.fromtimestamp(time.time(), datetime.UTC),
            Period=1,
            Statistics=["Sum"],
        )
        errors += int(sum(p["Sum"] for p in stats["Datapoints"]))
    pods = json.loads(_kubectl(env, "-n", "flexdesk", "get", "pods", "-o", "json"))["items"]
    gates = [
        [g["conditionType"] for g in p["spec"].get("readinessGates", [])]
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
    ]
    return errors, gates


def test_a_rollout_under_traffic_drops_nothing_while_the_namespace_has_readiness_gates(
    tmp_path: Path,
) -> None:
    """With the namespace labelled (as shipped), the controller's webhook gives each new pod
    the target-health readiness gate, so an old pod stops only once its replacement is a
    healthy target: no 5xx. With the label removed, a new pod is Ready before the ALB has
    health-checked it, the old pods stop, and for a while no target is healthy: 5xx. New
    targets take AWS's least time to turn healthy here (10 s, as in a rehearsal): the window
    without a healthy target is only as long as that."""
    sandbox = start_sandbox(tmp_path / "sandbox", "--target-healthy-seconds", "10")
    try:
        _rollouts_with_and_without_gates(sandbox)
    finally:
        stop_sandbox(sandbox)


def _rollouts_with_and_without_gates(sandbox: Sandbox) -> None:
    done = sandbox.cli("--yes", "run", "all")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    env, world = sandbox.env, sandbox.world
    # The metrics-server add-on of the runbook serves the Metrics API: the HPA reads CPU.
    hpa = json.loads(_kubectl(env, "-n", "flexdesk", "get", "hpa", "flexdesk-hpa", "-o", "json"))
    active = next(c for c in hpa["status"]["conditions"] if c["type"] == "ScalingActive")
    assert active["status"] == "True", active
    assert hpa["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"] > 0

    errors, gates = _rollout_5xx(env, world)
    assert gates and all(g == ["target-health.elbv2.k8s.aws/flexdesk-eks"] for g in gates)
    assert errors == 0

    _kubectl(env, "label", "namespace", "flexdesk", "elbv2.k8s.aws/pod-readiness-gate-inject-")
    errors, gates = _rollout_5xx(env, world)
    assert gates and not any(gates)
    assert errors > 0
