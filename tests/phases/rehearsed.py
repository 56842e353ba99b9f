"""What a user reads from a rehearsal kept with ``rehearse --keep``: the listener's weights,
the Deployment's image, the load balancer's requests and 5xx, the journal — through boto3,
kubectl and the state directory, as they would."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flexmigrate.sandbox import manage
from tests.conftest import Sandbox, run_cli


def rehearse(root: Path, runbook: Path, *extra: str) -> tuple[Any, Sandbox]:
    """``rehearse --keep`` of ``runbook`` in ``root`` (``extra``: faults); the finished
    process and the kept sandbox (stop it with ``manage.down(sandbox.root)``)."""
    directory = root / "sandbox"
    done = run_cli(
        [*("--runbook", str(runbook), "rehearse", "--keep", "--dir", str(directory)), *extra],
        env={"TMPDIR": str(root)},
        cwd=root,
        timeout=600,
    )
    if not (directory / "world.json").is_file():
        raise AssertionError(done.stdout[-3000:] + done.stderr[-3000:])
    world = json.loads((directory / "world.json").read_text())
    sandbox = Sandbox(
        root=directory,
        env=manage.environment(directory),
        world=world,
        state_dir=directory / "state",
    )
    return done, sandbox


def as_json(done: Any) -> Any:
    assert done.stdout.strip(), done.stderr[-2000:]
    return json.loads(done.stdout)


def changes(plan: dict[str, Any], phase: str) -> list[dict[str, Any]]:
    """A plan's changes of ``phase`` (id or slug) other than ``no change``."""
    found = next(p for p in plan["phases"] if p["id"] == phase or p["slug"] == phase)
    return [c for s in found["steps"] for c in s["changes"] if c["action"] != "no change"]


def weights(sandbox: Sandbox) -> dict[str, int]:
    """The HTTPS listener's forward weights by target group ARN, read from the ALB."""
    elbv2: Any = sandbox.client("elbv2")
    listener = elbv2.describe_listeners(ListenerArns=[sandbox.world["https_listener_arn"]])
    forward = next(a for a in listener["Listeners"][0]["DefaultActions"] if a["Type"] == "forward")
    return {g["TargetGroupArn"]: g["Weight"] for g in forward["ForwardConfig"]["TargetGroups"]}


def eks_percent(sandbox: Sandbox) -> int:
    """EKS's share of the listener, in percent, from the ALB."""
    found = weights(sandbox)
    ec2 = found.pop(str(sandbox.world["ec2_target_group_arn"]))
    eks = sum(found.values())
    return round(100 * eks / (ec2 + eks)) if ec2 + eks else 0


def image(sandbox: Sandbox) -> str:
    done = sandbox.kubectl("get", "deployment", "-n", "flexdesk", "-o", "json")
    assert done.returncode == 0, done.stderr
    items = json.loads(done.stdout)["items"]
    containers = items[0]["spec"]["template"]["spec"]["containers"]
    return str(containers[0]["image"])


def _load_balancer_sum(sandbox: Sandbox, metric: str, start: datetime.datetime) -> float:
    return sum(value for _, value in _load_balancer_points(sandbox, metric, start))


def eks_5xx_points(sandbox: Sandbox, start: datetime.datetime) -> list[tuple[str, str, float]]:
    """Each period since ``start`` with a 5xx that EKS answered or the load balancer answered
    itself: (metric, its time, how many). The EC2 side's own few 5xx (a real backend's
    baseline) are not EKS's and are left out."""
    group = target_group_dimension(sandbox, "flexdesk-eks")
    found = [
        ("HTTPCode_Target_5XX_Count", stamp.isoformat(), value)
        for stamp, value in _load_balancer_points(
            sandbox, "HTTPCode_Target_5XX_Count", start, target_group=group
        )
    ]
    found += [
        ("HTTPCode_ELB_5XX_Count", stamp.isoformat(), value)
        for stamp, value in _load_balancer_points(sandbox, "HTTPCode_ELB_5XX_Count", start)
    ]
    return sorted(point for point in found if point[2])


def eks_requests(sandbox: Sandbox, start: datetime.datetime) -> float:
    """Requests the load balancer sent to the EKS target group since ``start``."""
    group = target_group_dimension(sandbox, "flexdesk-eks")
    points = _load_balancer_points(sandbox, "RequestCount", start, target_group=group)
    return sum(value for _, value in points)


def target_group_dimension(sandbox: Sandbox, name: str) -> str:
    """A target group's CloudWatch dimension (``targetgroup/NAME/ID``)."""
    elbv2: Any = sandbox.client("elbv2")
    arn = str(elbv2.describe_target_groups(Names=[name])["TargetGroups"][0]["TargetGroupArn"])
    return "targetgroup/" + arn.split(":targetgroup/", 1)[1]


def _load_balancer_points(
    sandbox: Sandbox, metric: str, start: datetime.datetime, target_group: str | None = None
) -> list[tuple[datetime.datetime, float]]:
    elbv2: Any = sandbox.client("elbv2")
    cloudwatch: Any = sandbox.client("cloudwatch")
    arn = elbv2.describe_load_balancers(Names=["flexdesk-alb"])["LoadBalancers"][0][
        "LoadBalancerArn"
    ]
    dimensions = [{"Name": "LoadBalancer", "Value": arn.split(":loadbalancer/", 1)[1]}]
    if target_group:
        dimensions.append({"Name": "TargetGroup", "Value": target_group})
    answer = cloudwatch.get_metric_statistics(
        Namespace="AWS/ApplicationELB",
        MetricName=metric,
        Dimensions=dimensions,
        StartTime=start,
        EndTime=datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=1),
        Period=1,
        Statistics=["Sum"],
    )
    return [(p["Timestamp"], float(p["Sum"])) for p in answer["Datapoints"]]


def load_balancer_5xx(sandbox: Sandbox, start: datetime.datetime) -> float:
    """Every 5xx the load balancer answered since ``start`` (its own and its targets')."""
    return sum(
        _load_balancer_sum(sandbox, metric, start)
        for metric in ("HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count")
    )


def requests(sandbox: Sandbox, start: datetime.datetime) -> float:
    return _load_balancer_sum(sandbox, "RequestCount", start)


def journal(sandbox: Sandbox, runbook_name: str = "flexdesk-sandbox") -> Iterator[dict[str, Any]]:
    path = sandbox.state_dir / runbook_name / "journal.jsonl"
    for line in path.read_text().splitlines():
        if line.strip():
            yield json.loads(line)
