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
from tests.phases.rehearsed import as_json as _json
from tests.phases.rehearsed import changes as _changes
from tests.phases.rehearsed import image as _image
from tests.phases.rehearsed import load_balancer_5xx as _load_balancer_5xx
from tests.phases.rehearsed import requests as _requests
from tests.phases.rehearsed import weights as _weights

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


def test_weights_changed_behind_flexmigrates_back_are_drift_put_back_after_confirmation(
    rehearsed: Sandbox,
) -> None:
    sandbox = rehearsed
    elbv2: Any = sandbox.client("elbv2")
    arn = str(sandbox.world["https_listener_arn"])
    ec2_group = str(sandbox.world["ec2_target_group_arn"])
    recorded = _weights(sandbox)
    assert recorded[ec2_group] == 0  # the rehearsal ended with EKS at 100 %
    # someone moves 30 % back to EC2 in the console (or with the CLI)
    actions = elbv2.describe_listeners(ListenerArns=[arn])["Listeners"][0]["DefaultActions"]
    for action in actions:
        for group in (action.get("ForwardConfig") or {}).get("TargetGroups") or []:
            group["Weight"] = 30 if group["TargetGroupArn"] == ec2_group else 70
        action.pop("TargetGroupArn", None)
    elbv2.modify_listener(ListenerArn=arn, DefaultActions=actions)
    edited = _weights(sandbox)
    assert edited[ec2_group] == 30

    plan = sandbox.cli("--output", "json", "plan", "traffic-shift")
    assert plan.returncode == 0, plan.stderr[-3000:]
    (change,) = _changes(_json(plan), "traffic-shift")
    assert change["action"] == "update" and change["drift"] is True
    assert change["current"] == "EC2 30 % / EKS 70 %"
    assert change["desired"] == "EC2 0 % / EKS 100 %"
    assert "changed outside flexmigrate" in change["note"]
    text = sandbox.cli("plan", "traffic-shift")
    assert "EC2 30 % / EKS 70 %" in text.stdout and "drift" in text.stdout

    live = sandbox.cli("status", "--live")
    assert live.returncode == 0, live.stderr[-3000:]
    assert "DIFFERS: weights: AWS reports EC2 30 % / EKS 70 %" in live.stdout + live.stderr

    refused = sandbox.cli("run", "traffic-shift")  # no terminal to ask on, no --yes
    assert refused.returncode == 2, refused.stdout[-3000:] + refused.stderr[-3000:]
    assert "confirm with --yes" in refused.stderr
    assert _weights(sandbox) == edited  # nothing was changed

    run = sandbox.cli("--yes", "run", "traffic-shift")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert _weights(sandbox) == recorded
    again = sandbox.cli("--output", "json", "plan", "traffic-shift")
    assert again.returncode == 0 and _changes(_json(again), "traffic-shift") == []
    live = sandbox.cli("status", "--live")
    assert "DIFFERS" not in live.stdout + live.stderr

    # the restore is an update like any other: rollback --change returns the world to what it
    # found (the hand-made weights), which the next plan shows as drift again
    undone = sandbox.cli("rollback", "traffic-shift", "--change")
    assert undone.returncode == 0, undone.stdout[-3000:] + undone.stderr[-3000:]
    assert _weights(sandbox) == edited
    plan = sandbox.cli("--output", "json", "plan", "traffic-shift")
    assert [c["current"] for c in _changes(_json(plan), "traffic-shift")] == ["EC2 30 % / EKS 70 %"]
    run = sandbox.cli("--yes", "run", "traffic-shift")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert _weights(sandbox) == recorded
    status = _json(sandbox.cli("--output", "json", "status"))
    assert {p["id"]: p["status"] for p in status["phases"]}["phase-4"] == "completed"
    assert (status["traffic"]["ec2_percent"], status["traffic"]["eks_percent"]) == (0, 100)


def test_a_new_vpc_subnets_or_target_group_port_is_refused_and_nothing_changes(
    rehearsed: Sandbox, runbook_variant: Callable[..., Path]
) -> None:
    sandbox = rehearsed
    ec2: Any = sandbox.client("ec2")
    eks: Any = sandbox.client("eks")
    elbv2: Any = sandbox.client("elbv2")
    ec2.create_vpc(
        CidrBlock="10.99.0.0/16",
        TagSpecifications=[
            {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "flexdesk-vpc-2"}]}
        ],
    )
    config = eks.describe_cluster(name="flexdesk-cluster")["cluster"]["resourcesVpcConfig"]
    subnets = sorted(config["subnetIds"])
    in_vpc = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [config["vpcId"]]}])
    spare = sorted(s["SubnetId"] for s in in_vpc["Subnets"] if s["SubnetId"] not in subnets)[:2]
    assert len(spare) == 2  # the world's public subnets
    cases = [
        (
            {"cluster": {"vpc": {"tag": {"Name": "flexdesk-vpc-2"}}}},
            "cluster-foundation",
            "EKS cannot move a cluster to another VPC",
            f"put cluster.vpc back to the VPC {config['vpcId']}",
        ),
        (
            {"cluster": {"subnets": spare}},
            "cluster-foundation",
            "does not move a cluster's subnets in place",
            f"put cluster.subnets back to the cluster's subnets ({', '.join(subnets)})",
        ),
        (
            {"app": {"target_group": {"port": 8080}}},
            "app-deploy",
            "a target group's port cannot be changed in place",
            "put app.target_group.port back to 8000",
        ),
    ]
    for variant, phase, why, instead in cases:
        runbook = runbook_variant(variant)
        for args in (("plan", phase), ("--yes", "run", phase)):
            done = sandbox.cli(*args, runbook=runbook)
            assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
            assert "cannot be made in place; nothing was changed" in done.stderr
            assert why in done.stderr and instead in done.stderr, done.stderr[-2000:]
    config_after = eks.describe_cluster(name="flexdesk-cluster")["cluster"]["resourcesVpcConfig"]
    assert sorted(config_after["subnetIds"]) == subnets
    assert config_after["vpcId"] == config["vpcId"]
    group = elbv2.describe_target_groups(Names=["flexdesk-eks"])["TargetGroups"][0]
    assert group["Port"] == 8000
    status = _json(sandbox.cli("--output", "json", "status"))
    assert all(p["status"] == "completed" for p in status["phases"])


def test_a_pinned_add_on_version_is_updated_in_place_and_rolled_back(
    rehearsed: Sandbox, runbook_variant: Callable[..., Path]
) -> None:
    sandbox = rehearsed
    eks: Any = sandbox.client("eks")

    def version() -> str:
        addon = eks.describe_addon(clusterName="flexdesk-cluster", addonName="kube-proxy")
        return str(addon["addon"]["addonVersion"])

    default = version()
    assert default == "v1.35.4-eksbuild.3"  # EKS's default for 1.35, as the rehearsal made it
    unknown = runbook_variant({"cluster": {"addon_versions": {"kube-proxy": "v1.34.9-eksbuild.1"}}})
    refused = sandbox.cli("plan", "cluster-foundation", runbook=unknown)
    assert refused.returncode == 2, refused.stdout[-2000:] + refused.stderr[-2000:]
    assert "EKS lists no kube-proxy v1.34.9-eksbuild.1 for Kubernetes 1.35" in refused.stderr

    pinned = runbook_variant({"cluster": {"addon_versions": {"kube-proxy": "v1.35.2-eksbuild.6"}}})
    plan = sandbox.cli("--output", "json", "plan", "cluster-foundation", runbook=pinned)
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert [
        (c["action"], c["resource"], c["current"], c["desired"])
        for c in _changes(_json(plan), "cluster-foundation")
    ] == [("update", "add-on kube-proxy version", default, "v1.35.2-eksbuild.6")]
    assert version() == default  # a plan changes nothing

    run = sandbox.cli("run", "cluster-foundation", runbook=pinned)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert version() == "v1.35.2-eksbuild.6"
    addon = eks.describe_addon(clusterName="flexdesk-cluster", addonName="kube-proxy")["addon"]
    assert addon["status"] == "ACTIVE"
    again = sandbox.cli("--output", "json", "plan", "cluster-foundation", runbook=pinned)
    assert _changes(_json(again), "cluster-foundation") == []

    back = sandbox.cli("rollback", "cluster-foundation", "--change", runbook=pinned)
    assert back.returncode == 0, back.stdout[-3000:] + back.stderr[-3000:]
    assert version() == default
    status = _json(sandbox.cli("--output", "json", "status", runbook=pinned))
    assert {p["id"]: p["status"] for p in status["phases"]}["phase-1"] == "completed"
