"""Changing a migration that is done, as an operator does after `flexmigrate rehearse --keep`:
the runbook changes (a new image, a node group's size, the cluster's name) or the world is
changed behind flexmigrate's back (a listener weight), and `plan`, `run`, `status --live` and
`rollback --change` say and do what the runbook and the world call for.

One rehearsal for the module; the tests build on each other's end state, in order."""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flexmigrate.sandbox import manage
from tests.conftest import SANDBOX_RUNBOOK, Sandbox, run_cli

pytestmark = pytest.mark.timeout(900)  # a whole rehearsal first, under a loaded machine

NEW_IMAGE = "volttechafrica/flexdeskbackend:2026.11.2"
OLD_IMAGE = "volttechafrica/flexdeskbackend:2026.11.1"


@pytest.fixture(scope="module")
def rehearsed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A full rehearsal of the sandbox runbook (the base of ``runbook_variant``), its sandbox
    kept: five phases complete, EKS serving 100 %, state in the sandbox directory."""
    root = tmp_path_factory.mktemp("rehearsal")
    report = root / "rehearsal.json"
    done = run_cli(
        [
            *("--runbook", str(SANDBOX_RUNBOOK), "rehearse", "--keep"),
            *("--dir", str(root / "sandbox"), "--report", str(report)),
        ],
        env={"TMPDIR": str(root)},
        cwd=root,
        timeout=600,
    )
    document: dict[str, Any] = json.loads(report.read_text())
    directory = Path(str(document["summary"]["sandbox"]))
    try:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        world = json.loads((directory / "world.json").read_text())
        yield Sandbox(
            root=directory,
            env=manage.environment(directory),
            world=world,
            state_dir=directory / "state",
        )
    finally:
        manage.down(directory)


def _json(done: Any) -> Any:
    assert done.stdout.strip(), done.stderr[-2000:]
    return json.loads(done.stdout)


def _changes(plan: dict[str, Any], phase: str) -> list[dict[str, Any]]:
    found = next(p for p in plan["phases"] if p["id"] == phase or p["slug"] == phase)
    return [c for s in found["steps"] for c in s["changes"] if c["action"] != "no change"]


def _weights(sandbox: Sandbox) -> dict[str, int]:
    elbv2: Any = sandbox.client("elbv2")
    listener = elbv2.describe_listeners(ListenerArns=[sandbox.world["https_listener_arn"]])
    forward = next(a for a in listener["Listeners"][0]["DefaultActions"] if a["Type"] == "forward")
    return {g["TargetGroupArn"]: g["Weight"] for g in forward["ForwardConfig"]["TargetGroups"]}


def _image(sandbox: Sandbox) -> str:
    done = sandbox.kubectl("get", "deployment", "-n", "flexdesk", "-o", "json")
    assert done.returncode == 0, done.stderr
    items = json.loads(done.stdout)["items"]
    containers = items[0]["spec"]["template"]["spec"]["containers"]
    return str(containers[0]["image"])


def _load_balancer_5xx(sandbox: Sandbox, start: datetime.datetime) -> float:
    """Every 5xx the load balancer answered since ``start`` (its own and its targets')."""
    elbv2: Any = sandbox.client("elbv2")
    cloudwatch: Any = sandbox.client("cloudwatch")
    arn = elbv2.describe_load_balancers(Names=["flexdesk-alb"])["LoadBalancers"][0][
        "LoadBalancerArn"
    ]
    dimension = arn.split(":loadbalancer/", 1)[1]
    total = 0.0
    end = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=1)
    for metric in ("HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count"):
        answer = cloudwatch.get_metric_statistics(
            Namespace="AWS/ApplicationELB",
            MetricName=metric,
            Dimensions=[{"Name": "LoadBalancer", "Value": dimension}],
            StartTime=start,
            EndTime=end,
            Period=1,
            Statistics=["Sum"],
        )
        total += sum(p["Sum"] for p in answer["Datapoints"])
    return total


def _requests(sandbox: Sandbox, start: datetime.datetime) -> float:
    elbv2: Any = sandbox.client("elbv2")
    cloudwatch: Any = sandbox.client("cloudwatch")
    arn = elbv2.describe_load_balancers(Names=["flexdesk-alb"])["LoadBalancers"][0][
        "LoadBalancerArn"
    ]
    answer = cloudwatch.get_metric_statistics(
        Namespace="AWS/ApplicationELB",
        MetricName="RequestCount",
        Dimensions=[{"Name": "LoadBalancer", "Value": arn.split(":loadbalancer/", 1)[1]}],
        StartTime=start,
        EndTime=datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=1),
        Period=1,
        Statistics=["Sum"],
    )
    return float(sum(p["Sum"] for p in answer["Datapoints"]))


def test_a_new_image_is_planned_rolled_out_in_place_and_rolled_back(
    rehearsed: Sandbox, runbook_variant: Callable[..., Path]
) -> None:
    sandbox = rehearsed
    new = runbook_variant({"app": {"image": NEW_IMAGE}})
    weights = _weights(sandbox)

    plan = sandbox.cli("--output", "json", "plan", "app-deploy", runbook=new)
    assert plan.returncode == 0, plan.stderr[-3000:]
    changes = _changes(_json(plan), "app-deploy")
    assert len(changes) == 1, changes
    assert changes[0]["action"] == "update"
    assert OLD_IMAGE in changes[0]["current"] and changes[0]["desired"] == NEW_IMAGE
    assert "drift" not in changes[0]
    assert _image(sandbox) == OLD_IMAGE  # a plan changes nothing

    start = datetime.datetime.now(datetime.UTC)
    run = sandbox.cli("run", "app-deploy", runbook=new)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert _image(sandbox) == NEW_IMAGE
    assert _weights(sandbox) == weights  # EKS keeps its share throughout
    time.sleep(3)  # the simulator publishes a period once it has ended (plus its lag)
    assert _requests(sandbox, start) > 0
    assert _load_balancer_5xx(sandbox, start) == 0

    again = sandbox.cli("--output", "json", "plan", "app-deploy", runbook=new)
    assert again.returncode == 0 and _changes(_json(again), "app-deploy") == []

    back = sandbox.cli("rollback", "app-deploy", "--change", runbook=new)
    assert back.returncode == 0, back.stdout[-3000:] + back.stderr[-3000:]
    assert _image(sandbox) == OLD_IMAGE
    assert _weights(sandbox) == weights
    status = _json(sandbox.cli("--output", "json", "status", runbook=new))
    assert {p["id"]: p["status"] for p in status["phases"]}["phase-3"] == "completed"
    # the runbook still asks for the new image: the plan proposes it again
    plan = sandbox.cli("--output", "json", "plan", "app-deploy", runbook=new)
    assert [c["desired"] for c in _changes(_json(plan), "app-deploy")] == [NEW_IMAGE]


def test_a_new_cluster_name_is_refused_with_the_reason(
    rehearsed: Sandbox, runbook_variant: Callable[..., Path]
) -> None:
    sandbox = rehearsed
    renamed = runbook_variant({"cluster": {"name": "flexdesk-cluster-2"}})
    for args in (("plan", "cluster-foundation"), ("--yes", "run", "cluster-foundation")):
        done = sandbox.cli(*args, runbook=renamed)
        assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
        assert "EKS cannot rename a cluster" in done.stderr
        assert "put cluster.name back to flexdesk-cluster" in done.stderr
    eks: Any = sandbox.client("eks")
    assert eks.list_clusters()["clusters"] == ["flexdesk-cluster"]
    status = _json(sandbox.cli("--output", "json", "status", runbook=renamed))
    assert {p["id"]: p["status"] for p in status["phases"]}["phase-1"] == "completed"


def test_a_node_group_size_is_updated_in_place_and_rolled_back(
    rehearsed: Sandbox, runbook_variant: Callable[..., Path]
) -> None:
    sandbox = rehearsed
    eks: Any = sandbox.client("eks")
    groups = [
        {"name": "system", "instance_type": "t3.small", "min_size": 1, "desired_size": 1,
         "max_size": 3, "labels": {"workload": "system"}},
        {"name": "application", "instance_type": "t3.medium", "min_size": 1, "desired_size": 3,
         "max_size": 4, "labels": {"workload": "application"}},
        {"name": "monitoring", "instance_type": "t3.small", "min_size": 1, "desired_size": 1,
         "max_size": 2, "labels": {"workload": "monitoring"},
         "taints": [{"key": "workload", "value": "monitoring", "effect": "NO_SCHEDULE"}]},
    ]  # fmt: skip
    bigger = runbook_variant({"cluster": {"node_groups": groups}})
    plan = sandbox.cli("--output", "json", "plan", "cluster-foundation", runbook=bigger)
    changes = _changes(_json(plan), "cluster-foundation")
    assert [(c["resource"], c["current"], c["desired"]) for c in changes] == [
        ("node group application min/desired/max", "1/2/4", "1/3/4")
    ], changes
    arn = eks.describe_nodegroup(clusterName="flexdesk-cluster", nodegroupName="application")[
        "nodegroup"
    ]["nodegroupArn"]

    run = sandbox.cli("run", "cluster-foundation", runbook=bigger)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    group = eks.describe_nodegroup(clusterName="flexdesk-cluster", nodegroupName="application")
    assert group["nodegroup"]["scalingConfig"]["desiredSize"] == 3
    assert group["nodegroup"]["nodegroupArn"] == arn  # the same group, updated in place
    assert group["nodegroup"]["status"] == "ACTIVE"

    back = sandbox.cli("rollback", "cluster-foundation", "--change", runbook=bigger)
    assert back.returncode == 0, back.stdout[-3000:] + back.stderr[-3000:]
    group = eks.describe_nodegroup(clusterName="flexdesk-cluster", nodegroupName="application")
    assert group["nodegroup"]["scalingConfig"]["desiredSize"] == 2
