"""The sandbox's simulators through the running daemon, end to end: a TargetGroupBinding
makes healthy targets appear in the target group; weights 90/10 split the published metrics
90/10; `eks-5xx` puts an alarm on the EKS side in ALARM."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, Sandbox

DEMO = """
apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: example/web:1.0
          ports: [{name: http, containerPort: 8000}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: elbv2.k8s.aws/v1beta1
kind: TargetGroupBinding
metadata: {name: web, namespace: demo}
spec:
  serviceRef: {name: web, port: 80}
  targetGroupARN: TARGET_GROUP_ARN
  targetType: ip
"""


def _until(what: str, probe: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; last: {last}")


@pytest.fixture(scope="module")
def bound(module_sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A cluster, an ip target group on the HTTPS listener at weight 0, a path from the ALB's
    security group, and a TargetGroupBinding to a two-replica Service."""
    sb = module_sandbox
    world: dict[str, Any] = sb.world
    iam: Any = sb.client("iam")
    eks: Any = sb.client("eks")
    elbv2: Any = sb.client("elbv2")
    ec2: Any = sb.client("ec2")
    role = iam.create_role(
        RoleName="demo-cluster",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    eks.create_cluster(
        name="flexdesk-cluster",
        roleArn=role,
        resourcesVpcConfig={"subnetIds": list(world["private_subnet_ids"].values())},
    )
    _until(
        "cluster ACTIVE",
        lambda: eks.describe_cluster(name="flexdesk-cluster")["cluster"]["status"] == "ACTIVE",
    )
    cluster_sg = eks.describe_cluster(name="flexdesk-cluster")["cluster"]["resourcesVpcConfig"][
        "clusterSecurityGroupId"
    ]
    tg = elbv2.create_target_group(
        Name="demo-eks",
        Protocol="HTTP",
        Port=8000,
        VpcId=world["vpc_id"],
        TargetType="ip",
        HealthCheckPath="/api/v2/health",
    )["TargetGroups"][0]["TargetGroupArn"]
    ec2_tg = world["ec2_target_group_arn"]
    listener = world["https_listener_arn"]
    _forward(elbv2, listener, {ec2_tg: 100, tg: 0})
    ec2.authorize_security_group_ingress(
        GroupId=cluster_sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 8000,
                "ToPort": 8000,
                "UserIdGroupPairs": [{"GroupId": world["security_group_ids"]["flexdesk-alb"]}],
            }
        ],
    )
    manifests = tmp_path_factory.mktemp("demo")
    (manifests / "demo.yaml").write_text(DEMO.replace("TARGET_GROUP_ARN", tg))
    crds = sb.kubectl(
        "apply",
        "--server-side",
        "-f",
        str(REPO / "runbooks" / "lb-controller" / "sandbox" / "00-crds.yaml"),
    )
    assert crds.returncode == 0, crds.stderr
    applied = sb.kubectl("apply", "--server-side", "-f", str(manifests / "demo.yaml"))
    assert applied.returncode == 0, applied.stderr
    return {"tg": tg, "ec2_tg": ec2_tg, "listener": listener}


def _forward(elbv2: Any, listener: str, weights: dict[str, int]) -> None:
    elbv2.modify_listener(
        ListenerArn=listener,
        DefaultActions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [{"TargetGroupArn": a, "Weight": w} for a, w in weights.items()]
                },
            }
        ],
    )


def test_binding_makes_healthy_targets_appear(
    module_sandbox: Sandbox, bound: dict[str, str]
) -> None:
    elbv2: Any = module_sandbox.client("elbv2")

    def healthy() -> list[str]:
        found = elbv2.describe_target_health(TargetGroupArn=bound["tg"])["TargetHealthDescriptions"]
        ips = [d["Target"]["Id"] for d in found if d["TargetHealth"]["State"] == "healthy"]
        return ips if len(ips) == 2 else []

    ips = _until("two healthy targets", healthy)
    private = [ipaddress.ip_network(c) for c in ("10.0.16.0/20", "10.0.32.0/20")]
    assert all(any(ipaddress.ip_address(ip) in net for net in private) for ip in ips)
    pods = json.loads(module_sandbox.kubectl("get", "pods", "-n", "demo", "-o", "json").stdout)
    assert sorted(p["status"]["podIP"] for p in pods["items"]) == sorted(ips)


def _request_sum(cw: Any, tg_arn: str, lb_arn: str, since: dt.datetime) -> float:
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    dims = [
        {"Name": "LoadBalancer", "Value": lb_arn.split(":loadbalancer/", 1)[1]},
        {"Name": "TargetGroup", "Value": tg_arn.rsplit(":", 1)[1]},
    ]
    data = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "r",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/ApplicationELB",
                        "MetricName": "RequestCount",
                        "Dimensions": dims,
                    },
                    "Period": 1,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=since,
        EndTime=now,
    )
    return float(sum(data["MetricDataResults"][0]["Values"]))


def test_weights_90_10_split_the_metrics(module_sandbox: Sandbox, bound: dict[str, str]) -> None:
    elbv2: Any = module_sandbox.client("elbv2")
    cw: Any = module_sandbox.client("cloudwatch")
    _forward(elbv2, bound["listener"], {bound["ec2_tg"]: 90, bound["tg"]: 10})
    since = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    lb = str(module_sandbox.world["alb_arn"])

    def enough() -> tuple[float, float] | None:
        ec2 = _request_sum(cw, bound["ec2_tg"], lb, since)
        eks = _request_sum(cw, bound["tg"], lb, since)
        return (ec2, eks) if ec2 + eks >= 1000 else None

    ec2, eks = _until("1000 requests of metrics", enough, timeout=30)
    assert 0.08 <= eks / (ec2 + eks) <= 0.12


def test_eks_5xx_puts_the_eks_alarm_in_alarm(
    module_sandbox: Sandbox, bound: dict[str, str]
) -> None:
    cw: Any = module_sandbox.client("cloudwatch")
    lb = str(module_sandbox.world["alb_arn"])
    cw.put_metric_alarm(
        AlarmName="demo-eks-5xx",
        Namespace="AWS/ApplicationELB",
        MetricName="HTTPCode_Target_5XX_Count",
        Dimensions=[
            {"Name": "LoadBalancer", "Value": lb.split(":loadbalancer/", 1)[1]},
            {"Name": "TargetGroup", "Value": bound["tg"].rsplit(":", 1)[1]},
        ],
        Statistic="Sum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    state = lambda: cw.describe_alarms(AlarmNames=["demo-eks-5xx"])["MetricAlarms"][0]["StateValue"]  # noqa: E731
    _until("alarm OK", lambda: state() == "OK", timeout=20)
    module_sandbox.inject("eks-5xx=0.5@5")
    try:
        _until("alarm in ALARM", lambda: state() == "ALARM", timeout=40)
    finally:
        module_sandbox.inject(clear=True)


def test_sandbox_status_counts_requests(module_sandbox: Sandbox, bound: dict[str, str]) -> None:
    status = module_sandbox.status()
    requests: Any = status["aws_requests"]
    assert requests["requests"]["eks"]["CreateCluster"] == 1
    assert Path(str(status["dir"])).is_dir()
